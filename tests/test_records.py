"""Mirrors on the server that cannot drift: each record type (domain/types.py) is
exactly its read statement's columns, each proto field is filled from a record,
each record column reaches the wire (or is an internal id), and enums match the
proto by name."""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any, get_type_hints

import pytest
from google.protobuf.message import Message

from modelreg.api.v1 import (
    lineage_service_pb2,
    production_service_pb2,
    registry_service_pb2,
    tracking_service_pb2,
)
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import datasets as ds
from modelreg_server.domain import deployments as dd
from modelreg_server.domain import errors
from modelreg_server.domain import pipelines as dp
from modelreg_server.domain import runs as dr
from modelreg_server.domain import types as d
from modelreg_server.service import idempotency
from modelreg_server.storage import (
    aliases,
    datasets,
    deployments,
    evaluations,
    models,
    pipelines,
    projects,
    ranking,
    register,
    run_metrics,
    runs,
    versions,
)
from modelreg_server.transport import (
    convert,
    deployment_convert,
    pipeline_convert,
    tracking_convert,
)

T0 = datetime(2026, 11, 27, 10, 11, 12, 345678, tzinfo=timezone.utc)
# Row ids and foreign keys: never on the wire.
INTERNAL = {
    "id", "model_id", "project_id", "parent_id", "version_id", "run_id", "dataset_id",
    "dataset_version_id", "deployment_id", "pipeline_id",
}  # fmt: skip

SAMPLES: dict[type, dict[str, Any]] = {
    d.Project: {
        "id": 1, "name": "proj", "description": "about", "labels": {"team": "nlp"},
        "revision": 3, "create_time": T0, "update_time": T0 + timedelta(seconds=5),
    },
    d.Model: {
        "id": 2, "project_id": 1, "project_name": "proj", "name": "mod", "description": "m",
        "labels": {"k": "v"}, "version_count": 4, "revision": 2, "create_time": T0,
        "update_time": T0 + timedelta(seconds=1),
    },
    d.ModelVersion: {
        "id": 3, "model_id": 2, "project_name": "proj", "model_name": "mod", "version": 4,
        "state": "ARCHIVED", "description": "v", "artifact_uri": "s3://b/m.pt",
        "artifact_sha256": "a" * 64, "artifact_size": 10, "artifact_format": "onnx",
        "architecture": "tx", "architecture_config": '{"layers":6}',
        "param_list": [["lr", "float", "0.1"], ["n", "int", "3"], ["o", "str", "adam"],
                       ["b", "bool", "true"]],
        "data_list": [
            ["corpus", "v1", "b7", "VALIDATION", "projects/proj/datasets/corpus/versions/v1"]
        ],
        "labels": {"stage": "x"},
        "source_run": "run-1", "code_repo": "git@x", "code_commit": "abc", "code_dirty": True,
        "parent_id": 9, "parent": ["proj", "mod", "1"], "created_by": "alice", "revision": 5,
        "create_time": T0, "update_time": T0 + timedelta(seconds=2),
        "alias_names": ["production", "staging"], "run_id": 12,
    },
    d.Alias: {
        "model_id": 2, "project_name": "proj", "model_name": "mod", "alias": "production",
        "version_id": 3, "version": 4, "updated_by": "bob", "revision": 2, "update_time": T0,
    },
    d.AliasEvent: {
        "id": 11, "model_id": 2, "alias": "production", "kind": "ROLLBACK", "from_version": 3,
        "to_version": 2, "actor": "carol", "reason": "regression", "event_time": T0,
    },
    dr.Run: {
        "id": 12, "project_id": 1, "project_name": "proj", "name": "run_001",
        "experiment": "sweep", "state": "SUCCEEDED", "start_time": T0,
        "end_time": T0 + timedelta(seconds=9), "description": "r",
        "param_list": [["lr", "float", "0.1"], ["n", "int", "3"]],
        "input_list": [["corpus", "v1", "b7", "TEST", "projects/proj/datasets/corpus/versions/v1"]],
        "labels": {"team": "nlp"}, "code_repo": "git@x", "code_commit": "abc", "code_dirty": True,
        "created_by": "alice", "revision": 4, "update_time": T0 + timedelta(seconds=3),
        "latest_metrics": {"loss": ["NaN", 7, 1_795_000_000_123_456]},
        "outputs": [["proj", "mod", 4, "s3://b/m.pt"]],
    },
    dr.MetricPoint: {"key": "loss", "step": 3, "id": 99, "value": -0.5, "time": T0},
    ds.Dataset: {
        "id": 5, "project_id": 1, "project_name": "proj", "name": "train", "version_count": 3,
        "create_time": T0, "update_time": T0 + timedelta(seconds=3),
    },
    ds.DatasetVersion: {
        "id": 6, "dataset_id": 5, "project_name": "proj", "dataset_name": "train",
        "version": "v2", "uri": "s3://d/train", "digest": "sha256:ab", "row_count": 10,
        "schema_json": '{"cols":2}', "description": "d", "split": "train", "batch_id": "b1",
        "data_start_time": T0, "data_end_time": T0 + timedelta(days=1),
        "parent_list": ["projects/proj/datasets/raw/versions/v1"], "labels": {"k": "v"},
        "created_by": "dana", "create_time": T0,
    },
    ds.Evaluation: {
        "id": 7, "version_id": 3, "project_name": "proj", "model_name": "mod", "version": 4,
        "evaluation_id": "eval_1", "dataset_version_id": 6,
        "dataset_version_name": "projects/proj/datasets/test/versions/v1", "slice": "kr",
        "metrics": {"precision": 0.78}, "run_id": 12, "run_name": "projects/proj/runs/run_001",
        "labels": {"k": "v"}, "created_by": "erin", "create_time": T0,
    },
    dd.Deployment: {
        "id": 8, "project_id": 1, "model_id": 2, "project_name": "proj", "model_name": "mod",
        "name": "prod", "environment": "eu", "state": "PAUSED", "traffic": [[1, 90], [4, 10]],
        "description": "d", "labels": {"k": "v"}, "created_by": "fay", "updated_by": "gus",
        "revision": 3, "create_time": T0, "update_time": T0 + timedelta(seconds=4),
    },
    dd.DeploymentEvent: {
        "id": 13, "deployment_id": 8, "kind": "TRAFFIC", "traffic": [[1, 90], [4, 10]],
        "state": "RETIRED", "environment": "eu", "actor": "gus", "reason": "canary",
        "event_time": T0,
    },
    dp.PipelineRun: {
        "id": 14, "pipeline_id": 15, "project_id": 1, "project_name": "proj",
        "pipeline_name": "nightly", "name": "run_001", "definition_version": "git:ab12",
        "state": "FAILED", "start_time": T0, "end_time": T0 + timedelta(seconds=9),
        "param_list": [["lr", "float", "0.1"]], "labels": {"k": "v"}, "description": "d",
        "error": "step train: boom", "created_by": "hal", "revision": 4,
        "update_time": T0 + timedelta(seconds=3),
        "steps": [{
            "step_id": "train", "position": 1, "state": "SUCCEEDED",
            "start_us": 1_795_000_000_000_001, "end_us": 1_795_000_000_000_002,
            "param_list": [["n", "int", "3"]], "error": "x", "update_us": 1_795_000_000_000_003,
            "inputs": [["projects/proj/datasets/d/versions/v1", "BATCH", "train"]],
            "outputs": [["projects/proj/models/mod/versions/4", "MODEL_VERSION", "model"]],
        }],
    },
    dp.Pipeline: {
        "id": 15, "project_id": 1, "project_name": "proj", "name": "nightly", "run_count": 3,
        "latest_run": "run_003", "create_time": T0, "update_time": T0 + timedelta(seconds=8),
    },
}  # fmt: skip
SAMPLES[ds.RankedVersion] = {**SAMPLES[d.ModelVersion], "score": 0.78, "evaluation": "eval_1"}

FILL: dict[type, tuple[type[Message], Callable[[Any, Any], Any]]] = {
    d.Project: (pb.Project, convert.fill_project),
    d.Model: (pb.Model, convert.fill_model),
    d.ModelVersion: (pb.ModelVersion, convert.fill_version),
    d.Alias: (pb.Alias, convert.fill_alias),
    d.AliasEvent: (pb.AliasEvent, convert.fill_alias_event),
    dr.Run: (pb.Run, tracking_convert.fill_run),
    dr.MetricPoint: (pb.Metric, tracking_convert.fill_metric),
    ds.Dataset: (pb.Dataset, tracking_convert.fill_dataset),
    ds.DatasetVersion: (pb.DatasetVersion, tracking_convert.fill_dataset_version),
    ds.Evaluation: (pb.Evaluation, tracking_convert.fill_evaluation),
    ds.RankedVersion: (
        tracking_service_pb2.RankedModelVersion,
        lambda msg, r: tracking_convert.fill_ranked(msg, r, 1),
    ),
    dd.Deployment: (pb.Deployment, deployment_convert.fill_deployment),
    dd.DeploymentEvent: (pb.DeploymentEvent, deployment_convert.fill_event),
    dp.PipelineRun: (pb.PipelineRun, pipeline_convert.fill_pipeline_run),
    dp.Pipeline: (pb.Pipeline, pipeline_convert.fill_pipeline),
}
STATEMENTS = {
    d.Project: projects.READ,
    d.Model: models.READ,
    d.ModelVersion: versions.READ,
    d.Alias: aliases.READ,
    d.AliasEvent: aliases.READ_EVENTS,
    dr.Run: runs.READ,
    dr.MetricPoint: run_metrics.READ_POINTS,
    ds.Dataset: datasets.READ_DATASETS,
    ds.DatasetVersion: datasets.READ,
    ds.Evaluation: evaluations.READ,
    ds.RankedVersion: ranking.READ,
    dd.Deployment: deployments.READ,
    dd.DeploymentEvent: deployments.READ_EVENTS,
    dp.PipelineRun: pipelines.READ,
    dp.Pipeline: pipelines.READ_PIPELINES,
}


@pytest.mark.parametrize("record", list(STATEMENTS), ids=lambda t: t.__name__)
def test_record_type_is_its_read_statement(record: type) -> None:
    columns = {c.key for c in STATEMENTS[record].selected_columns}
    assert columns == set(get_type_hints(record))
    assert set(SAMPLES[record]) == columns


def test_registration_returns_the_read_record() -> None:
    spec = d.NewModelVersion(artifact=d.Artifact("s3://b/m.pt"))
    columns = tuple(register.version_values(spec, None, "t"))
    statement = register._statement(columns)
    keys = [c.key for c in versions.READ.selected_columns]
    assert statement.sql.rstrip().endswith("FROM registered")
    for key in keys:
        assert f"registered.{key}" in statement.sql


def _unset(msg: Message, prefix: str = "") -> list[str]:
    """Paths of the fields of ``msg`` left at their default, looking into nested messages."""
    missing = []
    for field in msg.DESCRIPTOR.fields:
        path = f"{prefix}{field.name}"
        value = getattr(msg, field.name)
        if field.is_repeated:
            if len(value) == 0:
                missing.append(path)
            elif field.message_type is not None and not field.message_type.GetOptions().map_entry:
                missing += _unset(value[0], f"{path}[0].")
        elif field.message_type is not None:
            if not msg.HasField(field.name):
                missing.append(path)
            elif field.message_type.full_name != "google.protobuf.Timestamp":
                missing += _unset(value, f"{path}.")
        elif value == field.default_value:
            missing.append(path)
    return missing


@pytest.mark.parametrize("record", list(FILL), ids=lambda t: t.__name__)
def test_every_proto_field_is_filled_from_the_record(record: type) -> None:
    message, fill = FILL[record]
    assert _unset(fill(message(), SAMPLES[record])) == []


def _changed(key: str, value: Any) -> Any:
    if key == "param_list":
        return [*value, ["extra", "str", "x"]]
    if key == "parent":
        return [*value[:2], "2"]
    if key == "steps":
        return [*value, {**value[0], "step_id": "other"}]
    if key == "latest_metrics":
        return {**value, "bleu": ["31.5", 1, 0]}
    if isinstance(value, float):
        return value + 1
    if value in ("ACTIVE", "PAUSED", "RETIRED"):
        return "ACTIVE" if value != "ACTIVE" else "PAUSED"
    if value in ("CREATE", "TRAFFIC", "STATE", "UPDATE"):
        return "STATE" if value != "STATE" else "UPDATE"
    if value in ("RUNNING", "SUCCEEDED", "FAILED", "CANCELLED"):
        return "FAILED" if value != "FAILED" else "CANCELLED"
    if key == "metrics":
        return {**value, "extra": 1.5}
    if isinstance(value, bool):
        return not value
    if isinstance(value, float):
        return value + 0.5
    if isinstance(value, int):
        return value + 1
    if isinstance(value, datetime):
        return value + timedelta(microseconds=1)
    if isinstance(value, dict):
        return {**value, "extra": "x"}
    if isinstance(value, list):
        return [*value, copy.deepcopy(value[0])] if isinstance(value[0], list) else [*value, "z"]
    if value in ("READY", "ARCHIVED", "DELETED"):
        return "DELETED"
    if value in ("SET", "ROLLBACK", "DELETE"):
        return "SET"
    if value.startswith("{"):
        return '{"layers":7}'
    return value + "x"


@pytest.mark.parametrize("record", list(FILL), ids=lambda t: t.__name__)
def test_every_record_column_reaches_the_wire(record: type) -> None:
    message, fill = FILL[record]
    base = fill(message(), SAMPLES[record])
    for key in SAMPLES[record]:
        if key in INTERNAL:
            continue
        sample = dict(SAMPLES[record])
        sample[key] = _changed(key, sample[key])
        assert fill(message(), sample) != base, f"{record.__name__}.{key} does not reach the wire"


@pytest.mark.parametrize(
    ("enum_map", "proto_values"),
    [
        (convert.STATES, pb.ModelVersion.State.keys()),
        (convert.ROLES, [n.removeprefix("DATA_ROLE_") for n in pb.DataRole.keys()]),  # noqa: SIM118
        (convert.EVENT_KINDS, pb.AliasEvent.Kind.keys()),
        (tracking_convert.RUN_STATES, pb.Run.State.keys()),
        (deployment_convert.STATES, pb.Deployment.State.keys()),
        (deployment_convert.EVENT_KINDS, pb.DeploymentEvent.Kind.keys()),
        (pipeline_convert.RUN_STATES, pb.PipelineRun.State.keys()),
        (pipeline_convert.STEP_STATES, pb.PipelineStep.State.keys()),
    ],
    ids=[
        "state",
        "role",
        "event-kind",
        "run-state",
        "deployment-state",
        "deployment-event",
        "pipeline-run-state",
        "pipeline-step-state",
    ],
)
def test_enums_match_by_name(enum_map: convert.EnumMap, proto_values: list[str]) -> None:
    named = {v for v in proto_values if not v.endswith("UNSPECIFIED")}
    assert {m.name for m in enum_map.domain} == named
    for member, number in enum_map.to_pb.items():
        assert enum_map.proto.values_by_number[number].name.endswith(member.name)
        assert enum_map.parse(number, "f") is member


def test_unknown_enum_numbers_are_refused() -> None:
    with pytest.raises(errors.InvalidArgument) as info:
        convert.STATES.parse(99, "model_version.state")
    assert info.value.violations[0].field == "model_version.state"


# The input side: every field a caller may set on a new version reaches the domain.
SERVER_SET = {
    "name", "version", "display_name", "state", "created_by", "create_time", "update_time",
    "etag", "aliases",
}  # fmt: skip
INPUT_RENAMES = {"parent_version": "parent"}


def test_new_version_takes_every_settable_field() -> None:
    settable = {f.name for f in pb.ModelVersion.DESCRIPTOR.fields} - SERVER_SET
    domain = {f.name for f in dataclasses.fields(d.NewModelVersion)}
    assert {INPUT_RENAMES.get(n, n) for n in settable} == domain


def test_every_mutation_declares_its_request_id_policy() -> None:
    """Each RPC whose request has a request_id has a Mutation, and nothing else does."""
    methods = {
        m.name: m
        for file in (
            registry_service_pb2,
            tracking_service_pb2,
            production_service_pb2,
            lineage_service_pb2,
        )
        for service in file.DESCRIPTOR.services_by_name.values()
        for m in service.methods
    }
    # Reads take none (ListInferenceRecords' request_id filters by a record's request id).
    taking_ids = {
        n
        for n, m in methods.items()
        if "request_id" in m.input_type.fields_by_name and not n.startswith(("Get", "List"))
    }
    assert taking_ids == set(idempotency.MUTATIONS)
    for name, mutation in idempotency.MUTATIONS.items():
        returns = methods[name].output_type.full_name != "google.protobuf.Empty"
        assert mutation.returns_record == returns, name
