"""Helpers of the run tests: a TrackingService stub, SQL on the test database
(dataset versions before CreateDatasetVersion exists, links a registration would
make, row counts), and raw calls."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import asyncpg
import grpc
import pytest

from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc
from modelreg_server.testing import asyncpg_dsn
from tests.support import ACTOR


class Sql:
    """Statements on the test database, on a connection and loop of their own (the
    tests calling it are synchronous)."""

    def __init__(self, database_url: str) -> None:
        self._loop = asyncio.new_event_loop()
        self._conn = self._loop.run_until_complete(asyncpg.connect(asyncpg_dsn(database_url)))

    def fetch(self, sql: str, *args: Any) -> list[Any]:
        return list(self._loop.run_until_complete(self._conn.fetch(sql, *args)))

    def value(self, sql: str, *args: Any) -> Any:
        return self._loop.run_until_complete(self._conn.fetchval(sql, *args))

    def dataset_version(self, project: str, dataset: str, version: str, batch_id: str = "") -> str:
        """Insert a dataset version (made if missing); its resource name."""
        self.value(
            "INSERT INTO datasets (project_id, name) "
            "SELECT id, $2 FROM projects WHERE name = $1 ON CONFLICT DO NOTHING",
            project,
            dataset,
        )
        self.value(
            "INSERT INTO dataset_versions (dataset_id, version, batch_id) "
            "SELECT s.id, $3, $4 FROM datasets s JOIN projects p ON p.id = s.project_id "
            "WHERE p.name = $1 AND s.name = $2",
            project,
            dataset,
            version,
            batch_id,
        )
        return f"projects/{project}/datasets/{dataset}/versions/{version}"

    def runs_of(self, project: str) -> int:
        return int(
            self.value(
                "SELECT count(*) FROM runs r JOIN projects p ON p.id = r.project_id "
                "WHERE p.name = $1",
                project,
            )
        )

    def counts(self) -> dict[str, int]:
        """Rows of every run table."""
        tables = ("runs", "run_params", "run_labels", "run_inputs", "run_metrics",
                  "run_latest_metrics", "request_log")  # fmt: skip
        return {t: int(self.value(f"SELECT count(*) FROM {t}")) for t in tables}

    def close(self) -> None:
        self._loop.run_until_complete(self._conn.close())
        self._loop.close()


@pytest.fixture(scope="module")
def sql(database_url: str) -> Iterator[Sql]:
    s = Sql(database_url)
    yield s
    s.close()


@pytest.fixture(scope="module")
def tracking(target: str) -> Iterator[Any]:
    """The generated TrackingService stub; mutations send ``ACTOR`` metadata."""
    channel = grpc.insecure_channel(
        target, options=[("grpc.max_send_message_length", 64 * 1024 * 1024)]
    )
    yield rpc_grpc.TrackingServiceStub(channel)
    channel.close()


def create_run(tracking: Any, project: str, run_id: str = "", **fields: Any) -> pb.Run:
    request = rpc.CreateRunRequest(
        parent=f"projects/{project}", run_id=run_id, run=pb.Run(**fields)
    )
    run: pb.Run = tracking.CreateRun(request, metadata=ACTOR, timeout=20)
    return run


def log(tracking: Any, run: str, *points: tuple[str, float, int], **params: Any) -> Any:
    """LogRunData of (key, value, step) points and params given as ParamValue kwargs."""
    request = rpc.LogRunDataRequest(
        run=run,
        metrics=[pb.Metric(key=k, value=v, step=s) for k, v, s in points],
        params={k: param(v) for k, v in params.items()},
    )
    return tracking.LogRunData(request, metadata=ACTOR, timeout=60)


def param(value: Any) -> pb.ParamValue:
    if isinstance(value, bool):
        return pb.ParamValue(bool_value=value)
    if isinstance(value, int):
        return pb.ParamValue(int_value=value)
    if isinstance(value, float):
        return pb.ParamValue(float_value=value)
    return pb.ParamValue(string_value=value)


def end(tracking: Any, run: str, state: int = pb.Run.SUCCEEDED) -> pb.Run:
    result: pb.Run = tracking.EndRun(rpc.EndRunRequest(name=run, state=state), metadata=ACTOR)
    return result


def list_ids(tracking: Any, project: str, filter_: str = "", order_by: str = "") -> list[str]:
    """Run ids of every page of a listing."""
    ids: list[str] = []
    token = ""
    while True:
        page = tracking.ListRuns(
            rpc.ListRunsRequest(
                parent=f"projects/{project}", filter=filter_, order_by=order_by, page_token=token
            ),
            timeout=20,
        )
        ids += [r.run_id for r in page.runs]
        token = page.next_page_token
        if not token:
            return ids


def failure(call: Any, request: Any) -> grpc.RpcError:
    with pytest.raises(grpc.RpcError) as info:
        call(request, metadata=ACTOR, timeout=60)
    return info.value
