"""Several server processes on one database: version numbers stay gapless and
unique, and request_id makes a retried registration land exactly once. Each test
runs against three separate servers and against one server with three worker
processes on one port (``--workers 3``)."""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

import pytest

import modelreg
from tests.conftest import unique
from tests.support import READY_TIMEOUT_S, ServerProcess

T = TypeVar("T")
SERVERS = 3
CALL_TIMEOUT_S = 30.0
RESULT_TIMEOUT_S = 300.0


@pytest.fixture(scope="module", params=["servers", "workers"])
def targets(
    request: pytest.FixtureRequest, database_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[list[str]]:
    """Three server processes on the test database, or one with three workers (its
    address three times: each client's connection lands on one of the workers)."""
    tmp = tmp_path_factory.mktemp(request.param)
    procs: list[ServerProcess] = []
    try:
        if request.param == "workers":
            args = ["--database-url", database_url, "--workers", str(SERVERS)]
            procs.append(ServerProcess(args, cwd=tmp, log=tmp / "server.log"))
            yield [procs[0].wait_ready()] * SERVERS
        else:
            for i in range(SERVERS):
                args = ["--database-url", database_url]
                procs.append(ServerProcess(args, cwd=tmp, log=tmp / f"server{i}.log"))
            yield [p.wait_ready() for p in procs]
    finally:
        codes = [p.stop() for p in procs]
    assert codes == [0] * len(procs), "a server did not stop cleanly"


def run_threads(count: int, work: Callable[[int], T]) -> list[T]:
    """``work(i)`` on ``count`` threads released together; re-raises the first failure."""
    barrier = threading.Barrier(count, timeout=READY_TIMEOUT_S)

    def start(i: int) -> T:
        barrier.wait()
        return work(i)

    with ThreadPoolExecutor(max_workers=count) as pool:
        futures = [pool.submit(start, i) for i in range(count)]
        return [f.result(timeout=RESULT_TIMEOUT_S) for f in futures]


@pytest.mark.slow
def test_concurrent_registrations_across_processes_are_gapless(targets: list[str]) -> None:
    threads, total = 16, 600
    project, model = unique("proj"), unique("model")
    with modelreg.Client(targets[0], actor="tester") as client:
        client.create_project(project)

    tickets: queue.SimpleQueue[int] = queue.SimpleQueue()
    for t in range(total):
        tickets.put(t)

    def worker(i: int) -> list[tuple[int, int]]:
        made: list[tuple[int, int]] = []
        with modelreg.Client(
            targets[i % len(targets)], actor=f"worker-{i}", timeout=CALL_TIMEOUT_S
        ) as c:
            while True:
                try:
                    ticket = tickets.get_nowait()
                except queue.Empty:
                    return made
                v = c.register_model_version(
                    project,
                    model,
                    artifact_uri=f"s3://bucket/{ticket}.pt",
                    params={"ticket": ticket, "worker": i},
                )
                made.append((ticket, v.version))

    per_thread = run_threads(threads, worker)  # any exception in a thread fails here

    registered = dict(pair for made in per_thread for pair in made)
    assert sum(len(made) for made in per_thread) == total
    assert sorted(registered) == list(range(total))
    assert sorted(registered.values()) == list(range(1, total + 1))

    with modelreg.Client(targets[1], actor="tester") as client:
        listed = list(client.list_model_versions(project, model, page_size=100))
        assert [v.version for v in listed] == list(range(1, total + 1))
        # Each number belongs to the registration that was told it.
        assert {v.params["ticket"]: v.version for v in listed} == registered
        assert client.get_model(project, model).version_count == total


@pytest.mark.slow
def test_request_id_makes_registration_exactly_once(targets: list[str]) -> None:
    project = unique("proj")
    with modelreg.Client(targets[0], actor="tester") as client:
        client.create_project(project)

        # A plain retry with the same id returns the first result.
        model = unique("model")

        def register() -> modelreg.ModelVersion:
            return client.register_model_version(
                project,
                model,
                artifact_uri="s3://bucket/a.pt",
                params={"lr": 0.01},
                request_id="fixed-id",
            )

        first, again = register(), register()
        assert (first.version, again.version) == (1, 1)
        assert again.create_time == first.create_time
        assert client.get_model(project, model).version_count == 1

        # The same id with another payload is refused and creates nothing.
        with pytest.raises(modelreg.InvalidArgumentError) as info:
            client.register_model_version(
                project, model, artifact_uri="s3://bucket/b.pt", request_id="fixed-id"
            )
        assert info.value.field == "request_id"
        assert client.get_model(project, model).version_count == 1
        assert [v.version for v in client.list_model_versions(project, model)] == [1]

    # Eight concurrent retries of one call, spread over the three servers, on a
    # model that does not exist yet: one version, and everybody is told its number.
    racing = unique("model")

    def retry(i: int) -> int:
        with modelreg.Client(targets[i % len(targets)], actor="tester") as c:
            v = c.register_model_version(
                project,
                racing,
                artifact_uri="s3://bucket/race.pt",
                params={"lr": 0.02, "layers": 6},
                request_id="concurrent-id",
            )
            return v.version

    assert run_threads(8, retry) == [1] * 8
    with modelreg.Client(targets[2], actor="tester") as client:
        assert [v.version for v in client.list_model_versions(project, racing)] == [1]
        assert client.get_model(project, racing).version_count == 1
