"""The concurrency an active run needs, as hand-written sync/asyncio pairs.

``client/tools/unasync.py`` turns ``AsyncBackground`` into ``Background`` and ``AsyncLock``
into ``Lock`` when it generates the sync client, so ``_async/_active_run.py`` is the one
source of both ``ActiveRun`` (a daemon thread per run) and ``AsyncActiveRun`` (an asyncio
task per run).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Awaitable, Callable

# Held while a batch is sent, so batches reach the server in the order they were logged.
AsyncLock = asyncio.Lock
Lock = threading.Lock

# Ways a block is interrupted rather than failing: its run ends CANCELLED, not FAILED.
INTERRUPTS = (KeyboardInterrupt, asyncio.CancelledError)


class AsyncBackground:
    """Calls ``work`` every ``interval`` seconds, or sooner when woken, in an asyncio task
    of the running loop, until stopped. ``work`` must not raise (it keeps its own errors)."""

    def __init__(self, work: Callable[[], Awaitable[None]], interval: float, name: str) -> None:
        self._work = work
        self._interval = interval
        self._name = name
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.get_running_loop().create_task(self._run(), name=self._name)

    def wake(self) -> None:
        """Run ``work`` now (called on the loop's thread, like everything asyncio)."""
        self._wake.set()

    async def stop(self) -> None:
        """Stop after the ``work`` in progress, if any; idempotent."""
        self._stopping = True
        self._wake.set()
        if self._task is not None:
            task, self._task = self._task, None
            await asyncio.shield(task)

    async def _run(self) -> None:
        while not self._stopping:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._interval)
            self._wake.clear()
            if self._stopping:
                return
            await self._work()


class Background:
    """Calls ``work`` every ``interval`` seconds, or sooner when woken, in a daemon thread,
    until stopped. ``work`` must not raise (it keeps its own errors)."""

    def __init__(self, work: Callable[[], None], interval: float, name: str) -> None:
        self._work = work
        self._interval = interval
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        """Run ``work`` now (from any thread)."""
        self._wake.set()

    def stop(self) -> None:
        """Stop after the ``work`` in progress, if any; idempotent."""
        self._stopping = True
        self._wake.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join()

    def _run(self) -> None:
        while not self._stopping:
            self._wake.wait(self._interval)
            self._wake.clear()
            if self._stopping:
                return
            self._work()
