"""The per-call pipeline: every method of the service table is registered here,
from its descriptor, and every call goes through the same steps::

    admission     generic handler's service(), before the request is read:
                  at most MODELREG_MAX_CONCURRENT_RPCS calls at once
    deserializer  on the raw bytes: the family's request size limit, then the
                  request memory quota, then the protobuf parse
    handler       the servicer method; domain errors and limits -> status
                  (transport/handlers.py, transport/errors.py)
    finish        a done callback on the call's task, so it runs however the call
                  ends (even if the handler never ran): releases the slot and the
                  bytes, records metrics, writes the call's log line
    drain         at SIGTERM (Pipeline.drain): every open stream of a streaming
                  method ends with UNAVAILABLE; unary calls run on

Requests above the largest limit times ``HARD_CAP_FACTOR`` are refused by gRPC
core from the message's length prefix, before it is buffered (its own
RESOURCE_EXHAUSTED message); the rest of the pipeline's refusals name their setting.

grpc.aio runs the deserializer and the handler inside the call's task, after
``service()``: the call's state travels in a context variable set there (each
task has its own context; transport/handlers.py). Everything runs on the event
loop's thread, so the counters need no lock. This replaces ``grpc.aio.ServerInterceptor``, whose
per-call dispatch costs about as much as a bare echo call's server side.
"""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from time import perf_counter
from typing import Any

import grpc
from google.protobuf.descriptor import MethodDescriptor, ServiceDescriptor
from google.protobuf.message import DecodeError
from google.protobuf.message_factory import GetMessageClass

from modelreg_server import metrics
from modelreg_server.config import MAX_REQUEST_BYTES_ENV, ConfigError
from modelreg_server.domain import errors
from modelreg_server.permissions import Rule
from modelreg_server.transport.auth import Authenticator, Guard
from modelreg_server.transport.errors import limit_status, to_status
from modelreg_server.transport.handlers import (
    CURRENT,
    OK,
    Call,
    Handler,
    Rejected,
    Rejection,
    end_drained,
    log_call,
    wrap,
)

# gRPC core reads messages up to this many times the largest family limit, so
# that a request somewhat over its limit is answered naming the setting; beyond
# that, core refuses it unread. The factor bounds what one call can buffer.
HARD_CAP_FACTOR = 2
MAX_CONCURRENT_RPCS_ENV = "MODELREG_MAX_CONCURRENT_RPCS"
REQUEST_MEMORY_QUOTA_ENV = "MODELREG_REQUEST_MEMORY_QUOTA"
# A call that received a request message this large hands free heap memory back
# at its end.
TRIM_AFTER_BYTES = 1024 * 1024
# The code recorded for a call whose request never reached the pipeline.
NOT_RECEIVED = "NOT_RECEIVED"

_KINDS = {  # (client streaming, server streaming) -> handler factory
    (False, False): grpc.unary_unary_rpc_method_handler,
    (False, True): grpc.unary_stream_rpc_method_handler,
    (True, False): grpc.stream_unary_rpc_method_handler,
    (True, True): grpc.stream_stream_rpc_method_handler,
}


def family(service: ServiceDescriptor) -> str:
    """``modelreg.api.v1.RegistryService`` -> ``registry``: the name in settings."""
    name = service.name
    return (name[: -len("Service")] if name.endswith("Service") else name).lower()


def limit_setting(family_name: str) -> str:
    return f"{MAX_REQUEST_BYTES_ENV}{family_name.upper()}"


@dataclass(frozen=True)
class Limits:
    max_concurrent_rpcs: int
    request_memory_quota: int
    # family -> bytes, from settings; each must name a family of the table.
    max_request_bytes: Mapping[str, int]


def _libc_malloc_trim() -> Callable[[int], int] | None:
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
        trim: Callable[[int], int] = libc.malloc_trim
    except (OSError, AttributeError):  # not glibc
        return None
    return trim


_malloc_trim = _libc_malloc_trim()


class _Method:
    """One RPC, resolved once at startup: its handlers, its limit, and its metric
    children (the code is known only at the end, so they are cached by code)."""

    def __init__(
        self,
        pipeline: Pipeline,
        method: MethodDescriptor,
        behavior: Handler,
        rule: Rule | None,
    ) -> None:
        service = method.containing_service
        self.path = f"/{service.full_name}/{method.name}"
        self.label = f"{service.name}/{method.name}"
        self.guard = Guard(
            pipeline.auth, self.label, rule, method.input_type, method.client_streaming
        )
        self.limit_name = limit_setting(family(service))
        self.limit = pipeline.limit_of(family(service))
        self.has_request_id = "request_id" in method.input_type.fields_by_name
        self.type_name = method.input_type.full_name
        self._parse = GetMessageClass(method.input_type).FromString
        self._reserve = pipeline.reserve
        serialize = GetMessageClass(method.output_type).SerializeToString
        kind = (method.client_streaming, method.server_streaming)
        self.streaming = method.client_streaming or method.server_streaming
        self.handler = _KINDS[kind](
            wrap(behavior, method.client_streaming),
            request_deserializer=self.deserialize,
            response_serializer=serialize,
        )
        # A refused call is answered without reading its request: grpc calls a
        # request-streaming handler before any message has arrived.
        self.refusal = _KINDS[True, method.server_streaming](
            wrap(pipeline.refuse, True),
            request_deserializer=self.deserialize,
            response_serializer=serialize,
        )
        self.in_flight = metrics.RPC_IN_FLIGHT.labels(self.label)
        self._children: dict[str, tuple[Any, Any]] = {}
        # Every method's OK series exists from the start (at 0), and in multiprocess
        # mode the metric files exist before the first scrape: prometheus_client
        # fails a scrape that reads a file while it is being created.
        self.record(OK, None)

    def deserialize(self, data: bytes) -> Any:
        size = len(data)
        call = CURRENT.get()
        if call is not None and size > call.largest:
            call.largest = size
        if size > self.limit:
            message = f"request of {size} bytes exceeds {self.limit_name} ({self.limit})"
            status = limit_status("REQUEST_TOO_LARGE", message, self.limit_name, self.limit)
            return Rejected(Rejection(status, grpc.StatusCode.RESOURCE_EXHAUSTED))
        if call is not None:
            refused = self._reserve(call, size)
            if refused is not None:
                return Rejected(refused)
        try:
            return self._parse(data)
        except DecodeError:
            exc = errors.InvalidArgument(
                "request",
                f"{size} bytes that do not parse as a {self.type_name} message",
                reason="UNDECODABLE_REQUEST",
            )
            return Rejected(Rejection(to_status(exc), grpc.StatusCode.INVALID_ARGUMENT))

    def record(self, code: str, seconds: float | None) -> None:
        """Count a call that took ``seconds`` (None: only make the series)."""
        children = self._children.get(code)
        if children is None:
            children = (
                metrics.RPC_CALLS.labels(self.label, code),
                metrics.RPC_DURATION.labels(self.label, code),
            )
            self._children[code] = children
        if seconds is not None:
            children[0].inc()
            children[1].observe(seconds)


class Pipeline:
    """The calls of one server process: admission, the memory quota, and what
    every call records when it ends (metrics, one log line)."""

    def __init__(
        self, limits: Limits, defaults: Mapping[str, int], auth: Authenticator | None = None
    ) -> None:
        # Without one, no call needs a key (the permission table still must be complete).
        self.auth = auth or Authenticator(None, enabled=False)
        unknown = sorted(set(limits.max_request_bytes) - set(defaults))
        if unknown:
            raise ConfigError(
                f"{', '.join(limit_setting(f) for f in unknown)}: no such service family "
                f"(families: {', '.join(sorted(defaults))})"
            )
        self._limits = {**defaults, **limits.max_request_bytes}
        self._max_calls = limits.max_concurrent_rpcs
        self._quota = limits.request_memory_quota
        for name, limit in sorted(self._limits.items()):
            if limit > self._quota:
                raise ConfigError(
                    f"{limit_setting(name)} ({limit}) is larger than {REQUEST_MEMORY_QUOTA_ENV} "
                    f"({self._quota}): no such request could ever be admitted"
                )
        self._too_many = limit_status(
            "TOO_MANY_CONCURRENT_RPCS",
            f"more than {MAX_CONCURRENT_RPCS_ENV} ({self._max_calls}) calls at once; retry later",
            MAX_CONCURRENT_RPCS_ENV,
            self._max_calls,
        )
        self._hard_cap = HARD_CAP_FACTOR * max(self._limits.values())
        self._methods: dict[str, _Method] = {}
        self.in_flight = 0
        self.reserved_bytes = 0
        # Calls of streaming methods in progress, which the drain ends.
        self._streams: dict[Call, asyncio.Task[Any]] = {}
        self._trimming = False

    @property
    def max_receive_bytes(self) -> int:
        """For gRPC core's max_receive_message_length."""
        return self._hard_cap

    def limit_of(self, family_name: str) -> int:
        return self._limits[family_name]

    def add(
        self, service: ServiceDescriptor, servicer: Any, rules: Mapping[str, Rule] | None = None
    ) -> None:
        """Serve ``service``'s methods; ``rules``: the permission of each (a method
        without one is refused to every caller, PERMISSION_DENIED)."""
        rules = rules or {}
        unknown = sorted(set(rules) - set(service.methods_by_name))
        if unknown:
            raise ValueError(f"{service.full_name}: permission rules for no method: {unknown}")
        for method in service.methods:
            m = _Method(self, method, getattr(servicer, method.name), rules.get(method.name))
            self._methods[m.path] = m

    def generic_handler(self) -> grpc.GenericRpcHandler:
        return _Handlers(self._methods, self.admit)

    def admit(self, method: _Method) -> grpc.RpcMethodHandler:
        """In grpc.aio's task of the call, before its request is read."""
        task = asyncio.current_task()
        if task is None:  # pragma: no cover - grpc.aio always calls from the call's task
            return method.handler
        call = Call(method)
        CURRENT.set(call)
        task.add_done_callback(lambda t: self._finish(method, call, t))
        if self.in_flight >= self._max_calls:
            return method.refusal
        call.admitted = True
        self.in_flight += 1
        method.in_flight.inc()
        if method.streaming:
            self._streams[call] = task
        return method.handler

    async def drain(self) -> int:
        """End every open stream now (the server is shutting down): each ends with
        UNAVAILABLE, so its client reconnects elsewhere; unary calls run on. Returns
        how many streams were ended."""
        streams, self._streams = self._streams, {}
        await asyncio.gather(*(end_drained(call, task) for call, task in streams.items()))
        return len(streams)

    def _trim(self) -> None:
        """After a large request, once no other large one is held: give the heap's
        free memory back to the system, which glibc keeps otherwise (bench/calls_bench.py,
        3.9 MB burst: RSS 5 s on 147 MB -> 92 MB), in a thread, so that the event loop
        does not wait for it."""
        if _malloc_trim is not None and not self._trimming:
            self._trimming = True
            future = asyncio.get_running_loop().run_in_executor(None, _malloc_trim, 0)
            future.add_done_callback(self._trimmed)

    def _trimmed(self, future: asyncio.Future[Any]) -> None:
        self._trimming = False

    async def refuse(self, requests: Any, context: grpc.aio.ServicerContext) -> None:
        # A new exception each time: a raised instance keeps its traceback.
        raise Rejection(self._too_many, grpc.StatusCode.RESOURCE_EXHAUSTED)

    def reserve(self, call: Call, size: int) -> Rejection | None:
        """Hold ``size`` request bytes for ``call`` until it ends, or refuse. A
        request stream holds one message's bytes at a time: the last one read."""
        self.reserved_bytes -= call.reserved
        call.reserved = 0
        if self.reserved_bytes + size > self._quota:
            message = (
                f"request of {size} bytes does not fit in {REQUEST_MEMORY_QUOTA_ENV} "
                f"({self._quota}; {self.reserved_bytes} in use)"
            )
            status = limit_status(
                "MEMORY_QUOTA_EXCEEDED", message, REQUEST_MEMORY_QUOTA_ENV, self._quota
            )
            return Rejection(status, grpc.StatusCode.RESOURCE_EXHAUSTED)
        self.reserved_bytes += size
        call.reserved = size
        return None

    def _finish(self, method: _Method, call: Call, task: asyncio.Task[Any]) -> None:
        self._streams.pop(call, None)
        if call.admitted:
            self.in_flight -= 1
            method.in_flight.dec()
        self.reserved_bytes -= call.reserved
        if call.largest >= TRIM_AFTER_BYTES > self.reserved_bytes:
            self._trim()
        call.reserved = 0
        seconds = perf_counter() - call.start
        code = call.code
        if code is None and (task.cancelled() or call.handled):
            code = "CANCELLED"
        elif code is None:
            # The request never reached the handler: gRPC core refused it as larger
            # than the hard cap (its own RESOURCE_EXHAUSTED), or the client left.
            code = NOT_RECEIVED
            call.message = f"request not received (over {self._hard_cap} bytes, or abandoned)"
        method.record(code, seconds)
        log_call(call, code, seconds)
        call.exc = None  # its traceback holds the failed call's frames


class _Handlers(grpc.GenericRpcHandler):  # type: ignore[misc]
    def __init__(
        self, methods: Mapping[str, _Method], admit: Callable[[_Method], grpc.RpcMethodHandler]
    ) -> None:
        self._methods = methods
        self._admit = admit

    def service(self, details: grpc.HandlerCallDetails) -> grpc.RpcMethodHandler | None:
        method = self._methods.get(details.method)
        return None if method is None else self._admit(method)
