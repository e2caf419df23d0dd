"""Timing for the benchmarks: calls timed one by one in blocks interleaved with
blocks of a bare gRPC echo, so every figure is a ratio against the echo measured
at the same moment (a load change on the shared machine moves both alike)."""

from __future__ import annotations

import asyncio
import gc
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

ECHO_SERVICE = "bench.Echo"
ECHO_METHOD = f"/{ECHO_SERVICE}/Echo"
ECHO_PAYLOAD = b"x" * 64
ROUNDS = 10  # blocks per operation, each after a block of echo calls


@dataclass(frozen=True)
class Result:
    name: str
    samples_s: Sequence[float]  # sorted per-call latencies, seconds
    wall_s: float  # time spent in the timed blocks
    truncated: bool = False  # stopped by --max-seconds before the planned number of calls
    echo: Result | None = None  # the echo blocks interleaved with this operation's blocks

    @property
    def calls(self) -> int:
        return len(self.samples_s)

    def percentile_ms(self, p: float) -> float:
        """Nearest-rank percentile, in milliseconds."""
        rank = max(1, min(self.calls, round(p / 100 * self.calls + 0.5)))
        return self.samples_s[rank - 1] * 1000

    @property
    def rate(self) -> float:
        return self.calls / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def ratio(self) -> float:
        """p50 against the p50 of the echo calls interleaved with it (1.0 for echo itself)."""
        if self.echo is None:
            return 1.0
        return self.percentile_ms(50) / self.echo.percentile_ms(50)


Call = Callable[[int], object]


def timed(call: Call, calls: int, first: int, samples: list[float]) -> float:
    """Time ``calls`` calls one by one, appending each latency; returns the block's wall time."""
    clock = time.perf_counter
    start = clock()
    for i in range(first, first + calls):
        t0 = clock()
        call(i)
        samples.append(clock() - t0)
    return clock() - start


def measure(
    name: str,
    call: Call,
    calls: int,
    echo: Call,
    echo_calls: int,
    *,
    rounds: int,
    warmup: int,
    max_seconds: float,
) -> Result:
    """Warm up, then time ``calls`` calls of ``call`` in ``rounds`` blocks, each preceded
    by a block of echo calls, so operation and baseline see the same machine load."""
    for i in range(warmup):
        call(i)
    gc.collect()
    samples: list[float] = []
    echo_samples: list[float] = []
    wall = echo_wall = 0.0
    deadline = time.perf_counter() + max_seconds
    done = 0
    for r in range(rounds):
        if time.perf_counter() > deadline:
            break
        echo_wall += timed(echo, share(echo_calls, rounds, r), 0, echo_samples)
        n = share(calls, rounds, r)
        wall += timed(call, n, warmup + done, samples)
        done += n
    samples.sort()
    echo_samples.sort()
    paired = Result(f"echo (with {name})", echo_samples, echo_wall)
    return Result(name, samples, wall, truncated=done < calls, echo=paired)


def share(total: int, parts: int, index: int) -> int:
    """The ``index``-th of ``parts`` near-equal shares of ``total``."""
    return total // parts + (1 if index < total % parts else 0)


def pooled(name: str, parts: Sequence[Result]) -> Result:
    samples = sorted(s for p in parts for s in p.samples_s)
    return Result(name, samples, sum(p.wall_s for p in parts))


# The baseline: a bare unary echo on its own event loop, in its own thread.


class EchoServer:
    """A grpc.aio server whose one method returns the request bytes unchanged."""

    def __init__(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._loop.run_forever, name="echo-server", daemon=True
        )
        self._server: Any = None
        self.port = 0

    async def _start(self) -> int:
        async def echo(request: bytes, context: Any) -> bytes:
            return request

        # No (de)serializers: the handler gets and returns the raw bytes.
        handler = grpc.method_handlers_generic_handler(
            ECHO_SERVICE, {"Echo": grpc.unary_unary_rpc_method_handler(echo)}
        )
        self._server = grpc.aio.server(options=[("grpc.so_reuseport", 0)])
        self._server.add_generic_rpc_handlers((handler,))
        port: int = self._server.add_insecure_port("127.0.0.1:0")
        await self._server.start()
        return port

    def start(self) -> EchoServer:
        self._thread.start()
        self.port = asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=30)
        return self

    def stop(self) -> None:
        if self._server is not None:
            server, self._server = self._server, None
            asyncio.run_coroutine_threadsafe(server.stop(0), self._loop).result(timeout=30)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        if not self._thread.is_alive():
            self._loop.close()

    @property
    def target(self) -> str:
        return f"127.0.0.1:{self.port}"


@contextmanager
def echo_server() -> Iterator[EchoServer]:
    server = EchoServer().start()
    try:
        yield server
    finally:
        server.stop()


def print_table(results: Sequence[Result]) -> None:
    """One row per operation; the ratio is against the echo blocks interleaved with it."""
    width = max(16, *(len(r.name) for r in results))
    header = (
        f"{'operation':<{width}} {'calls':>6} {'p50 ms':>8} {'p99 ms':>8} {'calls/s':>8} "
        f"{'echo p50':>9} {'p50/echo':>9}"
    )
    print(header)
    print("-" * len(header))
    for r in results:
        echo = r.echo or r
        note = "  (stopped at --max-seconds)" if r.truncated else ""
        print(
            f"{r.name:<{width}} {r.calls:>6} {r.percentile_ms(50):>8.3f} "
            f"{r.percentile_ms(99):>8.3f} {r.rate:>8.0f} {echo.percentile_ms(50):>9.3f} "
            f"{r.ratio:>8.2f}x{note}"
        )
    print(
        "  echo p50: of the echo calls interleaved with that operation's blocks "
        f"({ROUNDS} rounds); the echo row pools them all."
    )
    print()
