"""The server process dies or is stopped under a registration burst.

Four threads register versions through the SDK, each call with a request_id of its
own. The server is SIGKILLed (or SIGTERMed) mid-burst and a new one started on the
same database and port. Every request_id that was not acknowledged is then replayed
with the same payload. Afterwards: every acknowledged registration is present once
with the number it was told, every request_id landed exactly once, version numbers
are gapless, and no call ever failed with INTERNAL or UNKNOWN.
"""

from __future__ import annotations

import signal
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import pytest

import modelreg
from tests.conftest import unique
from tests.support import ServerProcess

THREADS = 4
PER_THREAD = 500  # a bound: the burst stops by itself even if the test never says stop
BAD = {"INTERNAL", "UNKNOWN", "DATA_LOSS"}


@dataclass
class Burst:
    project: str
    model: str
    acked: dict[str, int] = field(default_factory=dict)  # request_id -> version told
    pending: list[str] = field(default_factory=list)  # sent, never acknowledged
    codes: list[str] = field(default_factory=list)  # every error seen
    messages: list[str] = field(default_factory=list)
    started: threading.Event = field(default_factory=threading.Event)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def payload(self, request_id: str) -> dict[str, object]:
        return {"artifact_uri": f"s3://burst/{request_id}.pt", "params": {"rid": request_id}}

    def run(self, target: str) -> None:
        """THREADS threads of PER_THREAD registrations; errors are recorded, not raised."""
        retry = modelreg.RetryPolicy(max_attempts=2, initial_backoff_s=0.05, max_backoff_s=0.1)

        def work(t: int) -> None:
            with modelreg.Client(target, actor=f"burst-{t}", timeout=5, retry=retry) as client:
                for _ in range(PER_THREAD):
                    if self.stop.is_set():
                        return
                    rid = f"{t}-{uuid.uuid4().hex}"
                    try:
                        v = client.register_model_version(
                            self.project, self.model, request_id=rid, **self.payload(rid)
                        )
                    except modelreg.ModelregError as exc:
                        with self.lock:
                            self.pending.append(rid)
                            self.codes.append(exc.code.name)
                            self.messages.append(f"{exc.code.name}: {exc}"[:200])
                        continue
                    with self.lock:
                        self.acked[rid] = v.version
                    self.started.set()

        threads = [threading.Thread(target=work, args=(t,)) for t in range(THREADS)]
        for th in threads:
            th.start()
        for th in threads:
            th.join(timeout=300)
            assert not th.is_alive(), "the burst did not end"

    def replay_and_check(self, target: str) -> None:
        with modelreg.Client(target, actor="replay", timeout=30) as client:
            replayed = {
                rid: client.register_model_version(
                    self.project, self.model, request_id=rid, **self.payload(rid)
                ).version
                for rid in self.pending
            }
            # A replay of an acknowledged id answers the same number.
            for rid, number in list(self.acked.items())[:10]:
                again = client.register_model_version(
                    self.project, self.model, request_id=rid, **self.payload(rid)
                )
                assert again.version == number
            listed = list(client.list_model_versions(self.project, self.model))
        by_rid = {v.params["rid"]: v.version for v in listed}
        assert len(by_rid) == len(listed), "a request_id landed twice"
        assert [v.version for v in listed] == list(range(1, len(listed) + 1)), "numbers gap"
        assert set(by_rid) == set(self.acked) | set(self.pending)
        for rid, number in {**self.acked, **replayed}.items():
            assert by_rid[rid] == number, f"{rid} was told {number}, stored {by_rid[rid]}"
        assert not BAD & set(self.codes), self.codes


def start_server(
    database_url: str, tmp: Path, name: str, port: int = 0
) -> tuple[ServerProcess, str]:
    proc = ServerProcess(
        ["--database-url", database_url, "--listen", f"127.0.0.1:{port}"],
        cwd=tmp,
        log=tmp / f"{name}.log",
        env={"MODELREG_SHUTDOWN_DRAIN": "1", "MODELREG_SHUTDOWN_GRACE": "5"},
    )
    return proc, proc.wait_ready()


@pytest.mark.slow
@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM], ids=["sigkill", "sigterm"])
def test_server_killed_or_stopped_mid_burst_loses_and_doubles_nothing(
    how: signal.Signals, database_url: str, tmp_path: Path
) -> None:
    first, target = start_server(database_url, tmp_path, "first")
    port = int(target.rpartition(":")[2])
    burst = Burst(unique("faults"), "burst")
    with modelreg.Client(target, actor="tester") as client:
        client.create_project(burst.project)
    runner = threading.Thread(target=burst.run, args=(target,))
    second: ServerProcess | None = None
    try:
        runner.start()
        assert burst.started.wait(60), "the burst never got going"
        first.proc.send_signal(how)
        first.proc.wait(timeout=30)
        if how == signal.SIGTERM:
            assert first.proc.returncode == 0, first.stderr_tail()
            assert "Traceback" not in first.stderr_tail()
        second, again = start_server(database_url, tmp_path, "second", port)
        assert again == target
        # The burst goes on against the new server for a while, then stops.
        before = len(burst.acked)
        deadline = time.monotonic() + 60
        while len(burst.acked) < before + 40 and runner.is_alive() and time.monotonic() < deadline:
            time.sleep(0.05)
        burst.stop.set()
        runner.join(timeout=300)
        assert not runner.is_alive()
        assert burst.acked, "nothing was acknowledged"
        assert burst.pending, "no call was cut off: the fault missed the burst"
        burst.replay_and_check(target)
        if how == signal.SIGTERM:
            # Calls in flight at the stop finished; later ones were refused, never cut off.
            assert set(burst.codes) <= {"UNAVAILABLE"}, sorted(set(burst.messages))
    finally:
        burst.stop.set()
        first.stop()
        if second is not None:
            assert second.stop() == 0, second.stderr_tail()
    assert "Traceback" not in second.stderr_tail()
