"""The batch queries' records (domain/batches.py) mirror their statements and the wire,
as tests/test_records.py holds the other families': each record type is exactly its
statement's columns, each field of its message is filled from it, and each column that
is not an internal id reaches the wire."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, get_type_hints

import pytest
from google.protobuf.message import Message

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import batches as db
from modelreg_server.domain import datasets as ds
from modelreg_server.domain import types as d
from modelreg_server.storage import batch_series, batches
from modelreg_server.transport import batch_convert
from tests.test_records import INTERNAL, SAMPLES, T0, _changed, _unset

STATEMENTS = {
    db.Batch: batches.READ_BATCHES,
    db.TrainedVersion: batches._trained_statement(
        batches._learned(batches._seeds(1, "b", None), False), 1
    )[0],
    db.BatchBehind: batch_series._behind_statement(1, False),
    db.BatchPoint: batch_series._series_statement(1, None, db.SeriesQuery("p", "m", "auc")),
}
RECORDS: dict[type, dict[str, Any]] = {
    db.Batch: {**SAMPLES[ds.DatasetVersion], "model_version_count": 3},
    db.TrainedVersion: {
        **SAMPLES[d.ModelVersion], "batch": ["proj", "clicks", "b1"], "dataset_version_id": 6,
        "role": "VALIDATION", "generations": 2, "via": ["proj", "mod", "2"],
    },
    db.BatchBehind: {
        **SAMPLES[ds.DatasetVersion], "role": "TEST", "trained_by": ["proj", "mod", "2"],
        "generations": 1, "cut": False,
    },
    db.BatchPoint: {
        "batch": ["proj", "clicks", "b1"], "batch_id": "2024-11-04", "data_start_time": T0,
        "data_end_time": T0, "project_name": "proj", "model_name": "mod", "version": 4,
        "value": 0.5,
    },
}  # fmt: skip
FILL: dict[type, tuple[type[Message], Callable[[Any, Any], Any]]] = {
    db.Batch: (pb.Batch, batch_convert.fill_batch),
    db.TrainedVersion: (rpc.TrainedVersion, batch_convert.fill_trained),
    db.BatchBehind: (rpc.BatchBehind, batch_convert.fill_behind),
    db.BatchPoint: (rpc.BatchMetricPoint, batch_convert.fill_point),
}
# Not on each message: whether the chain was cut is the response's `truncated`.
NOT_PER_ROW = {"cut"}


@pytest.mark.parametrize("record", list(STATEMENTS), ids=lambda t: t.__name__)
def test_record_type_is_its_statement(record: type) -> None:
    columns = {c.key for c in STATEMENTS[record].selected_columns}
    assert columns == set(get_type_hints(record))
    assert set(RECORDS[record]) == columns


@pytest.mark.parametrize("record", list(FILL), ids=lambda t: t.__name__)
def test_every_proto_field_is_filled_from_the_record(record: type) -> None:
    message, fill = FILL[record]
    assert _unset(fill(message(), RECORDS[record])) == []


def _other(key: str, value: Any) -> Any:
    if key in ("batch", "via", "trained_by"):
        return [*value[:-1], value[-1] + "9"]
    if key == "role":
        return "TRAIN"
    if key in ("project_name", "model_name") and isinstance(value, str):
        return value + "x"
    return _changed(key, value)


@pytest.mark.parametrize("record", list(FILL), ids=lambda t: t.__name__)
def test_every_record_column_reaches_the_wire(record: type) -> None:
    message, fill = FILL[record]
    base = fill(message(), RECORDS[record])
    for key in RECORDS[record]:
        if key in INTERNAL or key in NOT_PER_ROW:
            continue
        sample = dict(RECORDS[record])
        sample[key] = _other(key, sample[key])
        assert fill(message(), sample) != base, f"{record.__name__}.{key} does not reach the wire"


def test_a_direct_use_has_no_via() -> None:
    msg = batch_convert.fill_trained(
        rpc.TrainedVersion(), {**RECORDS[db.TrainedVersion], "via": None, "generations": 0}
    )
    assert (msg.via, msg.generations) == ("", 0)
    missing = {**RECORDS[db.BatchPoint], "value": None}
    point = batch_convert.fill_point(rpc.BatchMetricPoint(), missing)
    assert not point.HasField("value")
