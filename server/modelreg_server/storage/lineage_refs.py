"""Resource names of the lineage family resolved to graph nodes (``NodeKey``):
what a pipeline step's references and GetLineage's ``resource`` name.

Every form the graph knows is parsed here, checked segment by segment with the
rules of transport/names.py (storage may not import the service's validation,
so the few patterns are repeated below), then looked up in one query:

    projects/{p}/datasets/{d}/versions/{v}                  DATASET_VERSION
    projects/{p}/runs/{r}                                   RUN
    projects/{p}/models/{m}/versions/{n|alias|latest}       MODEL_VERSION
    projects/{p}/models/{m}/versions/{n|alias}/evaluations/{e}  EVALUATION
    projects/{p}/deployments/{d}                            DEPLOYMENT
    projects/{p}/pipelines/{pl}/runs/{r}                    PIPELINE_RUN
    projects/{p}/pipelines/{pl}/runs/{r}/steps/{s}          PIPELINE_STEP
    projects/{p}/deployments/{d}/windows/{YYYY-MM-DD}       INFERENCE_WINDOW (id: deployment)
    projects/{p}/models/{m}/windows/{YYYY-MM-DD}            INFERENCE_WINDOW (id: -model)

A malformed name is INVALID_ARGUMENT naming the field; a well-formed name of
nothing is NOT_FOUND. A model version named by an alias resolves to the version
the alias points at, and its canonical name (``resolve_named``) has the number."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import Any

from sqlalchemy import Select, and_, select

from modelreg_server.domain import errors
from modelreg_server.domain.lineage import Kind, NodeKey
from modelreg_server.domain.names import (
    DATASET_VERSION_RE,
    MAX_VERSION_DIGITS,
    NAME_RE,
    VERSION_RE,
    dataset_version_name,
    evaluation_name,
    run_name,
    version_name,
)
from modelreg_server.domain.types import VersionRef
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import (
    dataset_versions,
    datasets,
    deployments,
    evaluations,
    inference_daily_rollups,
    models,
    pipeline_runs,
    pipeline_steps,
    pipelines,
    projects,
    runs,
)

_DAY = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_MAX_NUMBER = 2**63 - 1
_SHOWN = 80

FORMS = (
    "projects/{p}/datasets/{d}/versions/{v}",
    "projects/{p}/runs/{r}",
    "projects/{p}/models/{m}/versions/{n}",
    "projects/{p}/models/{m}/versions/{n}/evaluations/{e}",
    "projects/{p}/deployments/{d}",
    "projects/{p}/pipelines/{pl}/runs/{r}",
    "projects/{p}/pipelines/{pl}/runs/{r}/steps/{s}",
    "projects/{p}/deployments/{d}/windows/{YYYY-MM-DD}",
    "projects/{p}/models/{m}/windows/{YYYY-MM-DD}",
)


def _shown(value: str) -> str:
    return repr(value if len(value) <= _SHOWN else value[:_SHOWN] + "...")


@dataclass(frozen=True)
class _Parsed:
    kind: Kind
    collections: tuple[str, ...]  # e.g. ("projects", "models", "versions")
    ids: tuple[str, ...]


def _check_id(collection: str, value: str, parent: str, field: str) -> None:
    if collection == "versions" and parent == "datasets":
        ok, what = bool(DATASET_VERSION_RE.fullmatch(value)), "dataset version id"
    elif collection == "versions":
        if VERSION_RE.fullmatch(value):
            digits = value.lstrip("0")
            if len(digits) > MAX_VERSION_DIGITS or not 1 <= int(digits or "0") <= _MAX_NUMBER:
                raise errors.InvalidArgument(
                    field, f"version number {_shown(value)} is out of range"
                )
            return
        ok, what = bool(NAME_RE.fullmatch(value)), "version or alias"
    elif collection == "windows":
        ok, what = bool(_DAY.fullmatch(value)), "day (YYYY-MM-DD)"
        if ok:
            try:
                date.fromisoformat(value)
            except ValueError:
                ok = False
    else:
        ok, what = bool(NAME_RE.fullmatch(value)), collection.removesuffix("s") + " id"
    if not ok:
        raise errors.InvalidArgument(field, f"invalid {what} {_shown(value)}")


_KINDS: dict[tuple[str, ...], Kind] = {
    ("projects", "datasets", "versions"): Kind.DATASET_VERSION,
    ("projects", "runs"): Kind.RUN,
    ("projects", "models", "versions"): Kind.MODEL_VERSION,
    ("projects", "models", "versions", "evaluations"): Kind.EVALUATION,
    ("projects", "deployments"): Kind.DEPLOYMENT,
    ("projects", "pipelines", "runs"): Kind.PIPELINE_RUN,
    ("projects", "pipelines", "runs", "steps"): Kind.PIPELINE_STEP,
    ("projects", "deployments", "windows"): Kind.INFERENCE_WINDOW,
    ("projects", "models", "windows"): Kind.INFERENCE_WINDOW,
}


def parse(name: str, field: str) -> _Parsed:
    """The kind and segments of ``name``; INVALID_ARGUMENT naming ``field``."""
    parts = name.split("/")
    collections = tuple(parts[0::2])
    kind = _KINDS.get(collections) if len(parts) % 2 == 0 else None
    if kind is None or not all(parts[1::2]):
        raise errors.InvalidArgument(
            field, f"not a resource name lineage knows: {_shown(name)}; expected one of "
            + ", ".join(FORMS),
        )  # fmt: skip
    ids = tuple(parts[1::2])
    for i, (collection, value) in enumerate(zip(collections, ids, strict=True)):
        _check_id(collection, value, collections[i - 1] if i else "", field)
    return _Parsed(kind, collections, ids)


# Lookups: each a statement of (id, canonical name parts) from the parsed ids.


def _dataset_version(ids: Sequence[str]) -> Select[Any]:
    p, d, v = ids
    return (
        select(dataset_versions.c.id)
        .join(datasets, datasets.c.id == dataset_versions.c.dataset_id)
        .join(projects, projects.c.id == datasets.c.project_id)
        .where(projects.c.name == p, datasets.c.name == d, dataset_versions.c.version == v)
    )


def _run(ids: Sequence[str]) -> Select[Any]:
    p, r = ids
    return (
        select(runs.c.id)
        .join(projects, projects.c.id == runs.c.project_id)
        .where(projects.c.name == p, runs.c.name == r)
    )


def _deployment(ids: Sequence[str]) -> Select[Any]:
    p, d = ids[:2]
    return (
        select(deployments.c.id)
        .join(projects, projects.c.id == deployments.c.project_id)
        .where(projects.c.name == p, deployments.c.name == d)
    )


def _pipeline_run(ids: Sequence[str]) -> Select[Any]:
    p, pl, r = ids[:3]
    return (
        select(pipeline_runs.c.id)
        .join(pipelines, pipelines.c.id == pipeline_runs.c.pipeline_id)
        .join(projects, projects.c.id == pipelines.c.project_id)
        .where(projects.c.name == p, pipelines.c.name == pl, pipeline_runs.c.name == r)
    )


def _pipeline_step(ids: Sequence[str]) -> Select[Any]:
    run = _pipeline_run(ids).subquery()
    return select(pipeline_steps.c.id).where(
        pipeline_steps.c.pipeline_run_id == run.c.id, pipeline_steps.c.name == ids[3]
    )


def _model(ids: Sequence[str]) -> Select[Any]:
    p, m = ids[:2]
    return (
        select(models.c.id)
        .join(projects, projects.c.id == models.c.project_id)
        .where(projects.c.name == p, models.c.name == m)
    )


_LOOKUPS: dict[Kind, Callable[[Sequence[str]], Select[Any]]] = {
    Kind.DATASET_VERSION: _dataset_version,
    Kind.RUN: _run,
    Kind.DEPLOYMENT: _deployment,
    Kind.PIPELINE_RUN: _pipeline_run,
    Kind.PIPELINE_STEP: _pipeline_step,
}
_LABELS = {
    Kind.DATASET_VERSION: "dataset version",
    Kind.RUN: "run",
    Kind.MODEL_VERSION: "version",
    Kind.EVALUATION: "evaluation",
    Kind.DEPLOYMENT: "deployment",
    Kind.PIPELINE_RUN: "pipeline run",
    Kind.PIPELINE_STEP: "pipeline step",
    Kind.INFERENCE_WINDOW: "inference window",
}


async def _version(conn: Conn, ids: Sequence[str], name: str) -> tuple[int, int]:
    """(row id, number) of the version ``ids`` address by number, alias or latest."""
    ref = VersionRef(ids[0], ids[1], ids[2].lstrip("0") if ids[2].isdigit() else ids[2])
    try:
        vid, number, _ = await version_q.resolve_id(conn, ref)
    except errors.NotFound:
        label = "version" if ids[2].isdigit() else "alias"
        raise errors.NotFound(label, name) from None
    return vid, number


async def _window(conn: Conn, parsed: _Parsed, name: str) -> NodeKey:
    """A day of a deployment's records, or of a model's records sent without one:
    found when the day has a rollup row."""
    day = date.fromisoformat(parsed.ids[-1])
    start = datetime(day.year, day.month, day.day, tzinfo=timezone.utc)
    r = inference_daily_rollups
    if parsed.collections[1] == "deployments":
        owner = await conn.scalar(_deployment(parsed.ids))
        node_id = None if owner is None else int(owner)
        where = r.c.deployment_id == owner
    else:
        owner = await conn.scalar(_model(parsed.ids))
        node_id = None if owner is None else -int(owner)
        where = and_(r.c.model_id == owner, r.c.deployment_id == 0)
    if node_id is not None:
        in_day = and_(where, r.c.day >= start)
        if day < date.max:  # the day after 9999-12-31 is out of the calendar
            in_day = and_(in_day, r.c.day < start + timedelta(days=1))
        if await conn.scalar(select(r.c.model_id).where(in_day).limit(1)) is not None:
            return NodeKey(Kind.INFERENCE_WINDOW, node_id, day)
    raise errors.NotFound("inference window", name)


async def resolve_named(conn: Conn, name: str, field: str) -> tuple[NodeKey, str]:
    """The node ``name`` names and its canonical name (a version by number, not
    by alias; version numbers without leading zeros)."""
    parsed = parse(name, field)
    ids = parsed.ids
    if parsed.kind is Kind.INFERENCE_WINDOW:
        return await _window(conn, parsed, name), name
    if parsed.kind is Kind.MODEL_VERSION:
        vid, number = await _version(conn, ids, name)
        return NodeKey(Kind.MODEL_VERSION, vid), version_name(ids[0], ids[1], number)
    if parsed.kind is Kind.EVALUATION:
        vid, number = await _version(conn, ids, name)
        eid = await conn.scalar(
            select(evaluations.c.id).where(
                evaluations.c.version_id == vid, evaluations.c.evaluation_id == ids[3]
            )
        )
        if eid is None:
            raise errors.NotFound("evaluation", name)
        canonical = evaluation_name(ids[0], ids[1], number, ids[3])
        return NodeKey(Kind.EVALUATION, int(eid)), canonical
    found = await conn.scalar(_LOOKUPS[parsed.kind](ids))
    if found is None:
        raise errors.NotFound(_LABELS[parsed.kind], name)
    canonical = name
    if parsed.kind is Kind.DATASET_VERSION:
        canonical = dataset_version_name(*ids)
    elif parsed.kind is Kind.RUN:
        canonical = run_name(*ids)
    return NodeKey(parsed.kind, int(found)), canonical


async def resolve(conn: Conn, name: str, field: str) -> NodeKey:
    """The node ``name`` names: INVALID_ARGUMENT naming ``field`` when the name is
    malformed, NOT_FOUND when it names nothing."""
    return (await resolve_named(conn, name, field))[0]
