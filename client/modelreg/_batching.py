"""The concurrency an active run needs, as hand-written sync/asyncio pairs.

``client/tools/unasync.py`` turns ``AsyncFlusher``, ``AsyncBackground`` and ``AsyncLock``
into ``Flusher``, ``Background`` and ``Lock`` when it generates the sync client, so
``_async/_active_run.py`` is the one source of both ``ActiveRun`` and ``AsyncActiveRun``.

A client has one flusher (``rpc.flusher``), which schedules the background work of each of
its active runs: with asyncio, a task per run (creating one is cheap); with threads, one
daemon thread per client, shared by its runs (a thread started and joined per run cost more
than the rest of a short run's client side). The thread starts with the first run and ends
by itself after a second without runs, or when the client is closed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import threading
import time
from collections.abc import Awaitable, Callable

# Held while a batch is sent, so batches reach the server in the order they were logged.
AsyncLock = asyncio.Lock
Lock = threading.Lock

# Ways a block is interrupted rather than failing: its run ends CANCELLED, not FAILED.
INTERRUPTS = (KeyboardInterrupt, asyncio.CancelledError)

# How long the shared flusher thread waits without runs before it ends.
IDLE_S = 1.0


class AsyncFlusher:
    """Schedules each run's background work in an asyncio task of its own."""

    def schedule(
        self, work: Callable[[], Awaitable[None]], interval: float, name: str
    ) -> AsyncBackground:
        return AsyncBackground(work, interval, name)

    async def close(self) -> None:
        """Nothing to do: each run's task ends with the run."""


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


class Flusher:
    """One daemon thread calling the scheduled work of every active run of a client,
    each when it is due (one at a time: a slow batch of one run delays the others')."""

    def __init__(self, name: str = "modelreg-flusher") -> None:
        self._name = name
        self._cond = threading.Condition()
        self._due: dict[Background, float] = {}  # scheduled work -> when it is due
        self._running: Background | None = None
        # When the thread wakes by itself; -inf while it is awake (it looks again anyway).
        self._sleep_until = -math.inf
        self._thread: threading.Thread | None = None
        self._closed = False

    def schedule(self, work: Callable[[], None], interval: float, name: str) -> Background:
        return Background(self, work, interval)

    def close(self) -> None:
        """Unschedule everything and end the thread, after the work in progress."""
        with self._cond:
            self._closed = True
            self._due.clear()
            self._cond.notify_all()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join()

    def _add(self, job: Background, due: float) -> None:
        with self._cond:
            if self._closed:
                raise RuntimeError("the client is closed")
            self._due[job] = due
            if self._thread is None or not self._thread.is_alive():
                self._sleep_until = -math.inf
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()
            elif due < self._sleep_until:
                self._cond.notify()

    def _wake(self, job: Background) -> None:
        with self._cond:
            if job in self._due:
                self._due[job] = -math.inf
                if self._sleep_until > -math.inf:
                    self._cond.notify()

    def _remove(self, job: Background) -> None:
        with self._cond:
            self._due.pop(job, None)
            if threading.current_thread() is self._thread:
                return
            while self._running is job:
                self._cond.wait()

    def _run(self) -> None:
        with self._cond:
            idle_since = time.monotonic()
            while not self._closed:
                now = time.monotonic()
                if not self._due:
                    if now - idle_since >= IDLE_S:
                        self._thread = None
                        return
                    self._sleep_until = idle_since + IDLE_S
                    self._cond.wait(self._sleep_until - now)
                    self._sleep_until = -math.inf
                    continue
                job = min(self._due, key=self._due.__getitem__)
                due = self._due[job]
                if due > now:
                    self._sleep_until = due
                    self._cond.wait(due - now)
                    self._sleep_until = -math.inf
                    continue
                self._running = job
                self._due[job] = math.inf  # a wake while it works makes it due again
                self._cond.release()
                try:
                    job.work()
                finally:
                    self._cond.acquire()
                    self._running = None
                    if job in self._due:
                        self._due[job] = min(self._due[job], time.monotonic() + job.interval)
                    self._cond.notify_all()
                    idle_since = time.monotonic()


class Background:
    """Calls ``work`` every ``interval`` seconds, or sooner when woken, on its client's
    flusher thread, until stopped. ``work`` must not raise (it keeps its own errors)."""

    def __init__(self, flusher: Flusher, work: Callable[[], None], interval: float) -> None:
        self._flusher = flusher
        self.work = work
        self.interval = interval

    def start(self) -> None:
        self._flusher._add(self, time.monotonic() + self.interval)

    def wake(self) -> None:
        """Run ``work`` now (from any thread)."""
        self._flusher._wake(self)

    def stop(self) -> None:
        """Stop after the ``work`` in progress, if any; idempotent."""
        self._flusher._remove(self)
