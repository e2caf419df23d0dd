"""The field limits (limits.py, MODELREG_MAX_*) over real gRPC: every limit at its
value is accepted and one past it is INVALID_ARGUMENT naming the field and the
setting, with no row written; once on the session server (the defaults) and once
on a server started with every limit lowered through its MODELREG_* variable.
Inference records are checked one by one: a record over a limit is rejected by
itself, the rest of its batch stored."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, fields
from typing import Any

import grpc
import pytest
from google.protobuf import field_mask_pb2

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as lrpc
from modelreg.api.v1 import production_service_pb2 as prpc
from modelreg.api.v1 import registry_service_pb2 as rrpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as trpc
from modelreg_server import config
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits, setting
from modelreg_server.testing import ServerThread
from tests.bad_input import bad_fields
from tests.conftest import unique
from tests.field_limits_support import Stubs, row_counts, stubs
from tests.hostile import outcome
from tests.inference_support import record
from tests.support import ACTOR, dataset_version, sql

LOWERED = FieldLimits(
    max_params=3,
    max_param_value_chars=10,
    max_labels=2,
    max_label_value_chars=5,
    max_metric_points=4,
    max_evaluation_metrics=3,
    max_metric_key_chars=8,
    max_inference_json_bytes=200,
    max_inference_json_depth=3,
    max_attributes=2,
    max_attribute_value_chars=6,
)
T = 60


@dataclass(frozen=True)
class World:
    """A server's stubs and what the cases write under: a project with model ``m``
    (version 1) and dataset version ``d/v1``."""

    target: str
    stubs: Stubs
    project: str
    limits: FieldLimits

    @property
    def parent(self) -> str:
        return f"projects/{self.project}"


def _world(target: str, limits: FieldLimits) -> Iterator[World]:
    with stubs(target) as s:
        project = unique("lim")
        s.registry.CreateProject(rrpc.CreateProjectRequest(project_id=project), metadata=ACTOR)
        parent = f"projects/{project}"
        s.registry.CreateModel(rrpc.CreateModelRequest(parent=parent, model_id="m"), metadata=ACTOR)
        s.registry.CreateModelVersion(_version(project), metadata=ACTOR)
        dataset_version(s.tracking, project, "d", "v1")
        yield World(target, s, project, limits)


@pytest.fixture(scope="module")
def lowered_server(database_url: str) -> Iterator[ServerThread]:
    """A server started from MODELREG_* variables, every field limit lowered."""
    env = {setting(f.name): str(getattr(LOWERED, f.name)) for f in fields(FieldLimits)}
    env["MODELREG_DATABASE_URL"] = database_url
    settings = config.parse(["--listen", "127.0.0.1:0"], env)
    assert settings.field_limits == LOWERED
    server = ServerThread(settings).start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module", params=["defaults", "lowered"])
def world(request: pytest.FixtureRequest) -> Iterator[World]:
    if request.param == "defaults":
        yield from _world(request.getfixturevalue("target"), DEFAULT_LIMITS)
    else:
        yield from _world(request.getfixturevalue("lowered_server").target, LOWERED)


# Request builders: ``n`` labels or params, or one of ``n`` characters.


def _labels(n: int) -> dict[str, str]:
    return {f"k{i}": "v" for i in range(n)}


def _long_label(n: int) -> dict[str, str]:
    return {"k": "v" * n}


def _params(n: int) -> dict[str, pb.ParamValue]:
    return {f"p{i}": pb.ParamValue(int_value=i) for i in range(n)}


def _long_param(n: int) -> dict[str, pb.ParamValue]:
    return {"p": pb.ParamValue(string_value="x" * n)}


def _version(project: str, **fields: Any) -> rrpc.CreateModelVersionRequest:
    return rrpc.CreateModelVersionRequest(
        parent=f"projects/{project}/models/m",
        model_version=pb.ModelVersion(artifact=pb.Artifact(uri="s3://b/m.pt"), **fields),
    )


def _run(w: World, **fields: Any) -> str:
    """A new RUNNING run's name."""
    request = trpc.CreateRunRequest(parent=w.parent, run=pb.Run(**fields))
    run: pb.Run = w.stubs.tracking.CreateRun(request, metadata=ACTOR, timeout=T)
    return run.name


def _pipeline_run(w: World) -> str:
    request = lrpc.CreatePipelineRunRequest(
        parent=f"{w.parent}/pipelines/nightly", pipeline_run=pb.PipelineRun()
    )
    return str(w.stubs.lineage.CreatePipelineRun(request, metadata=ACTOR, timeout=T).name)


def _evaluation(w: World, metrics: dict[str, float], **fields: Any) -> trpc.CreateEvaluationRequest:
    return trpc.CreateEvaluationRequest(
        parent=f"{w.parent}/models/m/versions/1",
        evaluation=pb.Evaluation(
            dataset_version=f"{w.parent}/datasets/d/versions/v1", metrics=metrics, **fields
        ),
    )


def _points(n: int, key: str = "loss") -> list[pb.Metric]:
    return [pb.Metric(key=key, value=float(i), step=i) for i in range(n)]


def _shown(key: str) -> str:
    """A map key as the server's field paths show it (validation.shown)."""
    return repr(key if len(key) <= 80 else key[:80] + "...")


# A case: (stub method, request, the field an error names) for size ``n``.
Call = tuple[Callable[..., Any], Any, str]
Build = Callable[[World, int], Call]


def _label_cases(labels: Callable[[int], dict[str, str]], key: str) -> dict[str, Build]:
    """Every resource with labels, created (and some updated) with ``labels(n)``."""
    at = f"[{_shown(key)}]" if key else ""

    def project(w: World, n: int) -> Call:
        req = rrpc.CreateProjectRequest(project_id=unique(), project=pb.Project(labels=labels(n)))
        return w.stubs.registry.CreateProject, req, f"project.labels{at}"

    def model(w: World, n: int) -> Call:
        req = rrpc.CreateModelRequest(
            parent=w.parent, model_id=unique("m"), model=pb.Model(labels=labels(n))
        )
        return w.stubs.registry.CreateModel, req, f"model.labels{at}"

    def version(w: World, n: int) -> Call:
        req = _version(w.project, labels=labels(n))
        return w.stubs.registry.CreateModelVersion, req, f"model_version.labels{at}"

    def run(w: World, n: int) -> Call:
        req = trpc.CreateRunRequest(parent=w.parent, run=pb.Run(labels=labels(n)))
        return w.stubs.tracking.CreateRun, req, f"run.labels{at}"

    def dataset(w: World, n: int) -> Call:
        req = trpc.CreateDatasetVersionRequest(
            parent=f"{w.parent}/datasets/d",
            dataset_version=pb.DatasetVersion(uri="s3://d", labels=labels(n)),
        )
        return w.stubs.tracking.CreateDatasetVersion, req, f"dataset_version.labels{at}"

    def evaluation(w: World, n: int) -> Call:
        req = _evaluation(w, {"acc": 0.5}, labels=labels(n))
        return w.stubs.tracking.CreateEvaluation, req, f"evaluation.labels{at}"

    def deployment(w: World, n: int) -> Call:
        req = prpc.CreateDeploymentRequest(
            parent=w.parent,
            deployment_id=unique("dep"),
            deployment=pb.Deployment(
                model=f"{w.parent}/models/m",
                traffic=[pb.TrafficSplit(version=1, percent=100)],
                labels=labels(n),
            ),
        )
        return w.stubs.production.CreateDeployment, req, f"deployment.labels{at}"

    def pipeline_run(w: World, n: int) -> Call:
        req = lrpc.CreatePipelineRunRequest(
            parent=f"{w.parent}/pipelines/nightly", pipeline_run=pb.PipelineRun(labels=labels(n))
        )
        return w.stubs.lineage.CreatePipelineRun, req, f"pipeline_run.labels{at}"

    mask = field_mask_pb2.FieldMask(paths=["labels"])

    def update_run(w: World, n: int) -> Call:
        req = trpc.UpdateRunRequest(run=pb.Run(name=_run(w), labels=labels(n)), update_mask=mask)
        return w.stubs.tracking.UpdateRun, req, f"run.labels{at}"

    def update_version(w: World, n: int) -> Call:
        name = f"{w.parent}/models/m/versions/1"
        req = rrpc.UpdateModelVersionRequest(
            model_version=pb.ModelVersion(name=name, labels=labels(n)), update_mask=mask
        )
        return w.stubs.registry.UpdateModelVersion, req, f"model_version.labels{at}"

    def update_project(w: World, n: int) -> Call:
        req = rrpc.UpdateProjectRequest(
            project=pb.Project(name=w.parent, labels=labels(n)), update_mask=mask
        )
        return w.stubs.registry.UpdateProject, req, f"project.labels{at}"

    return {
        "project": project,
        "model": model,
        "model_version": version,
        "run": run,
        "dataset_version": dataset,
        "evaluation": evaluation,
        "deployment": deployment,
        "pipeline_run": pipeline_run,
        "update_run": update_run,
        "update_model_version": update_version,
        "update_project": update_project,
    }


def _param_cases(params: Callable[[int], dict[str, pb.ParamValue]], key: str) -> dict[str, Build]:
    """Everything with params, sent with ``params(n)``."""
    at = f"[{_shown(key)}]" if key else ""

    def version(w: World, n: int) -> Call:
        req = _version(w.project, params=params(n))
        return w.stubs.registry.CreateModelVersion, req, f"model_version.params{at}"

    def run(w: World, n: int) -> Call:
        req = trpc.CreateRunRequest(parent=w.parent, run=pb.Run(params=params(n)))
        return w.stubs.tracking.CreateRun, req, f"run.params{at}"

    def log(w: World, n: int) -> Call:
        req = trpc.LogRunDataRequest(run=_run(w), params=params(n))
        return w.stubs.tracking.LogRunData, req, f"params{at}"

    def end(w: World, n: int) -> Call:
        req = trpc.EndRunRequest(name=_run(w), state=pb.Run.SUCCEEDED, params=params(n))
        return w.stubs.tracking.EndRun, req, f"params{at}"

    def pipeline_run(w: World, n: int) -> Call:
        req = lrpc.CreatePipelineRunRequest(
            parent=f"{w.parent}/pipelines/nightly", pipeline_run=pb.PipelineRun(params=params(n))
        )
        return w.stubs.lineage.CreatePipelineRun, req, f"pipeline_run.params{at}"

    def step(w: World, n: int) -> Call:
        req = lrpc.RecordPipelineStepRequest(
            parent=_pipeline_run(w),
            step_id="train",
            step=pb.PipelineStep(state=pb.PipelineStep.RUNNING, params=params(n)),
        )
        return w.stubs.lineage.RecordPipelineStep, req, f"step.params{at}"

    return {
        "model_version": version,
        "run": run,
        "log_run_data": log,
        "end_run": end,
        "pipeline_run": pipeline_run,
        "pipeline_step": step,
    }


def _metric_cases() -> dict[str, tuple[str, Build]]:
    def points(w: World, n: int) -> Call:
        req = trpc.LogRunDataRequest(run=_run(w), metrics=_points(n))
        return w.stubs.tracking.LogRunData, req, "metrics"

    def end_points(w: World, n: int) -> Call:
        req = trpc.EndRunRequest(name=_run(w), state=pb.Run.SUCCEEDED, metrics=_points(n))
        return w.stubs.tracking.EndRun, req, "metrics"

    def evaluation_metrics(w: World, n: int) -> Call:
        req = _evaluation(w, {f"m{i}": 0.5 for i in range(n)})
        return w.stubs.tracking.CreateEvaluation, req, "evaluation.metrics"

    def point_key(w: World, n: int) -> Call:
        # The bad point is not the first: the error names it.
        metrics = [*_points(2), pb.Metric(key="k" * n, value=1.0, step=1)]
        req = trpc.LogRunDataRequest(run=_run(w), metrics=metrics)
        return w.stubs.tracking.LogRunData, req, "metrics[2].key"

    def evaluation_key(w: World, n: int) -> Call:
        key = "k" * n
        req = _evaluation(w, {"acc": 0.5, key: 0.5})
        return w.stubs.tracking.CreateEvaluation, req, f"evaluation.metrics[{_shown(key)}]"

    return {
        "log_run_data_points": ("max_metric_points", points),
        "end_run_points": ("max_metric_points", end_points),
        "evaluation_metrics": ("max_evaluation_metrics", evaluation_metrics),
        "log_run_data_key": ("max_metric_key_chars", point_key),
        "evaluation_key": ("max_metric_key_chars", evaluation_key),
    }


CASES: dict[str, tuple[str, Build]] = {
    **{f"labels-{k}": ("max_labels", b) for k, b in _label_cases(_labels, "").items()},
    **{
        f"label_value-{k}": ("max_label_value_chars", b)
        for k, b in _label_cases(_long_label, "k").items()
    },
    **{f"params-{k}": ("max_params", b) for k, b in _param_cases(_params, "").items()},
    **{
        f"param_value-{k}": ("max_param_value_chars", b)
        for k, b in _param_cases(_long_param, "p").items()
    },
    **_metric_cases(),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_a_limit_holds_its_value_and_refuses_one_more(
    world: World, database_url: str, case: str
) -> None:
    limit_name, build = CASES[case]
    limit = getattr(world.limits, limit_name)

    method, request, _ = build(world, limit)
    code, status = outcome(method, request)
    assert code == grpc.StatusCode.OK, status.message

    method, request, field = build(world, limit + 1)
    before = row_counts(database_url)
    code, status = outcome(method, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [field], status.message
    assert setting(limit_name) in status.message
    assert str(limit) in status.message
    assert row_counts(database_url) == before


def test_a_run_holds_at_most_max_params_over_all_its_calls(world: World) -> None:
    limit = world.limits.max_params
    run = _run(world, params={f"a{i}": pb.ParamValue(int_value=i) for i in range(limit - 1)})
    log = world.stubs.tracking.LogRunData
    assert outcome(log, trpc.LogRunDataRequest(run=run, params=_params(1)))[0] == grpc.StatusCode.OK
    code, status = outcome(log, trpc.LogRunDataRequest(run=run, params={"b": _params(1)["p0"]}))
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == ["params"]
    assert setting("max_params") in status.message
    got = world.stubs.tracking.GetRun(trpc.GetRunRequest(name=run), timeout=T)
    assert len(got.params) == limit


# Inference records: each limit on one record of a batch of three.


def _json_of_bytes(n: int) -> bytes:
    doc = b'{"a":"' + b"x" * (n - 8) + b'"}'
    assert len(doc) == n
    return doc


def _json_of_depth(depth: int, width: int = 1) -> bytes:
    """An object ``depth`` levels deep; from depth 3, ``width`` empty arrays side by
    side at the bottom add brackets (so the check must parse it) but no depth."""
    if depth < 3:
        doc = b'{"a":[]}' if depth == 2 else b'{"a":1}'
    else:
        bottom = b"[" + b",".join([b"[]"] * width) + b"]"
        doc = b'{"a":' * (depth - 2) + bottom + b"}" * (depth - 2)
    assert _depth(json.loads(doc)) == depth
    return doc


def _depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((_depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((_depth(v) for v in value), default=0)
    return 0


RecordCase = Callable[[FieldLimits, int], tuple[str, dict[str, Any]]]
RECORD_CASES: dict[str, tuple[str, RecordCase]] = {
    "inputs_bytes": (
        "max_inference_json_bytes",
        lambda _, n: ("inputs", {"inputs": _json_of_bytes(n)}),
    ),
    "outputs_bytes": (
        "max_inference_json_bytes",
        lambda _, n: ("outputs", {"outputs": _json_of_bytes(n)}),
    ),
    "inputs_depth": (
        "max_inference_json_depth",
        lambda lim, n: ("inputs", {"inputs": _json_of_depth(n, lim.max_inference_json_depth)}),
    ),
    "outputs_depth": (
        "max_inference_json_depth",
        lambda lim, n: ("outputs", {"outputs": _json_of_depth(n, lim.max_inference_json_depth)}),
    ),
    "attributes": (
        "max_attributes",
        lambda _, n: ("attributes", {"attributes": {f"a{i}": "v" for i in range(n)}}),
    ),
    "attribute_value": (
        "max_attribute_value_chars",
        lambda _, n: ("attributes", {"attributes": {"a": "v" * n}}),
    ),
}


def _batch(w: World, records: list[pb.InferenceRecord]) -> Any:
    request = prpc.WriteInferenceRecordBatchRequest(
        parent=w.parent, writer_id="w", batch_seq=0, records=records
    )
    return w.stubs.production.WriteInferenceRecordBatch(request, metadata=ACTOR, timeout=T)


def _stored(database_url: str, ids: list[str]) -> set[str]:
    rows = sql(
        database_url,
        "SELECT record_id::text AS id FROM inference_records WHERE record_id = ANY($1::uuid[])",
        ids,
    )
    return {r["id"] for r in rows}


@pytest.mark.parametrize("case", sorted(RECORD_CASES))
def test_an_inference_record_over_a_limit_is_refused_by_itself(
    world: World, database_url: str, case: str
) -> None:
    limit_name, build = RECORD_CASES[case]
    limit = getattr(world.limits, limit_name)
    for n, good in ((limit, True), (limit + 1, False)):
        field, extra = build(world.limits, n)
        records = [record("m", record_id=str(uuid.uuid4()), **kw) for kw in ({}, extra, {})]
        ids = [r.record_id for r in records]
        ack = _batch(world, records)
        if good:
            assert (ack.accepted, list(ack.errors)) == (3, []), ack
            assert _stored(database_url, ids) == set(ids)
            continue
        assert ack.accepted == 2, ack
        (error,) = ack.errors
        assert (error.index, error.record_id, error.field) == (1, ids[1], f"records[1].{field}")
        assert error.reason == "INVALID_ARGUMENT"
        assert setting(limit_name) in error.message and str(limit) in error.message
        assert _stored(database_url, ids) == {ids[0], ids[2]}


def test_brackets_inside_strings_are_not_depth(world: World, database_url: str) -> None:
    """The fast depth check counts every bracket; the full one only structure."""
    many = world.limits.max_inference_json_depth + 5
    doc = json.dumps({"text": "[{" * many}).encode()
    if len(doc) > world.limits.max_inference_json_bytes:
        pytest.skip("the document would be over the byte limit")
    r = record("m", inputs=doc, outputs=doc)
    ack = _batch(world, [r])
    assert (ack.accepted, list(ack.errors)) == (1, []), ack


def test_not_json_is_still_invalid_json(world: World) -> None:
    """A document the depth check cannot parse goes on to the JSON check."""
    doc = b"[" * (world.limits.max_inference_json_depth + 1) + b"not json"
    ack = _batch(world, [record("m", inputs=doc)])
    assert ack.accepted == 0
    (error,) = ack.errors
    assert (error.field, error.reason) == ("records[0].inputs", "INVALID_JSON"), error


def test_the_stream_applies_the_limits_per_record(world: World) -> None:
    limit = world.limits.max_inference_json_depth
    records = [record("m"), record("m", outputs=_json_of_depth(limit + 1)), record("m")]
    request = prpc.WriteInferenceRecordsRequest(
        parent=world.parent, writer_id="s", batch_seq=1, records=records
    )
    (ack,) = world.stubs.production.WriteInferenceRecords(
        iter([request]), metadata=ACTOR, timeout=T
    )
    assert (ack.batch_seq, ack.accepted) == (1, 2)
    assert [e.field for e in ack.errors] == ["records[1].outputs"]


def test_metric_reads_take_keys_longer_than_the_write_limit(world: World) -> None:
    """Reads accept any key a server may have stored, so lowering the limit keeps
    older metrics readable."""
    key = "k" * (world.limits.max_metric_key_chars + 1)
    run = _run(world)
    request = trpc.ListMetricHistoryRequest(run=run, key=key)
    page = world.stubs.tracking.ListMetricHistory(request, timeout=T)
    assert list(page.metrics) == []


@pytest.mark.parametrize("value", ["中" * 801, "x" * 2_401, "é" * 1_201])
def test_a_param_value_over_what_an_index_entry_holds_is_refused_not_internal(
    client: Any, project: str, database_url: str, value: str
) -> None:
    """Param values are indexed: at most 2,400 bytes in UTF-8 (before, a long
    value that did not compress failed in the database, INTERNAL)."""
    before = sql(database_url, "SELECT count(*) AS n FROM model_versions")[0]["n"]
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        client.register_model_version(project, "m", artifact_uri="s3://b/x", params={"p": value})
    assert info.value.field == "model_version.params['p']"
    assert "2400" in str(info.value)
    assert sql(database_url, "SELECT count(*) AS n FROM model_versions")[0]["n"] == before
    fits = "中" * 800  # 2,400 bytes
    v = client.register_model_version(project, "m", artifact_uri="s3://b/x", params={"p": fits})
    assert v.params["p"] == fits
