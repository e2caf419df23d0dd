"""What the inference, feedback and production-metrics tests share: the raw
ProductionService stub, record builders and a deployment row made with SQL (the
deployment RPCs are another family's)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf import timestamp_pb2

from modelreg.api.v1 import production_service_pb2 as rpc
from modelreg.api.v1 import production_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.support import ACTOR, sql


@pytest.fixture
def prod(target: str) -> Iterator[Any]:
    """The generated ProductionService stub on a channel of its own."""
    with grpc.insecure_channel(target) as channel:
        yield rpc_grpc.ProductionServiceStub(channel)


def ts(when: datetime) -> timestamp_pb2.Timestamp:
    t = timestamp_pb2.Timestamp()
    t.FromDatetime(when)
    return t


def now() -> datetime:
    return datetime.now(timezone.utc)


def hour_ago(hours: float = 1.0) -> datetime:
    return now() - timedelta(hours=hours)


def record(model: str, version: int = 1, **fields: Any) -> pb.InferenceRecord:
    """An inference record (a fresh id and an event time an hour ago unless given)."""
    fields.setdefault("record_id", str(uuid.uuid4()))
    when = fields.pop("event_time", hour_ago())
    if when is not None:
        fields["event_time"] = ts(when)
    for doc in ("inputs", "outputs"):
        if doc in fields and not isinstance(fields[doc], bytes):
            fields[doc] = json.dumps(fields[doc]).encode()
    return pb.InferenceRecord(model=model, version=version, **fields)


def write(prod: Any, project: str, records: list[pb.InferenceRecord], seq: int = 0) -> Any:
    return prod.WriteInferenceRecordBatch(
        rpc.WriteInferenceRecordBatchRequest(
            parent=f"projects/{project}", writer_id="w", batch_seq=seq, records=records
        ),
        metadata=ACTOR,
        timeout=30,
    )


def create_deployment(
    database_url: str, project: str, model: str, name: str, traffic: list[list[int]]
) -> None:
    """A deployment row, made directly."""
    sql(
        database_url,
        "INSERT INTO deployments (project_id, model_id, name, traffic) "
        "SELECT p.id, m.id, $3, $4::jsonb FROM projects p JOIN models m ON m.project_id = p.id "
        "WHERE p.name = $1 AND m.name = $2",
        project,
        model,
        name,
        json.dumps(traffic),
    )


def listed(prod: Any, project: str, model: str, **fields: Any) -> list[pb.InferenceRecord]:
    """Every record a listing returns, page after page."""
    out: list[pb.InferenceRecord] = []
    token = ""
    while True:
        page = prod.ListInferenceRecords(
            rpc.ListInferenceRecordsRequest(
                parent=f"projects/{project}/models/{model}", page_token=token, **fields
            ),
            timeout=30,
        )
        out.extend(page.records)
        token = page.next_page_token
        if not token:
            return out
