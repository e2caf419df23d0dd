"""The one call helper every family goes through: deadline, retries, errors, pages."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, TypeVar

import grpc

from modelreg._batching import AsyncFlusher
from modelreg._errors import from_rpc_error
from modelreg._paging import Page
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

    def pages(
        self,
        method: str,
        request: Any,
        field: str,
        convert: Callable[[Any], T],
        *,
        service: str = REGISTRY,
    ) -> AsyncPager[T]:
        """Every item of ``field`` in every page, converted (the next page is fetched
        when the previous one is used up), or one page at a time with ``.page()``."""
        return AsyncPager(self, method, request, field, convert, service)

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


class AsyncPager(AsyncIterator[T]):
    """What a ``list_*`` method returns: iterate over it for every item (pages are
    fetched as they are used up), or call :meth:`page` for one page and the token of
    the next, to page through a listing as a user does (a table, an HTTP API).

    Example:
        >>> first = await client.list_model_versions("p", "m").page(page_size=50)
        >>> second = await client.list_model_versions("p", "m").page(first.next_page_token)
    """

    def __init__(
        self,
        rpc: AsyncRPC,
        method: str,
        request: Any,
        field: str,
        convert: Callable[[Any], T],
        service: str,
    ) -> None:
        self._rpc = rpc
        self._method = method
        self._request = request
        self._field = field
        self._convert = convert
        self._service = service
        self._items: AsyncIterator[T] | None = None

    def __aiter__(self) -> AsyncIterator[T]:
        # `async for` drives the generator itself: no extra call per item.
        if self._items is None:
            self._items = self._every_item()
        return self._items

    async def __anext__(self) -> T:
        return await self.__aiter__().__anext__()

    async def _every_item(self) -> AsyncIterator[T]:
        request, convert, field = self._request, self._convert, self._field
        while True:
            response = await self._rpc.call(self._method, request, service=self._service)
            for item in getattr(response, field):
                yield convert(item)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    async def page(self, page_token: str = "", *, page_size: int = 0) -> Page[T]:
        """One page: the items from ``page_token`` (the first page when empty), at most
        ``page_size`` of them (the listing's page size when 0), and the token of the
        next page ("" after the last). A token is only valid with the same listing
        arguments; a bad one is INVALID_ARGUMENT naming ``page_token``."""
        request = type(self._request)()
        request.CopyFrom(self._request)
        request.page_token = page_token
        if page_size:
            request.page_size = page_size
        response = await self._rpc.call(self._method, request, service=self._service)
        items = tuple(self._convert(item) for item in getattr(response, self._field))
        return Page(items, response.next_page_token)
