"""SDK pieces that need no server: actor checks, backoff bounds, error mapping."""

from __future__ import annotations

import grpc
import pytest
from google.protobuf import any_pb2
from google.rpc import error_details_pb2, status_pb2

import modelreg
from modelreg._errors import from_rpc_error
from modelreg._settings import RetryPolicy, check_actor


def test_actor_must_fit_in_grpc_metadata() -> None:
    assert check_actor("ci-bot") == "ci-bot"
    for bad in ("", "a\x00b", "naïve", "x" * 257):
        with pytest.raises(ValueError, match="actor"):
            modelreg.Client("127.0.0.1:1", actor=bad)


def test_backoff_grows_and_is_capped() -> None:
    policy = RetryPolicy(initial_backoff_s=0.1, max_backoff_s=1.0, multiplier=2.0)
    for attempt in range(10):
        ceiling = min(1.0, 0.1 * 2.0**attempt)
        for _ in range(20):
            assert ceiling / 2 <= policy.backoff(attempt) <= ceiling


def _packed(message: object) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)  # type: ignore[arg-type]
    return packed


def test_status_details_become_a_typed_error_naming_the_field() -> None:
    status = status_pb2.Status(
        code=3,
        message="model_version.artifact.uri: required",
        details=[
            _packed(error_details_pb2.ErrorInfo(reason="INVALID_ARGUMENT", domain="modelreg.dev")),
            _packed(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field="model_version.artifact.uri", description="required"
                        )
                    ]
                )
            ),
        ],
    )
    trailing = (("grpc-status-details-bin", status.SerializeToString()),)
    err = from_rpc_error(grpc.StatusCode.INVALID_ARGUMENT, "ignored", trailing)
    assert isinstance(err, modelreg.InvalidArgumentError)
    assert err.field == "model_version.artifact.uri"
    assert err.reason == "INVALID_ARGUMENT"
    assert err.details == "model_version.artifact.uri: required"


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (grpc.StatusCode.NOT_FOUND, modelreg.NotFoundError),
        (grpc.StatusCode.ALREADY_EXISTS, modelreg.AlreadyExistsError),
        (grpc.StatusCode.ABORTED, modelreg.ConflictError),
        (grpc.StatusCode.PERMISSION_DENIED, modelreg.PermissionDeniedError),
        (grpc.StatusCode.UNAUTHENTICATED, modelreg.UnauthenticatedError),
        (grpc.StatusCode.UNAVAILABLE, modelreg.UnavailableError),
        (grpc.StatusCode.RESOURCE_EXHAUSTED, modelreg.ModelregError),
    ],
)
def test_every_code_maps_under_modelreg_error(
    code: grpc.StatusCode, cls: type[modelreg.ModelregError]
) -> None:
    err = from_rpc_error(code, "boom", None)
    assert type(err) is cls
    assert isinstance(err, modelreg.ModelregError)
    assert (err.code, err.details, err.field) == (code, "boom", None)
