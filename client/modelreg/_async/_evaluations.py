"""Evaluations (``.../versions/{n}/evaluations/{e}``); comparing and ranking versions by them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TypeAlias

import grpc

from modelreg import _convert
from modelreg import _requests as req
from modelreg import _tracking_requests as tr
from modelreg._async._rpc import TRACKING, AsyncPager, AsyncRPC
from modelreg._errors import NotFoundError
from modelreg._tracking_types import (
    Evaluation,
    Goal,
    Named,
    RankedVersion,
    VersionComparison,
)
from modelreg._types import ModelVersion
from modelreg.api.v1 import tracking_service_pb2 as tracking

VersionRef: TypeAlias = ModelVersion | str | tuple[str, str, int | str]


def _version_name(version: VersionRef) -> str:
    if isinstance(version, tuple):
        return req.version_name(*version)
    return req.name_of(version, "version")


class AsyncEvaluations:
    """The evaluation, compare and rank methods of AsyncClient."""

    _rpc: AsyncRPC

    async def log_evaluation(
        self,
        version: VersionRef,
        *,
        dataset: Named | str,
        metrics: Mapping[str, float],
        slice: str = "",
        run: Named | str | None = None,
        evaluation_id: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Evaluation:
        """Record the metrics of a model version on a dataset version.

        Args:
            version: a ModelVersion, its resource name, or ``(project, model, number)``.
            dataset: a DatasetVersion or its resource name.
            metrics: name -> finite value, e.g. ``{"precision": 0.78, "recall": 0.74}``.
            slice: a named part of the dataset, e.g. ``country=kr``; "" for all of it.
            run: the run that computed them: a Run, an active run, or a run's resource name.
            evaluation_id: ``[a-z][a-z0-9_-]{0,62}``; ``eval_1``, ... if not given.
        """
        request = tr.create_evaluation(
            _version_name(version),
            dataset=dataset,
            metrics=metrics,
            slice=slice,
            run=run,
            evaluation_id=evaluation_id,
            labels=labels,
            request_id=request_id,
        )
        message = await self._rpc.call("CreateEvaluation", request, service=TRACKING)
        return _convert.evaluation(message)

    async def get_evaluation(
        self, project: str, model: str, version: int | str, evaluation_id: str
    ) -> Evaluation:
        name = f"{req.version_name(project, model, version)}/evaluations/{evaluation_id}"
        request = tracking.GetEvaluationRequest(name=name)
        message = await self._rpc.call("GetEvaluation", request, service=TRACKING)
        return _convert.evaluation(message)

    def list_evaluations(
        self, project: str, model: str, version: int | str, *, page_size: int = 0
    ) -> AsyncPager[Evaluation]:
        """Iterate over the evaluations of a version (number or alias), oldest first."""
        request = tracking.ListEvaluationsRequest(
            parent=req.version_name(project, model, version), page_size=req.page_size(page_size)
        )
        return self._rpc.pages(
            "ListEvaluations", request, "evaluations", _convert.evaluation, service=TRACKING
        )

    async def compare_versions(
        self, project: str, model: str, versions: Sequence[int | str]
    ) -> VersionComparison:
        """Versions side by side (1 to 100, by number or alias): the versions themselves,
        every param (``.differing_params`` names those that differ) and every metric of
        their latest evaluations per dataset version and slice."""
        request = tracking.CompareModelVersionsRequest(
            parent=req.model_name(project, model), versions=[str(v) for v in versions]
        )
        message = await self._rpc.call("CompareModelVersions", request, service=TRACKING)
        return _convert.comparison(message)

    def rank_versions(
        self,
        project: str,
        model: str | None = None,
        *,
        metric: str,
        dataset: Named | str,
        goal: Goal | str = Goal.MAXIMIZE,
        slice: str = "",
        filter: str = "",
        page_size: int = 0,
    ) -> AsyncPager[RankedVersion]:
        """Iterate over the versions of ``model`` (or of every model of the project, if
        None), best first, by ``metric`` in their latest evaluation on ``dataset``.

        Versions with equal scores rank in registration order (the earlier one first);
        versions with no such evaluation are not ranked.

        Args:
            dataset: a DatasetVersion or its resource name.
            goal: ``"max"`` (higher is better, the default) or ``"min"``.
            slice: rank by the metric on this slice of the dataset.
            filter: the versions filter, plus ``model`` and ``training_data.dataset``,
                ``training_data.dataset_version``, ``training_data.batch_id``.
        """
        parent = req.project_name(project) if model is None else req.model_name(project, model)
        request = tr.rank(
            parent,
            metric=metric,
            dataset=dataset,
            goal_=goal,
            slice=slice,
            filter=filter,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages(
            "RankModelVersions", request, "ranked", _convert.ranked_version, service=TRACKING
        )

    async def best_version(
        self,
        project: str,
        model: str | None = None,
        *,
        metric: str,
        dataset: Named | str,
        goal: Goal | str = Goal.MAXIMIZE,
        slice: str = "",
        filter: str = "",
    ) -> ModelVersion:
        """The first version of ``rank_versions``: the best by ``metric`` on ``dataset``.

        Raises:
            NotFoundError: no version has an evaluation of ``metric`` on ``dataset``
                (and ``slice``) that passes ``filter``.
        """
        parent = req.project_name(project) if model is None else req.model_name(project, model)
        request = tr.rank(
            parent,
            metric=metric,
            dataset=dataset,
            goal_=goal,
            slice=slice,
            filter=filter,
            page_size=1,
        )
        response = await self._rpc.call("RankModelVersions", request, service=TRACKING)
        if not response.ranked:
            where = f"{request.dataset_version}" + (f" (slice {slice!r})" if slice else "")
            raise NotFoundError(
                grpc.StatusCode.NOT_FOUND,
                f"no version of {parent} has an evaluation of {metric!r} on {where}"
                + (f" matching {filter!r}" if filter else ""),
            )
        return _convert.model_version(response.ranked[0].model_version)
