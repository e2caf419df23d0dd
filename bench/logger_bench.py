"""The inference logger's costs, for ``make bench``: what ``log()`` costs the serving thread
(p50/p99 of single calls against a bare ``deque.append`` of the same tuple and a bare call
with the same arguments, timed in interleaved blocks in the same process), the CPU the
logger's background threads spend per record (they share the GIL with serving code), the
peak memory of a process whose 100,000-record buffer is full, and SDK-to-table records/s.

Each function returns a frozen dataclass; nothing here asserts on times.

    python -m bench.logger_bench --target 127.0.0.1:50051 --project p --model m --version 1
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import socket
import subprocess
import sys
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import modelreg

BLOCK = 10_000  # calls per timed block; blocks of log() and of the baselines alternate
INPUTS = {"text": "안녕하세요, 오늘 날씨가 좋네요", "lang": "ko"}
OUTPUTS = {"text": "Hello, the weather is nice today", "score": 0.93}
ATTRIBUTES = {"country": "kr", "device": "mobile"}


@dataclass(frozen=True)
class Latency:
    """Per-call latency percentiles in nanoseconds."""

    name: str
    calls: int
    p50_ns: int
    p99_ns: int
    p999_ns: int


@dataclass(frozen=True)
class LogLatency:
    """``log()`` in the calling thread, and its baselines measured in the same run."""

    log: Latency
    deque_append: Latency
    bare_call: Latency
    dropped: int  # records the logger dropped meanwhile (a full buffer would be cheaper)


@dataclass(frozen=True)
class SenderCpu:
    """CPU of everything but the logging thread (the logger's sender, grpc's threads),
    per record, while ``records`` records were logged and acknowledged."""

    records: int
    background_cpu_s: float
    caller_cpu_s: float
    wall_s: float

    @property
    def background_us_per_record(self) -> float:
        return self.background_cpu_s / self.records * 1e6

    @property
    def caller_us_per_record(self) -> float:
        return self.caller_cpu_s / self.records * 1e6

    @property
    def records_per_s(self) -> float:
        """SDK to table: from the first log() to the last acknowledgement."""
        return self.records / self.wall_s if self.wall_s > 0 else 0.0


@dataclass(frozen=True)
class BufferMemory:
    """Peak RSS of a process holding ``records`` unsendable records, and before logging."""

    records: int
    baseline_rss_bytes: int
    peak_rss_bytes: int

    @property
    def per_record_bytes(self) -> float:
        return (self.peak_rss_bytes - self.baseline_rss_bytes) / self.records


def _percentiles(name: str, samples: list[int]) -> Latency:
    samples.sort()
    n = len(samples)

    def at(p: float) -> int:
        return samples[max(0, min(n - 1, round(p / 100 * n + 0.5) - 1))]

    return Latency(name, n, at(50), at(99), at(99.9))


def _noop(**kwargs: Any) -> str:
    return ""


def log_latency(logger: modelreg.InferenceLogger, calls: int = 100_000) -> LogLatency:
    """Time ``calls`` single ``log()`` calls with a typical record, in blocks interleaved
    with blocks of the two baselines. Give a logger whose buffer holds ``calls`` records
    (or a reachable server), or some calls time the cheaper drop path (see ``dropped``)."""
    clock = time.perf_counter_ns
    log_ns: list[int] = []
    append_ns: list[int] = []
    call_ns: list[int] = []
    sink: deque[tuple[Any, ...]] = deque()
    log = logger.log
    dropped_before = logger.stats().dropped
    gc.collect()
    done = 0
    while done < calls:
        n = min(BLOCK, calls - done)
        for _ in range(n):
            start = clock()
            log(
                inputs=INPUTS,
                outputs=OUTPUTS,
                prediction="positive",
                latency_ms=12.5,
                request_id="req",
                attributes=ATTRIBUTES,
            )
            log_ns.append(clock() - start)
        for i in range(n):
            start = clock()
            sink.append(("id", i, INPUTS, OUTPUTS, "positive", 12.5, "req", ATTRIBUTES))
            append_ns.append(clock() - start)
        sink.clear()
        for _ in range(n):
            start = clock()
            _noop(
                inputs=INPUTS,
                outputs=OUTPUTS,
                prediction="positive",
                latency_ms=12.5,
                request_id="req",
                attributes=ATTRIBUTES,
            )
            call_ns.append(clock() - start)
        done += n
    return LogLatency(
        log=_percentiles("log()", log_ns),
        deque_append=_percentiles("deque.append", append_ns),
        bare_call=_percentiles("bare call", call_ns),
        dropped=logger.stats().dropped - dropped_before,
    )


def sender_cpu(logger: modelreg.InferenceLogger, records: int = 100_000) -> SenderCpu:
    """Log ``records`` records as fast as the calling thread can and wait for every
    acknowledgement; the process's CPU less the calling thread's is the background's.
    The server must run in another process, or its CPU counts too."""
    gc.collect()
    process0, thread0, wall0 = time.process_time(), time.thread_time(), time.perf_counter()
    log = logger.log
    for _ in range(records):
        log(
            inputs=INPUTS,
            outputs=OUTPUTS,
            prediction="positive",
            latency_ms=12.5,
            request_id="req",
            attributes=ATTRIBUTES,
        )
    logger.flush()
    wall = time.perf_counter() - wall0
    caller = time.thread_time() - thread0
    background = time.process_time() - process0 - caller
    return SenderCpu(records, background, caller, wall)


_FILL_SCRIPT = """
import json, sys, time
import modelreg

def hwm():
    # The high-water mark of this process's own memory (ru_maxrss would count the
    # parent's: it is kept across exec).
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    return 0
records, target = int(sys.argv[1]), sys.argv[2]
logger = modelreg.InferenceLogger(target, "p", "m", 1,
    options=modelreg.LoggerOptions(max_buffer_records=records, max_backoff_s=0.5))
inputs = {inputs!r}
outputs = {outputs!r}
attributes = {attributes!r}
base = hwm()
for i in range(records):
    logger.log(inputs=inputs, outputs=outputs, prediction="positive", latency_ms=12.5,
               request_id=f"req-{{i}}", attributes=attributes)
# Wait until the sender has encoded everything it holds (the byte bound sees it).
deadline = time.monotonic() + 120
while logger._buf.raw and time.monotonic() < deadline:
    time.sleep(0.05)
peak = hwm()
s = logger.stats()
print(json.dumps({{"base": base, "peak": peak, "pending": s.pending, "dropped": s.dropped}}))
logger.close(timeout=0)
"""


def _closed_port() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"127.0.0.1:{s.getsockname()[1]}"


def full_buffer_memory(records: int = 100_000) -> BufferMemory:
    """Peak RSS of a fresh process that logs ``records`` typical records with no server
    reachable (all of them held, encoded, in its buffer)."""
    script = _FILL_SCRIPT.format(inputs=INPUTS, outputs=OUTPUTS, attributes=ATTRIBUTES)
    result = subprocess.run(
        [sys.executable, "-c", script, str(records), _closed_port()],
        capture_output=True,
        text=True,
        timeout=300,
        check=True,
        env={**os.environ, "PYTHONWARNINGS": "ignore"},
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    return BufferMemory(records, int(report["base"]), int(report["peak"]))


def _print(title: str, value: Any) -> None:
    print(
        f"{title}: {json.dumps(asdict(value) if hasattr(value, '__dataclass_fields__') else value)}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--target", required=True, help="a server (another process)")
    parser.add_argument("--project", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--version", type=int, required=True)
    parser.add_argument("--calls", type=int, default=100_000)
    args = parser.parse_args(argv)

    def make() -> modelreg.InferenceLogger:
        # Room for every call: log() timed on its ordinary path, never the drop path.
        options = modelreg.LoggerOptions(max_buffer_records=2 * max(100_000, args.calls))
        return modelreg.InferenceLogger(
            args.target, args.project, args.model, args.version, options=options
        )

    runs: list[tuple[str, Callable[[modelreg.InferenceLogger], Any]]] = [
        ("log() latency", lambda lg: log_latency(lg, args.calls)),
        ("sender cpu", lambda lg: sender_cpu(lg, args.calls)),
    ]
    for title, run in runs:
        logger = make()
        try:
            result = run(logger)
        finally:
            logger.close(timeout=60)
        _print(title, result)
        if isinstance(result, SenderCpu):
            print(
                f"  background {result.background_us_per_record:.2f} us/record, "
                f"caller {result.caller_us_per_record:.2f} us/record, "
                f"{result.records_per_s:,.0f} records/s SDK to table"
            )
    memory = full_buffer_memory()
    _print("full buffer memory", memory)
    print(f"  {memory.per_record_bytes:,.0f} bytes/record")
    return 0


if __name__ == "__main__":
    sys.exit(main())
