"""Use cases on evaluations, and comparing and ranking model versions by them."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import (
    ComparedMetric,
    ComparedParam,
    Comparison,
    Evaluation,
    MetricCell,
    NewEvaluation,
    RankedVersion,
    RankQuery,
    RunRef,
)
from modelreg_server.domain.names import evaluation_name, version_name
from modelreg_server.domain.types import ListQuery, ModelVersion, Page, VersionRef
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_ref
from modelreg_server.service.datasets import check_dataset_version_ref
from modelreg_server.storage import datasets as dataset_q
from modelreg_server.storage import evaluations as evaluation_q
from modelreg_server.storage import models as model_q
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import ranking as ranking_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn, Store

MAX_SLICE = 256
MAX_COMPARED = 100


def _check_run(ref: RunRef, field: str) -> None:
    check.name(ref.project, field, "project")
    check.name(ref.run, field, "run")


def check_new_evaluation(
    spec: NewEvaluation, limits: FieldLimits, field: str = "evaluation"
) -> None:
    if spec.dataset_version is None:
        raise errors.InvalidArgument(f"{field}.dataset_version", "required")
    check_dataset_version_ref(spec.dataset_version, f"{field}.dataset_version")
    check.text(spec.slice, f"{field}.slice", MAX_SLICE)
    if not spec.metrics:
        raise errors.InvalidArgument(f"{field}.metrics", "at least one metric is required")
    if len(spec.metrics) > limits.max_evaluation_metrics:
        raise errors.InvalidArgument(
            f"{field}.metrics", f"more than {check.over(limits, 'max_evaluation_metrics')} metrics"
        )
    for key, value in spec.metrics.items():
        where = f"{field}.metrics[{check.shown(key)}]"
        check.metric_key(key, where, limits)
        if not math.isfinite(value):
            raise errors.InvalidArgument(where, "must be a finite number (no NaN or infinity)")
    if spec.run is not None:
        _check_run(spec.run, f"{field}.run")
    check.labels(spec.labels, f"{field}.labels", limits)


def _version_label(ref: VersionRef) -> str:
    return version_name(ref.project, ref.model, ref.selector)


class EvaluationsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

    async def create_evaluation(
        self,
        parent: VersionRef,
        evaluation_id: str,
        spec: NewEvaluation,
        *,
        actor: str,
        request_id: str = "",
    ) -> Evaluation:
        check_ref(parent, "parent")
        if evaluation_id:
            check.name(evaluation_id, "evaluation_id", "evaluation id")
        check_new_evaluation(spec, self._limits)

        async def work(conn: Conn) -> Evaluation:
            vid, number, _ = await version_q.resolve_id(conn, parent)
            return await evaluation_q.create(
                conn,
                vid,
                (parent.project, parent.model, number),
                evaluation_id,
                spec,
                created_by=actor,
            )

        payload = (parent, evaluation_id, spec)
        return await self._requests.run(
            idem.CREATE_EVALUATION, request_id, payload, work, scope=_version_label(parent)
        )

    async def get_evaluation(self, parent: VersionRef, evaluation_id: str) -> Evaluation:
        check_ref(parent, "name")
        async with self._store.read() as conn:
            vid, number, _ = await version_q.resolve_id(conn, parent)
            found = await evaluation_q.get(conn, vid, evaluation_id)
        if found is None:
            name = evaluation_name(parent.project, parent.model, number, evaluation_id)
            raise errors.NotFound("evaluation", name)
        return found

    async def list_evaluations(self, parent: VersionRef, q: ListQuery) -> Page[Evaluation]:
        check_ref(parent, "parent")
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            vid, _, _ = await version_q.resolve_id(conn, parent)
            return await evaluation_q.list_(conn, vid, q, tokens)

    # Compare

    async def compare(self, project: str, model: str, selectors: Sequence[str]) -> Comparison:
        if not 1 <= len(selectors) <= MAX_COMPARED:
            raise errors.InvalidArgument("versions", f"give 1 to {MAX_COMPARED} versions")
        for i, selector in enumerate(selectors):
            check.version_selector(selector, f"versions[{i}]")
        async with self._store.read() as conn:
            found = await evaluation_q.versions_by_selectors(conn, project, model, selectors)
            ids = list(dict.fromkeys(v["id"] for v in found))
            scores = await evaluation_q.scores_of(conn, ids)
        return Comparison(
            versions=found, params=_compare_params(found), metrics=_compare_metrics(found, scores)
        )

    # Rank

    async def rank(self, q: RankQuery) -> tuple[Page[RankedVersion], int]:
        """A page of the ranking, and the rank of its first row."""
        check.name(q.project, "parent", "project")
        if q.model:
            check.name(q.model, "parent", "model")
        check.stored_metric_key(q.metric, "metric")
        check_dataset_version_ref(q.dataset_version, "dataset_version")
        check.text(q.slice, "slice", MAX_SLICE)
        tokens = await self._store.page_tokens()
        async with self._store.hot() as raw:
            page, first = await ranking_q.rank(raw, q, tokens)
        if not page.items:
            # Nothing ranked: say so only if everything named exists.
            async with self._store.read() as conn:
                if q.model:
                    await model_q.id_of(conn, q.project, q.model)
                else:
                    await project_q.id_of(conn, q.project)
                await dataset_q.resolve_id(conn, q.dataset_version, "dataset_version")
        return page, first


def _compare_params(found: Sequence[ModelVersion]) -> list[ComparedParam]:
    per_version = [{key: (kind, text) for key, kind, text in v["param_list"]} for v in found]
    keys = sorted({key for params in per_version for key in params})
    result = []
    for key in keys:
        values = [params.get(key) for params in per_version]
        result.append(ComparedParam(key=key, values=values, differs=len(set(values)) > 1))
    return result


def _compare_metrics(
    found: Sequence[ModelVersion], scores: Sequence[Mapping[str, Any]]
) -> list[ComparedMetric]:
    cells: dict[tuple[str, str, str], dict[int, MetricCell]] = {}
    for s in scores:
        key = (s["dataset_version"], s["slice"], s["key"])
        cells.setdefault(key, {})[s["version_id"]] = MetricCell(s["value"], s["evaluation"])
    return [
        ComparedMetric(
            dataset_version=dv,
            slice=slice_,
            metric=metric,
            cells=[by.get(v["id"]) for v in found],
        )
        for (dv, slice_, metric), by in sorted(cells.items())
    ]
