"""Exceptions raised by the modelreg SDK.

Every failed call raises a subclass of ``ModelregError``; a raw ``grpc.RpcError``
never reaches the caller::

    ModelregError                 .code .details .reason .metadata .field_violations .request_id
     +-- InvalidArgumentError     INVALID_ARGUMENT (.field names the bad field)
     +-- NotFoundError            NOT_FOUND
     +-- AlreadyExistsError       ALREADY_EXISTS
     +-- ConflictError            ABORTED (stale etag, lost race)
     +-- FailedPreconditionError  FAILED_PRECONDITION (e.g. deleting an aliased version)
     +-- PermissionDeniedError    PERMISSION_DENIED
     +-- UnauthenticatedError     UNAUTHENTICATED
     +-- UnavailableError         UNAVAILABLE (after retries)
     +-- DeadlineExceededError    DEADLINE_EXCEEDED (after retries)
     +-- InternalError            INTERNAL
"""

from __future__ import annotations

from dataclasses import dataclass

import grpc
from google.rpc import error_details_pb2, status_pb2

_DETAILS_KEY = "grpc-status-details-bin"


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class ModelregError(Exception):
    """A call to the registry failed.

    Attributes:
        code: the gRPC status code.
        details: the server's human-readable message.
        reason: a stable machine-readable reason, e.g. ``STALE_ETAG``.
        metadata: extra key/values from the server's ErrorInfo.
        field_violations: the request fields that were rejected.
        request_id: for a mutation, the idempotency key it was sent with (every
            attempt sent the same one); None for reads. After an UnavailableError or
            DeadlineExceededError the mutation may or may not have landed: call again
            with ``request_id=err.request_id`` (every mutating method takes it) and
            the server returns the first result instead of applying it twice.
    """

    def __init__(
        self,
        code: grpc.StatusCode,
        details: str,
        *,
        reason: str = "",
        metadata: dict[str, str] | None = None,
        field_violations: tuple[FieldViolation, ...] = (),
        request_id: str | None = None,
    ) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.reason = reason
        self.metadata = metadata or {}
        self.field_violations = field_violations
        self.request_id = request_id

    @property
    def field(self) -> str | None:
        """The first rejected field, if the server named one."""
        return self.field_violations[0].field if self.field_violations else None


class InvalidArgumentError(ModelregError):
    """The request was malformed; ``field`` names what to fix."""


class NotFoundError(ModelregError):
    """The named resource does not exist."""


class AlreadyExistsError(ModelregError):
    """A resource with that name exists already."""


class ConflictError(ModelregError):
    """The resource changed under you (stale etag); read it again and retry."""


class FailedPreconditionError(ModelregError):
    """The resource is not in a state that allows the call."""


class PermissionDeniedError(ModelregError):
    """The caller may not do this."""


class UnauthenticatedError(ModelregError):
    """Missing or invalid credentials."""


class UnavailableError(ModelregError):
    """The server or its database could not be reached, even after retries."""


class DeadlineExceededError(ModelregError):
    """The call did not finish within its deadline."""


class InternalError(ModelregError):
    """The server failed unexpectedly; its log has the details."""


_BY_CODE: dict[grpc.StatusCode, type[ModelregError]] = {
    grpc.StatusCode.INVALID_ARGUMENT: InvalidArgumentError,
    grpc.StatusCode.OUT_OF_RANGE: InvalidArgumentError,
    grpc.StatusCode.NOT_FOUND: NotFoundError,
    grpc.StatusCode.ALREADY_EXISTS: AlreadyExistsError,
    grpc.StatusCode.ABORTED: ConflictError,
    grpc.StatusCode.FAILED_PRECONDITION: FailedPreconditionError,
    grpc.StatusCode.PERMISSION_DENIED: PermissionDeniedError,
    grpc.StatusCode.UNAUTHENTICATED: UnauthenticatedError,
    grpc.StatusCode.UNAVAILABLE: UnavailableError,
    grpc.StatusCode.DEADLINE_EXCEEDED: DeadlineExceededError,
    grpc.StatusCode.INTERNAL: InternalError,
}


def from_rpc_error(
    code: grpc.StatusCode,
    details: str,
    trailing: tuple[tuple[str, str | bytes], ...] | None,
    *,
    request_id: str | None = None,
) -> ModelregError:
    """Build the typed exception for a failed call, with the google.rpc details and
    the request_id the call was sent with (None for reads)."""
    reason = ""
    metadata: dict[str, str] = {}
    violations: list[FieldViolation] = []
    for key, value in trailing or ():
        if key != _DETAILS_KEY or not isinstance(value, bytes):
            continue
        status = status_pb2.Status.FromString(value)
        details = status.message or details
        for item in status.details:
            if item.Is(error_details_pb2.ErrorInfo.DESCRIPTOR):
                info = error_details_pb2.ErrorInfo()
                item.Unpack(info)
                reason, metadata = info.reason, dict(info.metadata)
            elif item.Is(error_details_pb2.BadRequest.DESCRIPTOR):
                bad = error_details_pb2.BadRequest()
                item.Unpack(bad)
                violations.extend(
                    FieldViolation(v.field, v.description) for v in bad.field_violations
                )
    cls = _BY_CODE.get(code, ModelregError)
    return cls(
        code,
        details or code.name,
        reason=reason,
        metadata=metadata,
        field_violations=tuple(violations),
        request_id=request_id,
    )
