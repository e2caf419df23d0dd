"""AsyncClient behind a sync face, so one test body written in sync style runs against
both clients: its coroutines run on an event loop owned by a background thread, and its
async iterators come back as plain iterators. Test-only; the SDK has no such thing."""

from __future__ import annotations

import asyncio
import functools
import threading
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from typing import Any, TypeVar

import modelreg

T = TypeVar("T")


class LoopThread:
    """An asyncio event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._run, name="async-adapter", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, awaitable: Awaitable[T]) -> T:
        """Run ``awaitable`` on the loop and wait for its result (or exception)."""

        async def wrapper() -> T:
            return await awaitable

        return asyncio.run_coroutine_threadsafe(wrapper(), self.loop).result()

    def iterate(self, iterator: AsyncIterator[T]) -> Iterator[T]:
        """Each item of ``iterator``, fetched on the loop."""
        while True:
            try:
                yield self.run(iterator.__anext__())
            except StopAsyncIteration:
                return

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(timeout=10)
        self.loop.close()


class AsyncAdapter:
    """``adapter.get_project(...)`` runs ``await async_client.get_project(...)`` on the loop.

    Only the SDK's public methods are exposed: ``stub`` (an asyncio stub) is not, so a
    test calling the raw stub must use the ``sync_client`` fixture.
    """

    def __init__(self, loop: LoopThread, *args: Any, **kwargs: Any) -> None:
        async def open_client() -> modelreg.AsyncClient:
            # Made on the loop's thread: the grpc.aio channel belongs to that loop.
            return modelreg.AsyncClient(*args, **kwargs)

        self._loop = loop
        self.wrapped = loop.run(open_client())

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "stub":
            raise AttributeError(f"{name}: not part of the adapter (use the sync_client fixture)")
        method = getattr(self.wrapped, name)
        if not callable(method):
            return method
        return self._adapt(method)

    def _adapt(self, method: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            result = method(*args, **kwargs)
            if asyncio.iscoroutine(result):
                return self._loop.run(result)
            if isinstance(result, AsyncIterator):
                return self._loop.iterate(result)
            if isinstance(result, modelreg.AsyncActiveRun | modelreg.AsyncActivePipelineRun):
                return ContextAdapter(self._loop, result)
            return result

        return call


class ContextAdapter:
    """An AsyncActiveRun, AsyncActivePipelineRun or AsyncActiveStep behind its sync face:
    ``with`` runs ``async with`` on the loop, and every method runs there too
    (``log_metrics`` as well: it wakes an asyncio task, which only the loop's thread may
    do), awaited when it returns a coroutine; the steps ``step(...)`` makes are adapted too."""

    def __init__(
        self,
        loop: LoopThread,
        wrapped: modelreg.AsyncActiveRun
        | modelreg.AsyncActivePipelineRun
        | modelreg.AsyncActiveStep,
    ) -> None:
        self._loop = loop
        self.wrapped = wrapped

    def __enter__(self) -> ContextAdapter:
        self._loop.run(self.wrapped.__aenter__())
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self._loop.run(self.wrapped.__aexit__(*exc_info))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        value = getattr(self.wrapped, name)
        if not callable(value):
            return value

        @functools.wraps(value)
        def call(*args: Any, **kwargs: Any) -> Any:
            async def on_loop() -> Any:
                result = value(*args, **kwargs)
                return await result if asyncio.iscoroutine(result) else result

            result = self._loop.run(on_loop())
            if isinstance(result, modelreg.AsyncActiveStep):
                return ContextAdapter(self._loop, result)
            return result

        return call
