"""Domain errors -> gRPC status with google.rpc details, in one table.

``map_errors`` wraps every handler of a service, unary or streaming: a
``RegistryError`` becomes its status code with ErrorInfo (and BadRequest for
invalid input); anything else is logged with its traceback and becomes INTERNAL
without leaking details."""

from __future__ import annotations

import inspect
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any, NoReturn, TypeVar

import grpc
from google.protobuf import any_pb2
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from modelreg_server.domain import errors

log = logging.getLogger(__name__)
DOMAIN = "modelreg.dev"
T = TypeVar("T")

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
    code = next(
        (c for cls, c in STATUS_OF.items() if isinstance(exc, cls)), grpc.StatusCode.INTERNAL
    )
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


Handler = Callable[[Any, grpc.aio.ServicerContext], Any]


async def _abort(context: grpc.aio.ServicerContext, exc: Exception, method: str) -> NoReturn:
    if isinstance(exc, errors.RegistryError):
        await context.abort_with_status(to_status(exc))
    log.exception("unhandled error in %s", method, exc_info=exc)
    await context.abort_with_status(internal_status())
    raise AssertionError("abort_with_status returns only by raising")  # pragma: no cover


def _wrap_call(behavior: Handler, method: str) -> Handler:
    """For handlers that return their response (unary, client-streaming, and
    server-streaming ones that write with ``context.write``)."""

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        try:
            return await behavior(request, context)
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return wrapped


def _wrap_stream(behavior: Handler, method: str) -> Handler:
    """For server-streaming handlers written as async generators: the wrapper is
    one too, so grpc still streams what it yields, and an error raised between
    two messages ends the stream with that error's status."""

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        try:
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            raise
        except Exception as exc:
            await _abort(context, exc, method)

    return wrapped


def wrap(behavior: Handler, method: MethodDescriptor) -> Handler:
    """The error mapping for one handler, chosen by the method's descriptor."""
    name = f"/{method.containing_service.full_name}/{method.name}"
    if method.server_streaming and inspect.isasyncgenfunction(behavior):
        return _wrap_stream(behavior, name)
    return _wrap_call(behavior, name)


def map_errors(servicer: T, service: ServiceDescriptor) -> T:
    """Wrap every RPC method of ``servicer`` in the error mapping, once, at startup.

    This is the server's error interceptor. It is applied to the handlers
    themselves rather than through ``grpc.aio.ServerInterceptor``, whose
    per-call dispatch costs about as much as a bare echo call's server side.
    """
    for method in service.methods:
        setattr(servicer, method.name, wrap(getattr(servicer, method.name), method))
    return servicer
