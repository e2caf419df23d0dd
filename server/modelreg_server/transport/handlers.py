"""The servicer side of the per-call pipeline (transport/calls.py): each call's
state, the wrappers that map what a servicer method raises (domain errors, the
pipeline's refusals, bugs) to the call's status, and the call's one log line.

A call's state travels in a context variable: grpc.aio runs ``service()``, the
request deserializer and the handler in the call's own task, whose context is
its own."""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import logging
from collections.abc import AsyncIterator, Callable
from time import perf_counter
from typing import Any, Protocol

import grpc
from google.rpc import code_pb2, status_pb2
from grpc_status import rpc_status

from modelreg_server.domain import errors
from modelreg_server.domain.access import Principal
from modelreg_server.transport.errors import internal_status, status_code, to_status

log = logging.getLogger("modelreg_server.calls")
OK = "OK"

Handler = Callable[[Any, grpc.aio.ServicerContext], Any]


class MethodInfo(Protocol):
    label: str  # Service/Method
    has_request_id: bool
    # Authentication, authorization, rate limit (transport/auth.Guard); None: none.
    guard: Any


class Rejection(Exception):
    """A refusal decided by the pipeline: the call ends with ``status``."""

    def __init__(self, status: grpc.Status, code: grpc.StatusCode) -> None:
        super().__init__(status.details)
        self.status = status
        self.code = code


class Rejected:
    """What the deserializer returns instead of a message it refuses; the
    handler wrapper turns it into the call's status without calling the servicer."""

    __slots__ = ("rejection",)

    def __init__(self, rejection: Rejection) -> None:
        self.rejection = rejection


class Call:
    """One call's state, from admission to finish."""

    __slots__ = (
        "admitted", "code", "context", "drained", "exc", "handled", "largest", "message",
        "method", "peer", "principal", "request_id", "reserved", "start",
    )  # fmt: skip

    def __init__(self, method: MethodInfo) -> None:
        self.method = method
        self.start = perf_counter()
        self.admitted = False
        self.code: str | None = None
        self.message = ""
        self.exc: BaseException | None = None
        self.reserved = 0
        self.largest = 0  # bytes of the largest request message received
        self.handled = False  # the servicer method was called
        self.request_id = ""
        self.peer = ""
        self.drained = False  # a stream ended by the server's drain (Pipeline.drain)
        self.context: grpc.aio.ServicerContext | None = None  # streams only
        # The caller's API key, once authentication accepted it (transport/auth.py).
        self.principal: Principal | None = None


CURRENT: contextvars.ContextVar[Call | None] = contextvars.ContextVar("modelreg_call", default=None)


def wrap(behavior: Handler, client_streaming: bool) -> Handler:
    """The error mapping and bookkeeping around one servicer method."""
    if inspect.isasyncgenfunction(behavior):
        return _wrap_stream(behavior, client_streaming)
    return _wrap_call(behavior, client_streaming)


async def _checked(requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
    """A request stream that ends the call with the refusal of a message."""
    async for request in requests:
        if type(request) is Rejected:
            raise request.rejection
        yield request


def _wrap_call(behavior: Handler, client_streaming: bool) -> Handler:
    """For handlers that return their response (unary, client-streaming, and
    server-streaming ones that write with ``context.write``)."""

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> Any:
        call = CURRENT.get()
        try:
            request = _admitted(call, request, context, client_streaming)
            if call is not None and call.method.guard is not None:
                request = await call.method.guard(call, request, context)
            response = await behavior(request, context)
        except grpc.aio.AbortError:
            _aborted(call, context)
            raise
        except Exception as exc:
            status = _failed(call, context, exc)
        else:
            if call is not None:
                call.code = OK
            return response
        # Aborted outside the except clause and without the request: the abort's
        # exception is kept in a reference cycle until a full garbage collection,
        # and must not keep the request (or the failed one, as its context) alive.
        del request
        await context.abort_with_status(status)

    return wrapped


def _wrap_stream(behavior: Handler, client_streaming: bool) -> Handler:
    """For server-streaming handlers written as async generators: the wrapper is
    one too, so grpc still streams what it yields, and an error raised between
    two messages ends the stream with that error's status."""

    async def wrapped(request: Any, context: grpc.aio.ServicerContext) -> AsyncIterator[Any]:
        call = CURRENT.get()
        try:
            request = _admitted(call, request, context, client_streaming)
            if call is not None and call.method.guard is not None:
                request = await call.method.guard(call, request, context)
            async for response in behavior(request, context):
                yield response
        except grpc.aio.AbortError:
            _aborted(call, context)
            raise
        except Exception as exc:
            status = _failed(call, context, exc)
        else:
            if call is not None:
                call.code = OK
            return
        del request  # as in _wrap_call
        await context.abort_with_status(status)

    return wrapped


def _admitted(
    call: Call | None, request: Any, context: grpc.aio.ServicerContext, client_streaming: bool
) -> Any:
    """The request the servicer gets, after the deserializer's verdict."""
    if client_streaming:
        request = _checked(request)
    elif type(request) is Rejected:
        raise request.rejection
    if call is not None:
        call.handled = True
        call.context = context
        if call.method.has_request_id and not client_streaming:
            call.request_id = request.request_id
        if log.isEnabledFor(logging.DEBUG):
            call.peer = context.peer()
    return request


DRAINING_MESSAGE = "the server is shutting down; call again (another server will answer)"


async def end_drained(call: Call, task: asyncio.Task[Any]) -> None:
    """End a stream because the server drains: its status, UNAVAILABLE (which clients
    retry elsewhere), is sent from here, then its task is cancelled. The status goes
    first because a cancellation that lands inside grpc rather than in the servicer
    ends the task without one, leaving the client waiting for its deadline."""
    call.drained = True
    call.code = grpc.StatusCode.UNAVAILABLE.name
    call.message = DRAINING_MESSAGE
    status = rpc_status.to_status(
        status_pb2.Status(code=code_pb2.UNAVAILABLE, message=DRAINING_MESSAGE)
    )
    try:
        if call.context is not None:
            await call.context.abort_with_status(status)
    except grpc.aio.AbortError:
        pass  # abort raises by design, here in the drain's task
    except Exception:  # the call ended meanwhile (grpc refuses a second status)
        log.debug("drain: %s had already ended", call.method.label, exc_info=True)
    finally:
        task.cancel()


def _aborted(call: Call | None, context: grpc.aio.ServicerContext) -> None:
    """The servicer aborted the call itself."""
    if call is not None and call.code is None:
        code = context.code()
        call.code = code.name if isinstance(code, grpc.StatusCode) else "UNKNOWN"
        call.message = context.details() or ""


def _failed(call: Call | None, context: grpc.aio.ServicerContext, exc: Exception) -> grpc.Status:
    """The status that ends a call that raised ``exc``."""
    if isinstance(exc, Rejection):
        status, code = exc.status, exc.code
    elif isinstance(exc, errors.RegistryError):
        status, code = to_status(exc), status_code(exc)
    else:
        status, code = internal_status(), grpc.StatusCode.INTERNAL
    if call is not None:
        call.code = code.name
        call.peer = context.peer()
        if code is grpc.StatusCode.INTERNAL:
            call.exc = exc
            call.message = f"unhandled {type(exc).__name__}"
        else:
            call.message = status.details
    elif code is grpc.StatusCode.INTERNAL:
        log.error("unhandled error", exc_info=exc)
    return status


def log_call(call: Call, code: str, seconds: float) -> None:
    """One line per call: DEBUG if it succeeded, WARNING if it failed, ERROR with
    the traceback if it failed on a bug (INTERNAL)."""
    if code == OK:
        level = logging.DEBUG
    elif code == "INTERNAL":
        level = logging.ERROR
    else:
        level = logging.WARNING
    if not log.isEnabledFor(level):
        return
    method = call.method
    ms = round(seconds * 1000, 3)
    request_id = call.request_id
    log.log(
        level,
        "%s %s %.1f ms%s%s",
        method.label,
        code,
        ms,
        f" request_id={request_id}" if request_id else "",
        f": {call.message}" if call.message else "",
        exc_info=call.exc,
        extra={
            "method": method.label,
            "code": code,
            "duration_ms": ms,
            "request_id": request_id,
            "peer": call.peer,
        },
    )
