"""The one call helper every family goes through: deadline, retries, errors, pages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import grpc

from modelreg._batching import AsyncFlusher
from modelreg._errors import from_rpc_error
from modelreg._settings import RetryPolicy
from modelreg._transport import async_sleep

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

# The services of the API, by the name their stubs are kept under.
REGISTRY = "RegistryService"
TRACKING = "TrackingService"
PRODUCTION = "ProductionService"
LINEAGE = "LineageService"
ACCESS = "AccessService"
# Only mutations record who made them; reads carry only the API key, if any.
_READS = ("Get", "List", "Compare", "Rank")
# Worth another attempt: the server or its database was unreachable, the attempt
# outlived its deadline (a stalled connection, a database restart in progress), or
# the server cancelled it (a call that reaches a server just as it shuts down is
# cancelled by gRPC before the server sees it; the SDK never cancels its own calls
# with a status: an interrupted caller gets its own exception).
_RETRIED = (
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.CANCELLED,
)


class AsyncRPC:
    """Calls methods of the generated stubs by service and method name.

    Each attempt has a fresh deadline, the client's ``timeout`` (less if the retry
    budget has less left). UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED are retried with the
    same request object, so a mutation keeps its request_id, until the policy's
    budget or attempts are spent; any other failure, or the last retried one, raises
    the ``ModelregError`` for its status code, with the mutation's ``request_id``.
    """

    def __init__(
        self,
        stubs: Mapping[str, Any],
        *,
        timeout: float,
        retry: RetryPolicy,
        metadata: Metadata,
        read_metadata: Metadata = (),
    ) -> None:
        # One stub per service, all on the client's one channel: {REGISTRY: ..., TRACKING: ...}.
        self.stubs = dict(stubs)
        self._timeout = timeout
        self._retry = retry
        self._metadata = metadata
        self._read_metadata = read_metadata or None
        # Schedules the background flushes of the client's active runs.
        self.flusher = AsyncFlusher()

    async def call(self, method: str, request: Any, *, service: str = REGISTRY) -> Any:
        """Call ``service``'s ``method``, retrying UNAVAILABLE, DEADLINE_EXCEEDED and
        CANCELLED within the budget; failures raise ModelregError."""
        fn = getattr(self.stubs[service], method)
        read = method.startswith(_READS)
        metadata = self._read_metadata if read else self._metadata
        give_up_at = time.monotonic() + self._retry.total_timeout_s
        attempt = 1
        while True:
            left = give_up_at - time.monotonic()
            try:
                timeout = max(0.001, min(self._timeout, left))
                return await fn(request, timeout=timeout, metadata=metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                pause = self._retry.backoff(attempt - 1)
                if (
                    code in _RETRIED
                    and self._retry.may_retry(attempt)
                    and time.monotonic() + pause < give_up_at
                ):
                    await async_sleep(pause)
                    attempt += 1
                    continue
                request_id = None if read else (getattr(request, "request_id", "") or None)
                raise from_rpc_error(
                    code, exc.details(), exc.trailing_metadata(), request_id=request_id
                ) from None

    async def pages(
        self,
        method: str,
        request: Any,
        field: str,
        convert: Callable[[Any], T],
        *,
        service: str = REGISTRY,
    ) -> AsyncIterator[T]:
        """Every item of ``field`` in every page, converted; the next page is fetched
        when the previous one is used up."""
        while True:
            response = await self.call(method, request, service=service)
            for item in getattr(response, field):
                yield convert(item)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    async def collect(
        self,
        method: str,
        request: Any,
        field: str,
        convert: Callable[[Any], T],
        *,
        service: str = REGISTRY,
    ) -> list[T]:
        """All pages at once, as a list."""
        return [item async for item in self.pages(method, request, field, convert, service=service)]
