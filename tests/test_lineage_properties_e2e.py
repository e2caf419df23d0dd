"""Property: no request a client can send to LineageService makes the server answer
INTERNAL or UNKNOWN, and a rejected request changes no row.

Every LineageService method is driven with requests built from its descriptor (the
generic builder of test_properties_e2e.py), aimed at a small world: a dataset with
two batch versions and a holdout, a model with three versions fine-tuned in a chain
and trained on the batches, a run, an evaluation, a deployment with an inference
window, and a pipeline run with a SUCCEEDED step referencing them. String fields are
often names of real resources of every kind (windows, steps, aliases), malformed
variants of them (extra or empty segments, 5,000-digit numbers, ``-``, NUL, unicode)
and page tokens of real listings; parts of each request are then made sane (the
name it addresses, its enums, times, map keys) most of the time, so that requests
get past the first check to the deeper ones. A second test sends random bytes and
encoded lone surrogates; a third puts SQL metacharacters in every
string field of CreatePipelineRun and RecordPipelineStep: stored verbatim, or
rejected with INVALID_ARGUMENT naming a field. Runs are derandomized.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, time, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf import message_factory
from google.protobuf.descriptor import FieldDescriptor
from google.protobuf.timestamp_pb2 import Timestamp
from grpc_status import rpc_status
from hypothesis import given, settings
from hypothesis import strategies as st

import modelreg
from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2 as reg
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import bad_fields
from tests.conftest import unique
from tests.hostile import ACTOR, HUGE_NUMBER, TableDigest, outcome
from tests.inference_support import record, write
from tests.pipeline_support import Step, create, ref
from tests.pipeline_support import record as record_step
from tests.support import own_database_and_server
from tests.test_properties_e2e import (
    BAD_FIELDS,
    ENCODED_SURROGATE,
    FILTER_OPS,
    FILTER_VALUES,
    NEVER,
    SETTINGS,
    messages,
    mostly,
    proto_text,
)

SERVICE = rpc.DESCRIPTOR.services_by_name["LineageService"]
METHODS = [m.name for m in SERVICE.methods]
LINEAGE_SETTINGS = settings(SETTINGS, max_examples=40)

database_url, server, target = own_database_and_server()


@dataclass(frozen=True)
class World:
    """The resources the examples aim at, by key, and genuine page tokens."""

    project: str
    names: dict[str, str]
    tokens: tuple[str, ...]

    def __getitem__(self, key: str) -> str:
        return self.names[key]


@pytest.fixture(scope="module")
def world(target: str) -> Iterator[World]:
    with modelreg.Client(target, actor="tester") as c:
        p = unique("lprop")
        c.create_project(p, labels={"team": "nlp"})
        lin = c.lineage_stub
        b05 = c.create_dataset_version(
            p, "events", uri="s3://d/05", version="b05", batch_id="2024-11-05"
        )
        b06 = c.create_dataset_version(
            p, "events", uri="s3://d/06", version="b06", batch_id="2024-11-06"
        )
        holdout = c.create_dataset_version(p, "events", uri="s3://d/h", version="h1", split="test")
        with c.start_run(p, run_id="train", inputs=[b05]) as run:
            v1 = run.register_model_version("m", artifact_uri="s3://m/1")
        v2 = c.register_model_version(
            p,
            "m",
            artifact_uri="s3://m/2",
            training_data=[(b06, "TRAIN")],
            parent_version=v1.resource_name,
        )
        v3 = c.register_model_version(
            p,
            "m",
            artifact_uri="s3://m/3",
            training_data=[(b06, "TRAIN"), (b05, "VALIDATION")],
            parent_version=v2.resource_name,
        )
        ev = c.log_evaluation(
            v3, dataset=holdout, metrics={"accuracy": 0.9}, run=f"projects/{p}/runs/train"
        )
        c.set_alias(p, "m", "production", 3)
        c.create_deployment(p, "prod", model="m", traffic={3: 100})
        yesterday = datetime.now(timezone.utc).date() - timedelta(days=1)
        when = datetime.combine(yesterday, time(12), timezone.utc)
        records = [record("m", 3, deployment="prod", event_time=when) for _ in range(3)]
        assert write(c.production_stub, p, records).accepted == 3
        base = f"projects/{p}"
        prun = create(lin, p, "nightly", definition_version="git:ab12").name
        record_step(
            lin,
            prun,
            "train",
            Step.SUCCEEDED,
            [ref(b05.resource_name, role="train"), b06.resource_name],
            [v3.resource_name, ev.resource_name, f"{base}/deployments/prod"],
        )
        prun2 = create(lin, p, "nightly").name  # a second run, for a page token
        prun3 = create(lin, p, "weekly").name
        day = yesterday.isoformat()
        names = {
            "project": base,
            "b05": b05.resource_name,
            "b06": b06.resource_name,
            "holdout": holdout.resource_name,
            "dataset": f"{base}/datasets/events",
            "run": f"{base}/runs/train",
            "model": f"{base}/models/m",
            "v1": v1.resource_name,
            "v2": v2.resource_name,
            "v3": v3.resource_name,
            "alias": f"{base}/models/m/versions/production",
            "latest": f"{base}/models/m/versions/latest",
            "eval": ev.resource_name,
            "prod": f"{base}/deployments/prod",
            "window": f"{base}/deployments/prod/windows/{day}",
            "model_window": f"{base}/models/m/windows/{day}",
            "pipeline": f"{base}/pipelines/nightly",
            "pipelines": f"{base}/pipelines/-",
            "prun": prun,
            "prun2": prun2,
            "prun3": prun3,
            "step": f"{prun}/steps/train",
        }
        pages = [
            lin.ListPipelineRuns(
                rpc.ListPipelineRunsRequest(parent=names["pipeline"], page_size=1)
            ),
            lin.ListPipelines(rpc.ListPipelinesRequest(parent=base, page_size=1)),
            lin.ListBatches(rpc.ListBatchesRequest(parent=base, page_size=1)),
            lin.ListVersionsTrainedOn(
                rpc.ListVersionsTrainedOnRequest(parent=base, batch_id="2024-11-06", page_size=1)
            ),
            c.stub.ListModelVersions(
                reg.ListModelVersionsRequest(parent=names["model"], page_size=1)
            ),
        ]
        tokens = tuple(page.next_page_token for page in pages if page.next_page_token)
        assert len(tokens) == 5
        yield World(p, names, tokens)


@pytest.fixture(scope="module")
def digest(database_url: str) -> Iterator[TableDigest]:
    d = TableDigest(database_url)
    yield d
    d.close()


@pytest.fixture(scope="module")
def channel(target: str) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(target) as ch:
        yield ch


def raw_lineage_method(channel: grpc.Channel, method: str) -> Callable[..., Any]:
    """A LineageService method that takes and returns bytes, as they are on the wire."""
    return channel.unary_unary(f"/modelreg.api.v1.LineageService/{method}")


# Strategies by field

BAD_SEGMENTS = [
    "", "-", HUGE_NUMBER, "0", "99", "a\x00b", "\u0661", "\u00e9t\u00e9", "x" * 300, "Bad",
    "9" * 19, "9" * 20, "9223372036854775808", "-1", "+1", "1e3", "2024-02-30", "99999-01-01",
    "2024-1-1", "9999-12-31", "0001-01-01", "0000-12-31", "2024-11-06T00:00", "latest",
    "production", "staging", " ",
]  # fmt: skip


def _malformed(name: str) -> st.SearchStrategy[str]:
    """Variants of a real name: extra or empty segments, a last segment replaced."""
    head, _, _ = name.rpartition("/")
    return st.one_of(
        st.sampled_from(
            [
                name + "/",
                name + "/extra",
                name + "/steps/train/x",
                name.replace("/", "//", 1),
                "/" + name,
                head,
                name + "\x00",
                name.upper(),
            ]
        ),
        st.sampled_from(BAD_SEGMENTS).map(f"{head}/{{}}".format),
    )


# Days of inference windows: real, out of the calendar, and at its edges.
DAYS = ["2024-11-06", "0001-01-01", "9999-12-31", "2024-02-29", "2023-02-29", "0000-01-01"]


def _windows(world: World) -> st.SearchStrategy[str]:
    heads = [world[k].rpartition("/")[0] for k in ("window", "model_window")]
    return st.builds("{}/{}".format, st.sampled_from(heads), st.sampled_from(DAYS))


def _names(world: World) -> st.SearchStrategy[str]:
    real = st.one_of(st.sampled_from(sorted(world.names.values())), _windows(world))
    return mostly(real, st.one_of(real.flatmap(_malformed), proto_text))


def _ids(world: World) -> st.SearchStrategy[str]:
    return mostly(
        st.sampled_from(["train", "nightly", "events", "m", "run_001", "b05", "new_one", "-"]),
        st.one_of(st.sampled_from(BAD_SEGMENTS), proto_text),
    )


RUN_FILTER_FIELDS = [
    "pipeline", "run_id", "definition_version", "state", "start_time", "end_time",
    "created_by", "labels.team",
]  # fmt: skip
RUN_FILTER_VALUES = ['"RUNNING"', '"SUCCEEDED"', '"nightly"', '"run_001"', '"x%_\\\\"']


def _filters() -> st.SearchStrategy[str]:
    clause = st.builds(
        "{} {} {}".format,
        mostly(st.sampled_from(RUN_FILTER_FIELDS), st.sampled_from(BAD_FIELDS)),
        mostly(st.sampled_from(FILTER_OPS[:6]), st.sampled_from(FILTER_OPS)),
        st.sampled_from(FILTER_VALUES + RUN_FILTER_VALUES),
    )
    return mostly(st.lists(clause, min_size=1, max_size=2).map(" AND ".join), proto_text)


# The kind of name each method's name-like field addresses.
TARGETS = {
    "CreatePipelineRun": ["pipeline"],
    "GetPipelineRun": ["prun"],
    "ListPipelineRuns": ["pipeline", "pipelines"],
    "ListPipelines": ["project"],
    "RecordPipelineStep": ["prun", "prun2", "prun3"],
    "EndPipelineRun": ["prun2", "prun3"],
    "ListBatches": ["project"],
    "ListVersionsTrainedOn": ["project"],
    "ListBatchesBehindVersion": ["v1", "v2", "v3", "alias", "latest"],
    "GetBatchMetricSeries": ["model"],
    "GetLineage": [
        "b05",
        "b06",
        "holdout",
        "dataset",
        "run",
        "v1",
        "v3",
        "alias",
        "model",
        "eval",
        "prod",
        "window",
        "model_window",
        "pipeline",
        "prun",
        "step",
    ],
}


def _strings(world: World, method: str) -> dict[str, st.SearchStrategy[str]]:
    names = _names(world)
    aimed = mostly(st.sampled_from([world[k] for k in TARGETS[method]]), names)
    ids = _ids(world)
    dataset_versions = mostly(
        st.sampled_from([world["b05"], world["b06"], world["holdout"]]), names
    )
    return {
        "name": aimed,
        "parent": aimed,
        "resource": aimed,
        "model": mostly(st.just(world["model"]), names),
        "dataset_version": dataset_versions,
        "pipeline": names,
        "latest_run": names,
        "run_id": ids,
        "step_id": ids,
        "dataset": ids,
        "batch_id": mostly(st.sampled_from(["2024-11-05", "2024-11-06", "b05"]), ids),
        "metric": mostly(st.just("accuracy"), proto_text),
        "slice": mostly(st.just(""), proto_text),
        "role": mostly(st.sampled_from(["", "train", "TRAIN", "serving"]), proto_text),
        "filter": _filters(),
        "order_by": mostly(
            st.sampled_from(["", "start_time", "run_id desc", "start_time asc"]),
            st.one_of(st.sampled_from(["bogus", "run_id sideways", "name"]), proto_text),
        ),
        "page_token": mostly(st.just(""), st.one_of(st.sampled_from(world.tokens), proto_text)),
        "request_id": mostly(
            st.sampled_from(["", "rid-1", "rid-2"]),
            st.one_of(st.sampled_from(["a" * 129, "r id"]), proto_text),
        ),
        "etag": st.one_of(st.sampled_from(['W/"1"', 'W/"2"', 'W/"99"', ""]), proto_text),
        "key": st.one_of(st.sampled_from(["team", "lr", "a.b/c", "Bad", "x" * 130]), proto_text),
        "definition_version": mostly(st.just("git:ab12"), proto_text),
    }


# Seconds and nanos at the edges of years 1-9999: their first and last microsecond,
# and a microsecond inside (beyond them is the random builder's).
EDGE_SECONDS = [-62135596800, 253402300799]
EDGE_NANOS = [0, 999_999_999, 1000, 999_998_000]
SANE_KEYS = ["lr", "team", "a.b", "epochs"]
STEP_STATES = [v.number for v in pb.PipelineStep.State.DESCRIPTOR.values[1:]]
RUN_STATES = [v.number for v in pb.PipelineRun.State.DESCRIPTOR.values[1:]]


def _often(draw: st.DrawFn) -> bool:
    """Seven times in eight (and when simplest)."""
    return bool(draw(st.integers(0, 7)) != 7)


def _tame(draw: st.DrawFn, msg: Any, method: str, world: World) -> None:
    """Make parts of a random request sane, each seven times in eight: the name it
    addresses, its enums, times in the calendar, valid map keys, references to real
    resources. Enough requests then get past the first check to reach the deeper ones."""
    fields = msg.DESCRIPTOR.fields_by_name
    aimed = st.sampled_from([world[k] for k in TARGETS[method]])
    if method == "GetLineage":
        aimed = st.one_of(aimed, _windows(world))
    for key in ("name", "parent", "resource"):
        if key in fields and _often(draw):
            setattr(msg, key, draw(aimed))
    if "direction" in fields and _often(draw):
        msg.direction = draw(st.integers(1, 3))
    if "depth" in fields and _often(draw):
        msg.depth = draw(st.integers(0, 10))
    if "max_nodes" in fields and _often(draw):
        msg.max_nodes = draw(st.integers(0, 50))
    if "model" in fields and _often(draw):
        msg.model = world["model"]
    if method == "GetBatchMetricSeries" and _often(draw):
        msg.metric = "accuracy"
        if not msg.dataset_version:
            msg.slice = ""
    if method == "ListVersionsTrainedOn" and _often(draw):  # one of the two
        keep = draw(st.sampled_from(["batch_id", "dataset_version"]))
        msg.ClearField("dataset_version" if keep == "batch_id" else "batch_id")
        if not getattr(msg, keep):
            batches = ["2024-11-05", "2024-11-06"] if keep == "batch_id" else [world["b05"]]
            setattr(msg, keep, draw(st.sampled_from(batches)))
    if "page_size" in fields and _often(draw):
        msg.page_size = abs(msg.page_size) % 4
    if "request_id" in fields and _often(draw):
        msg.request_id = draw(st.sampled_from(["", "", "rid-1", "rid-2"]))
    if "step_id" in fields and _often(draw):
        msg.step_id = draw(st.one_of(st.just("train"), st.integers(0, 10**6).map("s{}".format)))
    if method == "EndPipelineRun" and _often(draw):
        msg.state = draw(st.sampled_from(RUN_STATES))
        if msg.state == pb.PipelineRun.SUCCEEDED:
            msg.error = ""
    for sub_name in ("step", "pipeline_run"):
        if sub_name in fields and (msg.HasField(sub_name) or _often(draw)):
            _tame_body(draw, getattr(msg, sub_name), world)


def _tame_body(draw: st.DrawFn, body: Any, world: World) -> None:
    """The PipelineStep or PipelineRun of a request, made sane in parts."""
    fields = body.DESCRIPTOR.fields_by_name
    step = "inputs" in fields
    if step and _often(draw):
        body.state = draw(st.sampled_from(STEP_STATES))
    if _often(draw):  # times in the calendar, in order, unset when not ended
        for when in ("start_time", "end_time", "update_time"):
            body.ClearField(when)
        times = draw(st.integers(0, 2))
        if times == 1:
            start = draw(st.integers(1_600_000_000, 1_800_000_000))
            body.start_time.FromSeconds(start)
            if step and body.state not in (pb.PipelineStep.PENDING, pb.PipelineStep.RUNNING):
                body.end_time.FromSeconds(start + draw(st.integers(0, 10**6)))
        elif times == 2:  # the calendar's first and last microsecond, or just inside
            when = draw(st.sampled_from(["start_time", "end_time"]))
            seconds, nanos = draw(st.sampled_from(EDGE_SECONDS)), draw(st.sampled_from(EDGE_NANOS))
            getattr(body, when).CopyFrom(Timestamp(seconds=seconds, nanos=nanos))
    for mapping in ("params", "labels"):
        if mapping in fields and _often(draw):  # valid keys, the values drawn
            values = [copy.deepcopy(v) for v in getattr(body, mapping).values()]
            body.ClearField(mapping)
            target = getattr(body, mapping)
            for key, value in zip(SANE_KEYS, values, strict=False):
                if mapping == "params":
                    target[key].CopyFrom(value)
                else:
                    target[key] = value
    if step:
        if body.state not in (pb.PipelineStep.FAILED, pb.PipelineStep.SKIPPED) and _often(draw):
            body.error = ""
        if body.state != pb.PipelineStep.SUCCEEDED and _often(draw):
            body.ClearField("outputs")
        for item in (*body.inputs, *body.outputs):
            if _often(draw):
                item.name = draw(st.one_of(_names(world), _windows(world)))
            if _often(draw):
                item.kind = draw(st.integers(0, 9))
            if _often(draw):
                item.role = draw(st.sampled_from(["", "train", "serving"]))


def _check(channel: grpc.Channel, digest: TableDigest, method: str, body: bytes) -> grpc.StatusCode:
    before = digest()
    code, status = outcome(raw_lineage_method(channel, method), body)
    assert code not in NEVER, f"{method} answered {code.name}: {status.message[:300]}"
    if code != grpc.StatusCode.OK:
        assert digest() == before, f"{method} was refused ({code.name}) but changed rows"
    return code


@pytest.mark.parametrize("method", METHODS)
@LINEAGE_SETTINGS
@given(data=st.data())
def test_no_lineage_request_is_internal_or_unknown_and_refused_ones_write_nothing(
    channel: grpc.Channel, digest: TableDigest, world: World, method: str, data: st.DataObject
) -> None:
    request = data.draw(
        messages(SERVICE.methods_by_name[method].input_type, _strings(world, method))
    )
    _tame(data.draw, request, method, world)
    _check(channel, digest, method, request.SerializeToString())


@st.composite
def _undecodable(draw: st.DrawFn, method: str) -> bytes:
    """Random bytes, or a request whose string field holds an encoded lone surrogate."""
    desc = SERVICE.methods_by_name[method].input_type
    numbers = [f.number for f in desc.fields if f.type == FieldDescriptor.TYPE_STRING]
    if draw(st.booleans()):
        return bytes(draw(st.binary(max_size=64)))
    value = draw(st.binary(max_size=8)) + ENCODED_SURROGATE
    return bytes([draw(st.sampled_from(numbers)) << 3 | 2, len(value)]) + value


@settings(SETTINGS, max_examples=60)
@given(call=st.sampled_from(METHODS).flatmap(lambda m: st.tuples(st.just(m), _undecodable(m))))
def test_undecodable_lineage_bytes_are_never_internal_or_unknown(
    channel: grpc.Channel, digest: TableDigest, call: tuple[str, bytes]
) -> None:
    _check(channel, digest, *call)


# SQL metacharacters in every string field of the two pipeline writes

METACHARACTERS = ["'", '"', ";", "--", "%", "_", "\\", "'; DROP TABLE pipelines; --", "a%_b\\'"]


def _string_paths(desc: Any, prefix: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Paths to the string fields of ``desc`` (map keys and values as ``key`` / ``value``),
    through the messages it holds (a repeated one as its first element)."""
    paths: list[tuple[str, ...]] = []
    for field in desc.fields:
        path = (*prefix, field.name)
        sub = field.message_type
        if sub is not None and sub.GetOptions().map_entry:
            value = sub.fields_by_name["value"]
            paths.append((*path, "<key>"))
            if value.type == FieldDescriptor.TYPE_STRING:
                paths.append((*path, "<value>"))
            elif value.message_type is not None:
                paths.extend(_string_paths(value.message_type, (*path, "<value>")))
        elif sub is not None and sub.full_name != "google.protobuf.Timestamp":
            paths.extend(_string_paths(sub, path))
        elif field.type == FieldDescriptor.TYPE_STRING:
            paths.append(path)
    return paths


def _set(msg: Any, path: tuple[str, ...], text: str) -> None:
    """Put ``text`` at ``path`` in ``msg`` (a map entry is made, a repeated one extended)."""
    head, rest = path[0], path[1:]
    field = msg.DESCRIPTOR.fields_by_name[head]
    if not rest:
        setattr(msg, head, text)
        return
    container = getattr(msg, head)
    if rest[0] == "<key>":
        value = field.message_type.fields_by_name["value"]
        if value.message_type is not None:
            container[text].string_value = "v"
        else:
            container[text] = "v"
        return
    if rest[0] == "<value>":
        if len(rest) == 1:
            container["k"] = text
        else:
            _set(container["k"], rest[1:], text)
        return
    if field.is_repeated:
        item = container[0] if len(container) else container.add()
        _set(item, rest, text)
    else:
        _set(container, rest, text)


def _base_request(world: World, method: str, run: str) -> Any:
    if method == "CreatePipelineRun":
        return rpc.CreatePipelineRunRequest(
            parent=world["pipeline"], pipeline_run=pb.PipelineRun(definition_version="git:1")
        )
    return rpc.RecordPipelineStepRequest(
        parent=run,
        step_id="s",
        step=pb.PipelineStep(
            state=Step.RUNNING,
            inputs=[ref(world["b05"], role="r")],
            outputs=[ref(world["v3"], role="r")],
        ),
    )


# Fields set by the server, ignored on input (resources.proto says "Output only").
OUTPUT_ONLY = {("pipeline_run", f) for f in (
    "name", "pipeline", "run_id", "error", "steps", "created_by", "etag",
)} | {("step", f) for f in ("name", "step_id")}  # fmt: skip

WRITES = [
    (method, path)
    for method in ("CreatePipelineRun", "RecordPipelineStep")
    for path in _string_paths(SERVICE.methods_by_name[method].input_type)
]


@pytest.fixture(scope="module")
def open_runs(target: str, world: World) -> Iterator[Callable[[], str]]:
    """A fresh open pipeline run for each call (steps replace each other otherwise)."""
    with modelreg.Client(target, actor="tester") as c:
        yield lambda: create(c.lineage_stub, world.project, "meta").name


def _all_strings(msg: Any) -> Iterator[str]:
    for field, value in msg.ListFields():
        items = value.items() if hasattr(value, "items") else None
        if items is not None:
            for k, v in items:
                yield str(k)
                yield from _all_strings(v) if hasattr(v, "ListFields") else [str(v)]
        elif field.is_repeated:
            for v in value:
                yield from _all_strings(v) if hasattr(v, "ListFields") else [str(v)]
        elif hasattr(value, "ListFields"):
            yield from _all_strings(value)
        elif isinstance(value, str):
            yield value


@pytest.mark.parametrize(("method", "path"), WRITES, ids=[f"{m}:{'.'.join(p)}" for m, p in WRITES])
def test_sql_metacharacters_are_stored_verbatim_or_rejected_naming_a_field(
    channel: grpc.Channel,
    digest: TableDigest,
    world: World,
    open_runs: Callable[[], str],
    method: str,
    path: tuple[str, ...],
) -> None:
    output = rpc.DESCRIPTOR.services_by_name["LineageService"].methods_by_name[method].output_type
    response_class = message_factory.GetMessageClass(output)
    for text in METACHARACTERS:
        request = _base_request(world, method, open_runs() if method != "CreatePipelineRun" else "")
        _set(request, path, text)
        call = raw_lineage_method(channel, method)
        before = digest()
        try:
            body = call(request.SerializeToString(), timeout=20, metadata=ACTOR)
        except grpc.RpcError as err:
            code, status = err.code(), rpc_status.from_call(err)
            assert code == grpc.StatusCode.INVALID_ARGUMENT, (path, text, code, err.details())
            assert bad_fields(status), (path, text, status.message)
            assert digest() == before, (path, text)
            continue
        response = response_class.FromString(body)
        if path[-1] == "request_id" or path[:2] in OUTPUT_ONLY:
            continue  # not echoed, or set by the server (and ignored)
        assert text in set(_all_strings(response)), (path, text, str(response)[:500])
