"""The tracking SDK without a server: request building, conversions, and the active run's
buffering and background flushing against an in-memory fake of the few calls a run makes
(both clients; the async one behind tests/async_adapter.py). The real thing, end to end,
is tests/test_tracking_sdk_e2e.py."""

from __future__ import annotations

import math
import pickle
import threading
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from typing import Any

import grpc
import pytest

import modelreg
from modelreg import _batching, _convert
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._sync._active_run import LAST_BATCH_WITH_END
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as tracking
from tests.async_adapter import AsyncAdapter, LoopThread
from tests.sentinels import sentinel

DV = "projects/p/datasets/train/versions/v1"


class FakeRpcError(grpc.RpcError):
    def __init__(self, code: grpc.StatusCode, details: str = "fake") -> None:
        self._code, self._details = code, details

    def code(self) -> grpc.StatusCode:
        return self._code

    def details(self) -> str:
        return self._details

    def trailing_metadata(self) -> tuple[tuple[str, str], ...]:
        return ()


class FakeServer:
    """Answers what an active run calls, in memory, and keeps every request (a copy, as
    sent). ``failures[method]`` lists exceptions to raise before answering normally;
    ``script[method]`` lists responses for the other calls."""

    def __init__(self, aio: bool) -> None:
        self.aio = aio
        self.sent: list[tuple[str, Any]] = []
        self.metadata: dict[str, Any] = {}
        self.failures: dict[str, list[BaseException]] = {}
        self.script: dict[str, list[Any]] = {}
        self.lock = threading.Lock()

    def __getattr__(self, method: str) -> Callable[..., Any]:
        def answer(request: Any, *, timeout: float, metadata: Any) -> Any:
            copy = type(request)()
            copy.CopyFrom(request)
            with self.lock:
                self.sent.append((method, copy))
                self.metadata[method] = metadata
                failures = self.failures.get(method)
                if failures:
                    raise failures.pop(0)
            if method in self.script:
                return self.script[method].pop(0)
            return getattr(self, f"answer_{method}")(copy)

        async def answer_async(request: Any, *, timeout: float, metadata: Any) -> Any:
            return answer(request, timeout=timeout, metadata=metadata)

        return answer_async if self.aio else answer

    def requests(self, method: str) -> list[Any]:
        with self.lock:
            return [r for m, r in self.sent if m == method]

    def points(self) -> list[tuple[str, float, int]]:
        """Every point sent, by LogRunData or with EndRun, in the order sent."""
        with self.lock:
            sent = [r for m, r in self.sent if m in ("LogRunData", "EndRun")]
        return [(m.key, m.value, m.step) for r in sent for m in r.metrics]

    @staticmethod
    def answer_CreateRun(request: tracking.CreateRunRequest) -> pb.Run:
        run_id = request.run_id or "run_001"
        return pb.Run(name=f"{request.parent}/runs/{run_id}", run_id=run_id, state=pb.Run.RUNNING)

    @staticmethod
    def answer_LogRunData(request: tracking.LogRunDataRequest) -> Any:
        return tracking.LogRunDataResponse(metrics_logged=len(request.metrics))

    @staticmethod
    def answer_EndRun(request: tracking.EndRunRequest) -> pb.Run:
        return pb.Run(name=request.name, run_id=request.name.split("/")[-1], state=request.state)

    @staticmethod
    def answer_GetRun(request: tracking.GetRunRequest) -> pb.Run:
        return pb.Run(name=request.name, run_id=request.name.split("/")[-1], state=pb.Run.RUNNING)

    @staticmethod
    def answer_CreateModelVersion(request: rpc.CreateModelVersionRequest) -> pb.ModelVersion:
        version = pb.ModelVersion()
        version.CopyFrom(request.model_version)
        version.name, version.version = f"{request.parent}/versions/1", 1
        version.state = pb.ModelVersion.READY
        return version


@pytest.fixture(params=["sync", "async"])
def fake(
    request: pytest.FixtureRequest, adapter_loop: LoopThread
) -> Iterator[tuple[modelreg.Client, FakeServer]]:
    """A client (sync, or async behind the adapter) whose calls reach a FakeServer."""
    retry = modelreg.RetryPolicy(max_attempts=1)
    nowhere = "127.0.0.1:1"  # never dialled
    if request.param == "sync":
        client: Any = modelreg.Client(nowhere, actor="tester", retry=retry)
        real = client
    else:
        client = AsyncAdapter(adapter_loop, nowhere, actor="tester", retry=retry)
        real = client.wrapped
    server = FakeServer(aio=request.param == "async")
    real._rpc.stubs = dict.fromkeys(real._rpc.stubs, server)
    try:
        yield client, server
    finally:
        client.close()


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


# The active run


def test_log_metrics_only_buffers_and_the_exit_sends_then_ends_succeeded(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with client.start_run("p", params={"lr": 0.01}, inputs=[DV], flush_every_s=60) as run:
        assert (run.run_id, run.name, run.project) == ("run_001", "projects/p/runs/run_001", "p")
        run.log_metrics({"loss": 0.5, "bleu": 20.0})
        run.log_metrics({"loss": 0.4})
        run.log_metric("loss", 0.3, step=10)
        run.log_metric("loss", 0.2)
        assert server.sent[1:] == []
    assert server.points() == [
        ("loss", 0.5, 0),
        ("bleu", 20.0, 0),
        ("loss", 0.4, 1),
        ("loss", 0.3, 10),
        ("loss", 0.2, 11),
    ]
    (created,) = server.requests("CreateRun")
    assert created.parent == "projects/p" and created.request_id
    assert created.run.params["lr"].float_value == 0.01
    assert [(i.dataset_version, i.role) for i in created.run.inputs] == [(DV, pb.DATA_ROLE_TRAIN)]
    (ended,) = server.requests("EndRun")
    assert (ended.name, ended.state) == ("projects/p/runs/run_001", pb.Run.SUCCEEDED)
    assert ended.request_id
    if LAST_BATCH_WITH_END:  # a run that fits one batch costs two calls
        assert [m for m, _ in server.sent] == ["CreateRun", "EndRun"]
    else:
        assert [m for m, _ in server.sent] == ["CreateRun", "LogRunData", "EndRun"]


def test_a_full_buffer_is_sent_in_the_background_in_batches_of_max_batch(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with client.start_run("p", flush_every_s=60, max_batch=10) as run:
        for step in range(25):
            run.log_metric("loss", float(step))
        wait_for(lambda: len(server.points()) >= 20)
    batches = server.requests("LogRunData") + server.requests("EndRun")
    assert all(len(b.metrics) <= 10 for b in batches)
    assert server.points() == [("loss", float(s), s) for s in range(25)]
    ids = [b.request_id for b in batches]
    assert len(set(ids)) == len(ids) and all(ids)


def test_the_buffer_is_sent_every_flush_every_s(fake: tuple[modelreg.Client, FakeServer]) -> None:
    client, server = fake
    with client.start_run("p", flush_every_s=0.02) as run:
        run.log_metrics({"loss": 1.0}, step=3)
        wait_for(lambda: server.points() == [("loss", 1.0, 3)])
        run.log_metrics({"loss": 0.5})
        wait_for(lambda: len(server.points()) == 2)
    assert server.points() == [("loss", 1.0, 3), ("loss", 0.5, 4)]
    assert len(server.requests("LogRunData")) == 2


def test_points_carry_the_time_they_were_logged_and_nan_and_inf_unchanged(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    when = datetime(2026, 1, 2, 3, 4, 5, 678_901, tzinfo=timezone.utc)
    before = time.time()
    with client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"a": math.nan, "b": math.inf, "c": -math.inf, "d": 1}, step=-3)
        run.log_metrics({"e": 2.5}, time=when)
        with pytest.raises(ValueError, match="naive"):
            run.log_metrics({"e": 2.5}, time=datetime(2026, 1, 1))
    after = time.time()
    sent = server.requests("LogRunData") + server.requests("EndRun")
    points = [m for r in sent for m in r.metrics]
    assert math.isnan(points[0].value)
    assert [p.value for p in points[1:]] == [math.inf, -math.inf, 1.0, 2.5]
    assert [p.step for p in points] == [-3, -3, -3, -3, -2]
    assert before - 1 <= points[0].time.seconds <= after
    assert _convert.time(points[4].time) == when


def test_bad_keys_and_values_fail_at_the_call_that_logs_them(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with client.start_run("p", flush_every_s=60) as run:
        for bad in ("1loss", "", "with space", "x" * 129):
            with pytest.raises(ValueError, match="metric key"):
                run.log_metrics({bad: 1.0})
        with pytest.raises((TypeError, ValueError)):
            run.log_metrics({"loss": "high"})  # type: ignore[dict-item]
        run.log_metrics({"loss": 1.0, "a.b/c-d_e": 2.0})
    assert server.points() == [("loss", 1.0, 0), ("a.b/c-d_e", 2.0, 0)]


def test_the_block_raising_ends_the_run_failed_and_reraises(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with pytest.raises(ZeroDivisionError), client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        _ = 1 / 0
    assert server.points() == [("loss", 1.0, 0)]  # what was logged is kept
    assert [r.state for r in server.requests("EndRun")] == [pb.Run.FAILED]

    with pytest.raises(KeyboardInterrupt), client.start_run("p", run_id="r2"):
        raise KeyboardInterrupt
    assert [r.state for r in server.requests("EndRun")] == [pb.Run.FAILED, pb.Run.CANCELLED]


def test_end_inside_the_block_and_use_outside_it(fake: tuple[modelreg.Client, FakeServer]) -> None:
    client, server = fake
    run = client.start_run("p", flush_every_s=60)
    with pytest.raises(RuntimeError, match="enter the run first"):
        run.log_metrics({"loss": 1.0})
    with run:
        run.log_metrics({"loss": 1.0})
        ended = run.end("cancelled")
        assert ended.state is modelreg.RunState.CANCELLED
        with pytest.raises(RuntimeError, match="has ended"):
            run.log_metrics({"loss": 2.0})
    assert [r.state for r in server.requests("EndRun")] == [pb.Run.CANCELLED]
    assert server.points() == [("loss", 1.0, 0)]
    assert run.get().run_id == "run_001"


def test_log_params_sends_the_buffered_metrics_with_the_params_in_one_call(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        run.log_params({"epochs": 10, "optimizer": "adamw"})
        assert len(server.requests("LogRunData")) == 1
        run.log_params({"fp16": True})
    first, second = server.requests("LogRunData")
    assert [m.key for m in first.metrics] == ["loss"]
    assert first.params["epochs"].int_value == 10
    assert first.params["optimizer"].string_value == "adamw"
    assert (list(second.metrics), second.params["fp16"].bool_value) == ([], True)


def test_refused_params_keep_the_buffered_points_for_the_next_flush(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    server.failures["LogRunData"] = [FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "params")]
    with client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        with pytest.raises(modelreg.InvalidArgumentError):
            run.log_params({"lr": 0.1})
        run.log_metrics({"loss": 2.0})
    refused, *_ = server.requests("LogRunData")
    assert [m.value for m in refused.metrics] == [1.0] and "lr" in refused.params
    assert server.points() == [("loss", 1.0, 0), ("loss", 1.0, 0), ("loss", 2.0, 1)]


def test_register_model_version_names_the_run_and_defaults_to_its_inputs(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    code = modelreg.CodeVersion("repo", "abc")
    test_set = (DV.replace("train", "test"), "test")
    with client.start_run("p", inputs=[DV, test_set], code_version=code, flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        v = run.register_model_version("m", artifact_uri="./v1.pth", architecture="t-base")
        other = run.register_model_version("m", artifact_uri="./v2.pth", training_data=[])
    assert v.source_run == "projects/p/runs/run_001"
    assert [(d.dataset_version, d.role) for d in v.training_data] == [
        (DV, modelreg.DataRole.TRAIN),
        (test_set[0], modelreg.DataRole.TEST),
    ]
    assert v.code_version == code and other.training_data == ()
    # Registering sends no buffered points: a whole run is three calls.
    assert [m for m, _ in server.sent] == [
        "CreateRun",
        "CreateModelVersion",
        "CreateModelVersion",
        "EndRun",
    ]
    assert server.points() == [("loss", 1.0, 0)]


def test_a_refused_batch_is_raised_by_the_next_log_and_then_dropped(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    server.failures["LogRunData"] = [FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "bad")]
    with client.start_run("p", flush_every_s=0.01) as run:
        run.log_metrics({"loss": 1.0})
        wait_for(lambda: len(server.requests("LogRunData")) == 1)
        time.sleep(0.05)
        with pytest.raises(modelreg.InvalidArgumentError, match="bad"):
            run.log_metrics({"loss": 2.0})
        run.log_metrics({"loss": 3.0})
    assert server.points() == [("loss", 1.0, 0), ("loss", 3.0, 1)]  # the first call refused
    assert [r.state for r in server.requests("EndRun")] == [pb.Run.SUCCEEDED]


def test_an_unreachable_server_keeps_the_batch_and_sends_it_again_with_its_request_id(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    server.failures["LogRunData"] = [FakeRpcError(grpc.StatusCode.UNAVAILABLE)]
    with client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        with pytest.raises(modelreg.UnavailableError):
            run.flush()
        run.log_metrics({"loss": 2.0})
        run.flush()
    first, again, second = server.requests("LogRunData")
    assert first == again  # the same batch, the same request_id
    assert [m.value for m in second.metrics] == [2.0]


def test_a_refused_end_ends_the_run_failed_and_raises(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    server.failures["EndRun"] = [FakeRpcError(grpc.StatusCode.INVALID_ARGUMENT, "metrics[0]")]
    with pytest.raises(modelreg.InvalidArgumentError), client.start_run("p") as run:
        run.log_metrics({"loss": 1.0})
    refused, failed = server.requests("EndRun")
    assert (refused.state, failed.state) == (pb.Run.SUCCEEDED, pb.Run.FAILED)
    assert len(failed.metrics) == 0


def test_a_kept_batch_is_sent_before_the_end(fake: tuple[modelreg.Client, FakeServer]) -> None:
    client, server = fake
    server.failures["LogRunData"] = [FakeRpcError(grpc.StatusCode.UNAVAILABLE)]
    with pytest.raises(ValueError), client.start_run("p", flush_every_s=60) as run:
        run.log_metrics({"loss": 1.0})
        with pytest.raises(modelreg.UnavailableError):
            run.flush()
        run.log_metrics({"loss": 2.0})
        raise ValueError("the block fails")
    failed, again, *_ = server.requests("LogRunData")
    assert failed == again
    assert [r.state for r in server.requests("EndRun")] == [pb.Run.FAILED]
    assert server.points() == [("loss", 1.0, 0), ("loss", 1.0, 0), ("loss", 2.0, 1)]


def test_batches_are_cut_by_count_and_by_bytes() -> None:
    points = [("k" * 100, 1.0, i, 0) for i in range(50)]
    assert [len(b) for b in tr.batches(points, 20)] == [20, 20, 10]
    assert [len(b) for b in tr.batches(points, 100, max_bytes=1_400)] == [10, 10, 10, 10, 10]
    assert tr.batches([], 10) == []
    big = tr.log_points("projects/p/runs/r", [("k" * 128, 1.5, 2**40, 2**62)] * 100)
    assert big.ByteSize() <= 100 * (40 + 128)  # the estimate is an upper bound


def test_start_run_checks_its_arguments_before_any_call(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    with pytest.raises(ValueError, match="flush_every_s"):
        client.start_run("p", flush_every_s=0)
    with pytest.raises(ValueError, match="max_batch"):
        client.start_run("p", max_batch=100_001)
    with pytest.raises(TypeError, match="param 'x'"):
        client.start_run("p", params={"x": [1]})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="resource name"):
        client.start_run("p", inputs=["train:v1"])
    assert server.sent == []


# Request building and conversions


def test_data_inputs_in_every_form() -> None:
    dv = _convert.dataset_version(
        pb.DatasetVersion(name=DV, dataset="train", version="v1", uri="s3://x")
    )
    assert dv.resource_name == DV
    T, V = modelreg.DataRole.TRAIN, modelreg.DataRole.VALIDATION
    assert req.data_ref(dv) == modelreg.DataRef(dataset_version=DV, role=T)
    assert req.data_ref(DV) == modelreg.DataRef(dataset_version=DV)
    assert req.data_ref((dv, "validation")) == modelreg.DataRef(dataset_version=DV, role=V)
    assert req.data_ref((DV, V)) == modelreg.DataRef(dataset_version=DV, role=V)
    assert req.data_ref({"dataset": "d", "version": "1", "role": "test"}) == modelreg.DataRef(
        "d", "1", role=modelreg.DataRole.TEST
    )
    ref = modelreg.DataRef("d", "1")
    assert req.data_ref(ref) is ref
    wire = _convert.data_ref_to_pb(modelreg.DataRef(dataset_version=DV, role=V))
    assert (wire.dataset_version, wire.role) == (DV, pb.DATA_ROLE_VALIDATION)
    with pytest.raises(ValueError):
        req.data_ref((DV, "holdout"))


@pytest.mark.parametrize(
    ("given", "goal"),
    [
        ("max", modelreg.Goal.MAXIMIZE),
        ("MAX", modelreg.Goal.MAXIMIZE),
        ("maximize", modelreg.Goal.MAXIMIZE),
        ("min", modelreg.Goal.MINIMIZE),
        ("Minimize", modelreg.Goal.MINIMIZE),
        (modelreg.Goal.MINIMIZE, modelreg.Goal.MINIMIZE),
    ],
)
def test_goals(given: Any, goal: modelreg.Goal) -> None:
    assert modelreg.Goal(given) is goal
    assert tr.goal(given) == tracking.Goal.Value(f"GOAL_{goal.value}")


def test_unknown_goal_is_refused() -> None:
    with pytest.raises(ValueError):
        modelreg.Goal("best")


def test_create_dataset_version_request() -> None:
    start = datetime(2024, 11, 1, tzinfo=timezone.utc)
    request = tr.create_dataset_version(
        "p",
        "train",
        uri="s3://d/train.parquet",
        version="",
        digest="sha256:ab",
        row_count=0,
        schema={"cols": ["kr", "en"]},
        description="",
        split="train",
        batch_id="2024-11",
        data_start_time=start,
        data_end_time=None,
        parents=[DV],
        labels={"team": "nlp"},
        request_id=None,
    )
    assert request.parent == "projects/p/datasets/train" and request.version_id == ""
    message = request.dataset_version
    assert message.HasField("row_count") and message.row_count == 0
    assert message.schema_json == b'{"cols": ["kr", "en"]}'
    assert _convert.time(message.data_start_time) == start
    assert not message.HasField("data_end_time")
    assert list(message.parents) == [DV] and len(request.request_id) == 32
    unknown = tr.create_dataset_version(
        "p", "d", uri="u", version="v9", digest="", row_count=None, schema=None,
        description="", split="", batch_id="", data_start_time=None, data_end_time=None,
        parents=(), labels=None, request_id="rid",
    )  # fmt: skip
    assert not unknown.dataset_version.HasField("row_count")
    assert unknown.dataset_version.schema_json == b"" and unknown.request_id == "rid"


def test_dataset_version_and_run_conversions() -> None:
    dv = _convert.dataset_version(pb.DatasetVersion(name=DV, dataset="train", version="v1"))
    assert (dv.row_count, dv.schema, dv.data_start_time, dv.data_end_time) == (
        None,
        None,
        None,
        None,
    )
    run = _convert.run(
        pb.Run(
            name="projects/p/runs/r1",
            run_id="r1",
            state=pb.Run.RUNNING,
            latest_metrics={"loss": pb.Metric(key="loss", value=math.inf, step=3)},
        )
    )
    assert (run.project, run.run_id, run.state, run.end_time) == (
        "p",
        "r1",
        modelreg.RunState.RUNNING,
        None,
    )
    assert run.latest_metrics["loss"].value == math.inf and run.resource_name.endswith("/r1")


def test_comparison_conversion() -> None:
    response = tracking.CompareModelVersionsResponse(
        model_versions=[
            pb.ModelVersion(name="projects/p/models/m/versions/1", version=1),
            pb.ModelVersion(name="projects/p/models/m/versions/2", version=2),
        ],
        params=[
            tracking.ComparedParam(
                key="lr",
                values=[pb.ParamValue(float_value=0.1), pb.ParamValue()],
                differs=True,
            ),
            tracking.ComparedParam(
                key="epochs",
                values=[pb.ParamValue(int_value=3), pb.ParamValue(int_value=3)],
            ),
        ],
        metrics=[
            tracking.ComparedMetric(
                dataset_version=DV,
                metric="bleu",
                values=[tracking.MetricCell(value=0.0, evaluation="e1"), tracking.MetricCell()],
            )
        ],
    )
    comparison = _convert.comparison(response)
    assert [v.version for v in comparison.versions] == [1, 2]
    assert comparison.differing_params == ("lr",)
    assert comparison.params[0].values == (0.1, None)
    assert comparison.metrics[0].values == (0.0, None)
    assert comparison.metrics[0].evaluations == ("e1", "")


def test_rank_and_best_requests(fake: tuple[modelreg.Client, FakeServer]) -> None:
    client, server = fake
    ranked = tracking.RankedModelVersion(
        rank=1,
        score=0.9,
        evaluation="projects/p/models/m/versions/2/evaluations/eval_1",
        model_version=pb.ModelVersion(name="projects/p/models/m/versions/2", version=2),
    )
    server.script["RankModelVersions"] = [
        tracking.RankModelVersionsResponse(ranked=[ranked]),
        tracking.RankModelVersionsResponse(ranked=[ranked]),
        tracking.RankModelVersionsResponse(),
    ]
    rows = list(client.rank_versions("p", metric="bleu", dataset=DV, goal="min"))
    assert [(r.rank, r.score, r.version.version) for r in rows] == [(1, 0.9, 2)]
    assert client.best_version("p", "m", metric="bleu", dataset=DV).version == 2
    with pytest.raises(modelreg.NotFoundError, match="no version of projects/p/models/m"):
        client.best_version("p", "m", metric="bleu", dataset=DV, filter='labels.x = "y"')
    first, best, none = server.requests("RankModelVersions")
    assert (first.parent, first.goal, first.page_size) == ("projects/p", 2, 500)
    assert (best.parent, best.goal, best.page_size) == ("projects/p/models/m", 1, 1)
    assert best.dataset_version == DV and none.filter == 'labels.x = "y"'
    assert server.metadata["RankModelVersions"] is None  # a read: no actor


def test_mutations_carry_the_actor_and_reads_do_not(
    fake: tuple[modelreg.Client, FakeServer],
) -> None:
    client, server = fake
    server.script["CompareModelVersions"] = [tracking.CompareModelVersionsResponse()]
    with client.start_run("p") as run:
        run.log_metrics({"loss": 1.0})
        run.flush()
        run.get()
    client.compare_versions("p", "m", [1])
    actor = (("modelreg-actor", "tester"),)
    for method in ("CreateRun", "LogRunData", "EndRun"):
        assert server.metadata[method] == actor, method
    assert server.metadata["GetRun"] is None and server.metadata["CompareModelVersions"] is None


def test_runs_share_one_flusher_thread_which_ends_when_idle(
    fake: tuple[modelreg.Client, FakeServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    client, server = fake
    monkeypatch.setattr(_batching, "IDLE_S", 0.05)
    before = set(threading.enumerate())

    def flushers() -> list[threading.Thread]:
        return [t for t in set(threading.enumerate()) - before if t.name.startswith("modelreg-")]

    with (
        client.start_run("p", run_id="a", flush_every_s=0.01) as a,
        client.start_run("p", run_id="b", flush_every_s=0.01) as b,
    ):
        a.log_metrics({"loss": 1.0})
        b.log_metrics({"loss": 2.0})
        wait_for(lambda: len(server.requests("LogRunData")) == 2)  # both, in the background
        assert len(flushers()) <= 1  # no thread per run (none with asyncio)
    for _ in range(3):
        with client.start_run("p", flush_every_s=0.01) as run:
            run.log_metrics({"loss": 1.0})
        assert len(flushers()) <= 1
    wait_for(lambda: not flushers())  # the thread ends once no run needs it


def test_list_requests(fake: tuple[modelreg.Client, FakeServer]) -> None:
    client, server = fake
    server.script["ListDatasetVersions"] = [tracking.ListDatasetVersionsResponse()] * 2
    server.script["ListMetricHistory"] = [tracking.ListMetricHistoryResponse()]
    server.script["ListRuns"] = [tracking.ListRunsResponse()]
    assert list(client.list_dataset_versions("p")) == []
    assert list(client.list_dataset_versions("p", "train", filter='split = "x"')) == []
    assert list(client.metric_history("p", "r1", "loss")) == []
    assert list(client.list_runs("p", filter="params.lr < 0.05", order_by="run_id")) == []
    every, one = server.requests("ListDatasetVersions")
    assert (every.parent, one.parent, one.filter) == (
        "projects/p/datasets/-",
        "projects/p/datasets/train",
        'split = "x"',
    )
    (history,) = server.requests("ListMetricHistory")
    assert (history.run, history.key, history.page_size) == ("projects/p/runs/r1", "loss", 10_000)
    (runs,) = server.requests("ListRuns")
    assert (runs.parent, runs.filter, runs.order_by) == ("projects/p", "params.lr < 0.05", "run_id")
    assert runs.page_size == 1_000  # the server's largest page: a listing is usually read whole


def test_a_lazy_run_equals_one_built_eagerly_and_pickles() -> None:
    msg = sentinel(pb.Run)
    lazy = _convert.run(msg)  # type: ignore[arg-type]
    eager = modelreg.Run(**{k: f(msg) for k, f in _convert.RUN_FIELDS.items()})  # type: ignore[arg-type]
    assert lazy == eager and repr(lazy) == repr(eager)
    assert pickle.loads(pickle.dumps(lazy)) == eager
    assert set(lazy.latest_metrics) == set(msg.latest_metrics)  # type: ignore[attr-defined]
