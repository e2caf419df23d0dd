"""A lineage graph of about 10,000 nodes, built through the public API, for
bench/lineage_bench.py and tests/test_lineage_big_e2e.py.

With the default ``Shape``, in one project:

- dataset ``raw``: 10 versions; ``holdout``: 10 versions; ``events``: 1,980 batches,
  batch i derived from raw version i % 10 (DERIVED);
- 2,000 runs, run g reading batches g and g + 7 (INPUT, modulo the batch count);
- 20 models of 100 versions: version g (the j-th of model m, g = 100 m + j) made by
  run g (PRODUCED), trained on batches g and g + 1 (TRAINED), fine-tuned from the
  model's previous version (FINE_TUNED);
- 2,000 evaluations: one per version on holdout g % 10 (EVALUATED, EVALUATED_ON),
  logged by run g (LOGGED);
- 20 deployments, one per model, serving its latest version (SERVED);
- 2,000 inference windows over the last 50 days: each deployment's records of its
  version on each day (RECORDED, PREDICTED), and each model's records sent without
  a deployment, of version 1 + k on day k (PREDICTED).

Calls run on grpc.aio stubs, ``concurrency`` at a time. ``Built.edges`` lists what
was built, so a test can walk the same graph in Python and compare."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import grpc

from modelreg.api.v1 import production_service_pb2 as prod_rpc
from modelreg.api.v1 import production_service_pb2_grpc as prod_grpc
from modelreg.api.v1 import registry_service_pb2 as reg_rpc
from modelreg.api.v1 import registry_service_pb2_grpc as reg_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as tr_rpc
from modelreg.api.v1 import tracking_service_pb2_grpc as tr_grpc

METADATA = (("modelreg-actor", "bench"),)
CALL_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class Shape:
    raws: int = 10
    holdouts: int = 10
    batches: int = 1_980
    models: int = 20
    versions: int = 100  # per model; as many runs and evaluations
    days: int = 50

    @property
    def nodes(self) -> int:
        n = self.models * self.versions
        return self.raws + self.holdouts + self.batches + 3 * n + self.models * (1 + 2 * self.days)


@dataclass
class Built:
    """Resource names of what was built, and every edge as (upstream, downstream, kind)
    with the kind's LineageEdgeKind name without its prefix."""

    project: str
    shape: Shape
    raws: list[str] = field(default_factory=list)
    batches: list[str] = field(default_factory=list)
    versions: list[str] = field(default_factory=list)
    deployments: list[str] = field(default_factory=list)
    windows: list[str] = field(default_factory=list)
    edges: list[tuple[str, str, str]] = field(default_factory=list)


async def _bounded(limit: int, calls: Iterable[Callable[[], Awaitable[Any]]]) -> None:
    """Run the calls, at most ``limit`` at a time."""
    gate = asyncio.Semaphore(limit)

    async def one(call: Callable[[], Awaitable[Any]]) -> None:
        async with gate:
            await call()

    await asyncio.gather(*(one(c) for c in calls))


def _dv(project: str, dataset: str, version: str) -> str:
    return f"projects/{project}/datasets/{dataset}/versions/{version}"


async def build(
    target: str, project: str, shape: Shape = Shape(), *, concurrency: int = 16
) -> Built:
    """Build the graph in ``project`` (which must exist) on the server at ``target``."""
    async with grpc.aio.insecure_channel(target) as channel:
        return await _Builder(channel, project, shape, concurrency).run()


class _Builder:
    def __init__(self, channel: grpc.aio.Channel, project: str, shape: Shape, limit: int) -> None:
        self.tracking: Any = tr_grpc.TrackingServiceStub(channel)
        self.registry: Any = reg_grpc.RegistryServiceStub(channel)
        self.production: Any = prod_grpc.ProductionServiceStub(channel)
        self.p = project
        self.shape = shape
        self.limit = limit
        self.out = Built(project, shape)
        self.base = f"projects/{project}"

    def edge(self, up: str, down: str, kind: str) -> None:
        self.out.edges.append((up, down, kind))

    async def run(self) -> Built:
        s, out = self.shape, self.out
        out.raws = [_dv(self.p, "raw", f"r{i:02d}") for i in range(s.raws)]
        holdouts = [_dv(self.p, "holdout", f"h{i:02d}") for i in range(s.holdouts)]
        out.batches = [_dv(self.p, "events", f"b{i:04d}") for i in range(s.batches)]
        await _bounded(
            self.limit,
            [self._dataset(name, []) for name in out.raws + holdouts],
        )
        await _bounded(
            self.limit,
            [self._dataset(b, [out.raws[i % s.raws]]) for i, b in enumerate(out.batches)],
        )
        n = s.models * s.versions
        runs = [f"{self.base}/runs/run_{g:04d}" for g in range(n)]
        await _bounded(self.limit, [self._run(g, runs[g]) for g in range(n)])
        for j in range(s.versions):  # each round fine-tunes the previous one
            await _bounded(
                self.limit, [self._version(m, j, runs[m * s.versions + j]) for m in range(s.models)]
            )
        out.versions = [
            f"{self.base}/models/m{m:02d}/versions/{j + 1}"
            for m in range(s.models)
            for j in range(s.versions)
        ]
        await _bounded(
            self.limit,
            [self._evaluation(g, holdouts[g % s.holdouts], runs[g]) for g in range(n)],
        )
        await _bounded(self.limit, [self._deployment(m) for m in range(s.models)])
        await self._records()
        return out

    def _dataset(self, name: str, parents: list[str]) -> Callable[[], Awaitable[Any]]:
        _, _, dataset, _, version = name.split("/")[1:]
        for parent in parents:
            self.edge(parent, name, "DERIVED")

        async def call() -> None:
            await self.tracking.CreateDatasetVersion(
                tr_rpc.CreateDatasetVersionRequest(
                    parent=f"{self.base}/datasets/{dataset}",
                    version_id=version,
                    dataset_version=pb.DatasetVersion(
                        uri=f"s3://bench/{dataset}/{version}",
                        batch_id=f"batch-{version}" if dataset == "events" else "",
                        parents=parents,
                    ),
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )

        return call

    def _run(self, g: int, name: str) -> Callable[[], Awaitable[Any]]:
        batches = self.out.batches
        inputs = sorted({batches[g % len(batches)], batches[(g + 7) % len(batches)]})
        for b in inputs:
            self.edge(b, name, "INPUT")

        async def call() -> None:
            await self.tracking.CreateRun(
                tr_rpc.CreateRunRequest(
                    parent=self.base,
                    run_id=name.rsplit("/", 1)[1],
                    run=pb.Run(inputs=[pb.DataRef(dataset_version=b) for b in inputs]),
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )

        return call

    def _version(self, m: int, j: int, run: str) -> Callable[[], Awaitable[Any]]:
        batches = self.out.batches
        g = m * self.shape.versions + j
        model = f"{self.base}/models/m{m:02d}"
        name = f"{model}/versions/{j + 1}"
        data = sorted({batches[g % len(batches)], batches[(g + 1) % len(batches)]})
        parent = f"{model}/versions/{j}" if j else ""
        for b in data:
            self.edge(b, name, "TRAINED")
        self.edge(run, name, "PRODUCED")
        if parent:
            self.edge(parent, name, "FINE_TUNED")

        async def call() -> None:
            await self.registry.CreateModelVersion(
                reg_rpc.CreateModelVersionRequest(
                    parent=model,
                    model_version=pb.ModelVersion(
                        artifact=pb.Artifact(uri=f"s3://bench/m{m:02d}/{j + 1}.pt"),
                        training_data=[pb.DataRef(dataset_version=b) for b in data],
                        source_run=run,
                        parent_version=parent,
                    ),
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )

        return call

    def _evaluation(self, g: int, holdout: str, run: str) -> Callable[[], Awaitable[Any]]:
        version = self.out.versions[g]
        name = f"{version}/evaluations/ev"
        self.edge(version, name, "EVALUATED")
        self.edge(holdout, name, "EVALUATED_ON")
        self.edge(run, name, "LOGGED")

        async def call() -> None:
            await self.tracking.CreateEvaluation(
                tr_rpc.CreateEvaluationRequest(
                    parent=version,
                    evaluation_id="ev",
                    evaluation=pb.Evaluation(
                        dataset_version=holdout, run=run, metrics={"accuracy": 0.5 + g % 50 / 100}
                    ),
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )

        return call

    def _deployment(self, m: int) -> Callable[[], Awaitable[Any]]:
        versions = self.shape.versions
        name = f"{self.base}/deployments/d{m:02d}"
        self.out.deployments.append(name)
        self.edge(f"{self.base}/models/m{m:02d}/versions/{versions}", name, "SERVED")

        async def call() -> None:
            await self.production.CreateDeployment(
                prod_rpc.CreateDeploymentRequest(
                    parent=self.base,
                    deployment_id=f"d{m:02d}",
                    deployment=pb.Deployment(
                        model=f"{self.base}/models/m{m:02d}",
                        traffic=[pb.TrafficSplit(version=versions, percent=100)],
                    ),
                ),
                metadata=METADATA,
                timeout=CALL_TIMEOUT_S,
            )

        return call

    async def _records(self) -> None:
        """One record per deployment and day (of its served version), and one per
        model and day sent without a deployment (version 1 + k on day k)."""
        s = self.shape
        today = datetime.now(timezone.utc).date()
        request = prod_rpc.WriteInferenceRecordBatchRequest(
            parent=self.base, writer_id="lineage-bench", batch_seq=0
        )
        for k in range(s.days):
            day: date = today - timedelta(days=k + 1)
            when = datetime.combine(day, time(12), timezone.utc)
            for m in range(s.models):
                model = f"{self.base}/models/m{m:02d}"
                deployment = f"{self.base}/deployments/d{m:02d}"
                served = f"{model}/versions/{s.versions}"
                window = f"{deployment}/windows/{day.isoformat()}"
                self.edge(deployment, window, "RECORDED")
                self.edge(served, window, "PREDICTED")
                version = 1 + k % s.versions
                own = f"{model}/windows/{day.isoformat()}"
                self.edge(f"{model}/versions/{version}", own, "PREDICTED")
                self.out.windows += [window, own]
                for v, dep in ((s.versions, f"d{m:02d}"), (version, "")):
                    r = request.records.add(
                        record_id=str(uuid.uuid4()), model=f"m{m:02d}", version=v, deployment=dep
                    )
                    r.event_time.FromDatetime(when)
        response = await self.production.WriteInferenceRecordBatch(
            request, metadata=METADATA, timeout=CALL_TIMEOUT_S
        )
        if response.accepted != len(request.records):
            raise AssertionError(f"records: {response}")
