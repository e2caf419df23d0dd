"""The one call helper every family goes through: deadline, retries, errors, pages."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, TypeVar

import grpc

from modelreg._errors import from_rpc_error
from modelreg._settings import RetryPolicy
from modelreg._transport import async_sleep

T = TypeVar("T")
Metadata = tuple[tuple[str, str], ...]

# Only mutations record who made them; reads skip the metadata.
_READS = ("Get", "List")


class AsyncRPC:
    """Calls methods of the generated stub by name.

    Each call has the client's deadline; UNAVAILABLE is retried with the same request
    object (so a mutation keeps its request_id); any other failure, or UNAVAILABLE after
    the last attempt, raises the ``ModelregError`` for its status code.
    """

    def __init__(
        self, stub: Any, *, timeout: float, retry: RetryPolicy, metadata: Metadata
    ) -> None:
        self.stub = stub
        self._timeout = timeout
        self._retry = retry
        self._metadata = metadata

    async def call(self, method: str, request: Any) -> Any:
        """Call ``method``, retrying UNAVAILABLE; failures raise ModelregError."""
        fn = getattr(self.stub, method)
        metadata = None if method.startswith(_READS) else self._metadata
        attempt = 1
        while True:
            try:
                return await fn(request, timeout=self._timeout, metadata=metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self._retry.max_attempts:
                    await async_sleep(self._retry.backoff(attempt - 1))
                    attempt += 1
                    continue
                raise from_rpc_error(code, exc.details(), exc.trailing_metadata()) from None

    async def pages(
        self, method: str, request: Any, field: str, convert: Callable[[Any], T]
    ) -> AsyncIterator[T]:
        """Every item of ``field`` in every page, converted; the next page is fetched
        when the previous one is used up."""
        while True:
            response = await self.call(method, request)
            for item in getattr(response, field):
                yield convert(item)
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    async def collect(
        self, method: str, request: Any, field: str, convert: Callable[[Any], T]
    ) -> list[T]:
        """All pages at once, as a list."""
        return [item async for item in self.pages(method, request, field, convert)]
