"""Domain errors -> gRPC status with google.rpc details, in one table.

A ``RegistryError`` becomes its status code with ErrorInfo (and BadRequest for
invalid input); anything else becomes INTERNAL without leaking details. A limit of
the server (transport/calls.py) is RESOURCE_EXHAUSTED with ErrorInfo naming the
setting. The per-call pipeline applies these to every handler."""

from __future__ import annotations

from typing import Any

import grpc
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from modelreg_server.domain import errors

DOMAIN = "modelreg.dev"

STATUS_OF: dict[type[errors.RegistryError], grpc.StatusCode] = {
    errors.InvalidArgument: grpc.StatusCode.INVALID_ARGUMENT,
    errors.NotFound: grpc.StatusCode.NOT_FOUND,
    errors.AlreadyExists: grpc.StatusCode.ALREADY_EXISTS,
    errors.FailedPrecondition: grpc.StatusCode.FAILED_PRECONDITION,
    errors.Aborted: grpc.StatusCode.ABORTED,
    errors.PermissionDenied: grpc.StatusCode.PERMISSION_DENIED,
    errors.Unauthenticated: grpc.StatusCode.UNAUTHENTICATED,
    errors.Unavailable: grpc.StatusCode.UNAVAILABLE,
}


def _pack(message: Any) -> any_pb2.Any:
    packed = any_pb2.Any()
    packed.Pack(message)
    return packed


def to_status(exc: errors.RegistryError) -> grpc.Status:
    code = status_code(exc)
    details = [
        _pack(error_details_pb2.ErrorInfo(reason=exc.reason, domain=DOMAIN, metadata=exc.metadata))
    ]
    if isinstance(exc, errors.InvalidArgument):
        details.append(
            _pack(
                error_details_pb2.BadRequest(
                    field_violations=[
                        error_details_pb2.BadRequest.FieldViolation(
                            field=v.field, description=v.description
                        )
                        for v in exc.violations
                    ]
                )
            )
        )
    status = status_pb2.Status(code=code.value[0], message=exc.message, details=details)
    return rpc_status.to_status(status)


def internal_status() -> grpc.Status:
    return rpc_status.to_status(
        status_pb2.Status(code=code_pb2.INTERNAL, message="internal error; see the server log")
    )


def status_code(exc: errors.RegistryError) -> grpc.StatusCode:
    return next(
        (c for cls, c in STATUS_OF.items() if isinstance(exc, cls)), grpc.StatusCode.INTERNAL
    )


def limit_status(reason: str, message: str, limit: str, value: int) -> grpc.Status:
    """RESOURCE_EXHAUSTED for a limit of the server; ``limit`` names its setting."""
    info = error_details_pb2.ErrorInfo(
        reason=reason, domain=DOMAIN, metadata={"limit": limit, "value": str(value)}
    )
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[_pack(info)]
    )
    return rpc_status.to_status(status)
