"""Inference records end to end over gRPC (ProductionService, generated stub): the
ingest stream and the batch call, their per-record errors and deduplication, the
daily partitions, and the listing with its filters and pages."""

from __future__ import annotations

import queue
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import production_service_pb2 as rpc
from tests.conftest import unique
from tests.inference_support import (
    create_deployment,
    hour_ago,
    listed,
    now,
    prod,
    record,
    ts,
    write,
)
from tests.support import ACTOR, register, sql

__all__ = ["prod"]  # fixtures


@pytest.fixture
def model(sync_client: modelreg.Client, project: str) -> str:
    name = unique("m")
    register(sync_client, project, name, 2)
    return name


def _stored(database_url: str, ids: list[str]) -> int:
    return int(
        sql(
            database_url,
            "SELECT count(*) FROM inference_records WHERE record_id = ANY($1::uuid[])",
            ids,
        )[0][0]
    )


def test_a_batch_is_stored_and_a_resend_counts_as_duplicates(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    records = [record(model, 1 + i % 2, latency_ms=float(i)) for i in range(50)]
    ack = write(prod, project, records, seq=7)
    assert (ack.batch_seq, ack.accepted, ack.duplicates, list(ack.errors)) == (7, 50, 0, [])
    again = write(prod, project, [*records[:30], record(model)], seq=8)
    assert (again.accepted, again.duplicates, len(again.errors)) == (1, 30, 0)
    ids = [r.record_id for r in records]
    assert _stored(database_url, ids) == 50
    rollup = sql(
        database_url,
        "SELECT sum(count), sum(latency_count) FROM inference_rollups u "
        "JOIN models m ON m.id = u.model_id WHERE m.name = $1",
        model,
    )[0]
    assert (rollup[0], rollup[1]) == (51, 50)  # the last one has no latency


def test_duplicates_inside_one_batch_are_stored_once(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    r = record(model)
    ack = write(prod, project, [r, r, record(model)])
    assert (ack.accepted, ack.duplicates) == (2, 1)
    assert _stored(database_url, [r.record_id]) == 1


def test_the_stream_acks_each_batch_in_order(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    batches = [[record(model) for _ in range(20 + i)] for i in range(5)]
    batches.append(batches[0])  # a resend

    def requests() -> Any:
        for seq, batch in enumerate(batches):
            yield rpc.WriteInferenceRecordsRequest(
                parent=f"projects/{project}", writer_id="writer-1", batch_seq=seq, records=batch
            )

    acks = list(prod.WriteInferenceRecords(requests(), metadata=ACTOR, timeout=30))
    assert [a.batch_seq for a in acks] == list(range(6))
    assert [(a.accepted, a.duplicates) for a in acks] == [
        *((20 + i, 0) for i in range(5)),
        (0, 20),
    ]
    ids = [r.record_id for b in batches for r in b]
    assert _stored(database_url, ids) == sum(20 + i for i in range(5))
    writers = sql(
        database_url,
        "SELECT DISTINCT writer_id FROM inference_records WHERE record_id = ANY($1::uuid[])",
        ids,
    )
    assert [w[0] for w in writers] == ["writer-1"]


def test_bad_records_are_rejected_alone(
    prod: Any, project: str, model: str, database_url: str, sync_client: modelreg.Client
) -> None:
    other = unique("m")
    register(sync_client, project, other)
    create_deployment(database_url, project, other, "elsewhere", [[1, 100]])
    good = [record(model), record(model)]
    upper = str(uuid.uuid4()).upper()
    records = [
        good[0],
        record(model, 9),  # 1: unknown version
        record(unique("nomodel")),  # 2: unknown model
        record(model, deployment="nodep"),  # 3: unknown deployment
        record(model, deployment="elsewhere"),  # 4: another model's deployment
        record(model, record_id="not-a-uuid"),  # 5
        record(model, inputs=b"{not json"),  # 6
        record(model, event_time=None),  # 7: missing
        record(model, event_time=now() + timedelta(days=2)),  # 8: too far ahead
        record(model, latency_ms=-1.0),  # 9
        record(model, request_id="r" * 129),  # 10
        record(model, attributes={"bad key": "x"}),  # 11
        record(model, attributes={f"k{i}": "v" for i in range(65)}),  # 12
        record(model, outputs=b"\xff\xfe"),  # 13: not UTF-8
        record(model, record_id=upper, inputs={"ok": [1, 2]}),  # 14: good, id not canonical
        record(model, request_id="a\x00b"),  # 15
        record(model, predicted_label="\x00"),  # 16
        record(model, attributes={"k": "\x00"}),  # 17
        record("Not A Model"),  # 18
        record(model, deployment="bad name"),  # 19
        good[1],
    ]
    ack = write(prod, project, records)
    assert ack.accepted == 3 and ack.duplicates == 0
    got = [(e.index, e.field, e.reason) for e in ack.errors]
    assert got == [
        (1, "records[1].version", "VERSION_NOT_FOUND"),
        (2, "records[2].model", "MODEL_NOT_FOUND"),
        (3, "records[3].deployment", "DEPLOYMENT_NOT_FOUND"),
        (4, "records[4].deployment", "DEPLOYMENT_NOT_FOUND"),
        (5, "records[5].record_id", "INVALID_UUID"),
        (6, "records[6].inputs", "INVALID_JSON"),
        (7, "records[7].event_time", "INVALID_ARGUMENT"),
        (8, "records[8].event_time", "INVALID_ARGUMENT"),
        (9, "records[9].latency_ms", "INVALID_ARGUMENT"),
        (10, "records[10].request_id", "INVALID_ARGUMENT"),
        (11, "records[11].attributes", "INVALID_ARGUMENT"),
        (12, "records[12].attributes", "INVALID_ARGUMENT"),
        (13, "records[13].outputs", "INVALID_JSON"),
        (15, "records[15].request_id", "INVALID_ARGUMENT"),
        (16, "records[16].predicted_label", "INVALID_ARGUMENT"),
        (17, "records[17].attributes", "INVALID_ARGUMENT"),
        (18, "records[18].model", "INVALID_ARGUMENT"),
        (19, "records[19].deployment", "INVALID_ARGUMENT"),
    ]
    assert ack.errors[4].record_id == "not-a-uuid"
    assert _stored(database_url, [good[0].record_id, good[1].record_id, upper.lower()]) == 3
    stored = listed(prod, project, model, request_id="")
    assert {r.record_id for r in stored} == {good[0].record_id, good[1].record_id, upper.lower()}
    (canonical,) = [r for r in stored if r.record_id == upper.lower()]
    assert canonical.inputs == b'{"ok":[1,2]}'


def test_a_deleted_version_is_rejected(
    prod: Any, project: str, model: str, sync_client: modelreg.Client
) -> None:
    sync_client.delete_model_version(project, model, 2)
    ack = write(prod, project, [record(model, 2), record(model, 1)])
    assert ack.accepted == 1
    assert [(e.index, e.reason) for e in ack.errors] == [(0, "VERSION_NOT_FOUND")]


def _code(call: Any) -> tuple[grpc.StatusCode, str]:
    try:
        call()
    except grpc.RpcError as err:
        return err.code(), err.details() or ""
    return grpc.StatusCode.OK, ""


def test_request_level_bad_input_stores_nothing(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    too_many = [record(model) for _ in range(10_001)]
    code, details = _code(lambda: write(prod, project, too_many))
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("records:")
    assert _stored(database_url, [r.record_id for r in too_many]) == 0
    few = [record(model)]
    code, _ = _code(lambda: write(prod, "bad name!", few))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _code(lambda: write(prod, unique("noproj"), few))
    assert code == grpc.StatusCode.NOT_FOUND
    code, details = _code(
        lambda: prod.WriteInferenceRecordBatch(
            rpc.WriteInferenceRecordBatchRequest(
                parent=f"projects/{project}", writer_id="w\x00", records=few
            ),
            timeout=10,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT and details.startswith("writer_id:")
    assert _stored(database_url, [few[0].record_id]) == 0

    def stream() -> Any:
        yield rpc.WriteInferenceRecordsRequest(parent=f"projects/{project}", records=few)
        yield rpc.WriteInferenceRecordsRequest(parent="projects/", records=[record(model)])

    acks: list[Any] = []

    def consume() -> None:
        acks.extend(prod.WriteInferenceRecords(stream(), metadata=ACTOR, timeout=30))

    code, _ = _code(consume)
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    assert [a.accepted for a in acks] == [1]


def test_partitions_are_made_for_each_day(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    days = [now() - timedelta(days=d) for d in (0, 1, 5, 30)] + [now() + timedelta(hours=20)]
    ack = write(prod, project, [record(model, event_time=d) for d in days])
    assert ack.accepted == 5, ack.errors
    names = {
        row[0]
        for row in sql(
            database_url,
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'inference_records'::regclass",
        )
    }
    assert {f"inference_records_{d:%Y%m%d}" for d in days} <= names


def test_listing_filters_and_pages(
    prod: Any, project: str, model: str, database_url: str, sync_client: modelreg.Client
) -> None:
    create_deployment(database_url, project, model, "prod", [[1, 50], [2, 50]])
    base = hour_ago(10)
    records = [
        record(
            model,
            1 + i % 2,
            event_time=base + timedelta(minutes=i),
            deployment="prod" if i % 3 == 0 else "",
            request_id=f"req-{i % 5}",
            attributes={"country": ["kr", "us"][i % 2], "device": ["ios", "web", "tv"][i % 3]},
            predicted_label="yes",
            latency_ms=1.5,
        )
        for i in range(30)
    ]
    assert write(prod, project, records).accepted == 30
    everything = listed(prod, project, model, page_size=7)
    assert len(everything) == 30
    keys = [(r.event_time.ToDatetime(), r.record_id) for r in everything]
    assert keys == sorted(keys, reverse=True)  # newest first
    assert [r.record_id for r in everything] == [r.record_id for r in reversed(records)]
    first = everything[0]
    assert first.HasField("ingest_time") and first.predicted_label == "yes"
    assert first.latency_ms == 1.5 and dict(first.attributes) == dict(records[-1].attributes)
    assert not first.HasField("feedback")

    def ids(**filters: Any) -> set[str]:
        return {r.record_id for r in listed(prod, project, model, page_size=4, **filters)}

    assert ids(version=2) == {r.record_id for r in records if r.version == 2}
    assert ids(deployment="prod") == {r.record_id for r in records if r.deployment == "prod"}
    assert ids(request_id="req-3") == {r.record_id for r in records if r.request_id == "req-3"}
    assert ids(attributes={"country": "kr", "device": "web"}) == {
        r.record_id
        for r in records
        if r.attributes["country"] == "kr" and r.attributes["device"] == "web"
    }
    start, end = base + timedelta(minutes=5), base + timedelta(minutes=12)
    assert ids(start_time=ts(start), end_time=ts(end)) == {r.record_id for r in records[5:12]}
    deployed = listed(prod, project, model, deployment="prod")
    assert {r.deployment for r in deployed} == {"prod"}
    page = prod.ListInferenceRecords(
        rpc.ListInferenceRecordsRequest(parent=f"projects/{project}/models/{model}", page_size=5),
        timeout=10,
    )
    other = prod.ListInferenceRecords.with_call  # a token of another listing is refused
    code, _ = _code(
        lambda: other(
            rpc.ListInferenceRecordsRequest(
                parent=f"projects/{project}/models/{model}",
                page_token=page.next_page_token,
                version=1,
            ),
            timeout=10,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    code, _ = _code(
        lambda: prod.ListInferenceRecords(
            rpc.ListInferenceRecordsRequest(
                parent=f"projects/{project}/models/{model}", deployment="nodep"
            ),
            timeout=10,
        )
    )
    assert code == grpc.StatusCode.NOT_FOUND


def test_the_stream_acks_a_batch_before_the_next_is_sent(
    prod: Any, project: str, model: str
) -> None:
    """A writer waiting for each ack before sending more gets it (the server does not
    wait for the next batch to answer one)."""
    outbox: queue.Queue[Any] = queue.Queue()

    def requests() -> Any:
        while (item := outbox.get(timeout=30)) is not None:
            yield item

    outbox.put(
        rpc.WriteInferenceRecordsRequest(
            parent=f"projects/{project}", batch_seq=1, records=[record(model)]
        )
    )
    acks = prod.WriteInferenceRecords(requests(), metadata=ACTOR, timeout=30)
    first = next(acks)
    outbox.put(
        rpc.WriteInferenceRecordsRequest(
            parent=f"projects/{project}", batch_seq=2, records=[record(model), record(model)]
        )
    )
    second = next(acks)
    outbox.put(None)
    assert [(a.batch_seq, a.accepted) for a in (first, second)] == [(1, 1), (2, 2)]
    assert list(acks) == []


@pytest.mark.parametrize(
    "bad", [{"request_id": "\x00"}, {"deployment": "\x00"}, {"attributes": {"k": "\x00"}}]
)
def test_listing_refuses_nul_characters(prod: Any, project: str, model: str, bad: Any) -> None:
    code, _ = _code(
        lambda: prod.ListInferenceRecords(
            rpc.ListInferenceRecordsRequest(parent=f"projects/{project}/models/{model}", **bad),
            timeout=10,
        )
    )
    assert code == grpc.StatusCode.INVALID_ARGUMENT


def test_concurrent_writers_of_the_same_records_store_each_once(
    prod: Any, project: str, model: str, database_url: str
) -> None:
    """Writers racing on the same records (a resend while the first send is still
    being written) and on the same rollups neither deadlock nor double count."""
    records = [record(model, 1 + i % 2, latency_ms=1.0) for i in range(600)]
    batches = [records[k : k + 200] for k in range(0, 600, 200)]
    with ThreadPoolExecutor(6) as pool:
        acks = list(pool.map(lambda b: write(prod, project, b), [*batches, *reversed(batches)]))
    assert sum(a.accepted for a in acks) == 600
    assert sum(a.duplicates for a in acks) == 600
    assert _stored(database_url, [r.record_id for r in records]) == 600
    (counted,) = sql(
        database_url,
        "SELECT sum(count) FROM inference_rollups u JOIN models m ON m.id = u.model_id "
        "WHERE m.name = $1",
        model,
    )[0]
    assert counted == 600
