"""Describing lineage nodes: for the nodes of a walk, their resource names,
short labels (``detector_v3``, ``batch 2024-11-06``) and a few facts, one
statement per kind. A node whose row is gone (a pipeline step's reference to a
version deleted since) is simply not described, and so dropped from the graph."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from datetime import date, datetime
from typing import Any

from modelreg_server.domain import names
from modelreg_server.domain.graph import Described
from modelreg_server.domain.lineage import Kind
from modelreg_server.storage.lineage_walk import Key
from modelreg_server.storage.store import RawConn

_IDS = "ANY($1::bigint[])"

_SQL: dict[Kind, str] = {
    Kind.DATASET_VERSION: (
        "SELECT v.id, p.name AS project, d.name AS dataset, v.version, v.batch_id, v.split,"
        " v.row_count, v.data_start_time, v.data_end_time"
        " FROM dataset_versions AS v JOIN datasets AS d ON d.id = v.dataset_id"
        f" JOIN projects AS p ON p.id = d.project_id WHERE v.id = {_IDS}"
    ),
    Kind.RUN: (
        "SELECT r.id, p.name AS project, r.name, r.state, r.experiment"
        f" FROM runs AS r JOIN projects AS p ON p.id = r.project_id WHERE r.id = {_IDS}"
    ),
    Kind.MODEL_VERSION: (
        "SELECT v.id, p.name AS project, m.name AS model, v.version, v.state,"
        " (SELECT string_agg(a.alias, ',' ORDER BY a.alias) FROM aliases AS a"
        "  WHERE a.version_id = v.id) AS aliases"
        " FROM model_versions AS v JOIN models AS m ON m.id = v.model_id"
        f" JOIN projects AS p ON p.id = m.project_id WHERE v.id = {_IDS}"
    ),
    Kind.EVALUATION: (
        "SELECT e.id, p.name AS project, m.name AS model, v.version, e.evaluation_id, e.slice,"
        " e.metrics::text AS metrics, dp.name AS dv_project, d.name AS dataset,"
        " dv.version AS dataset_version"
        " FROM evaluations AS e JOIN model_versions AS v ON v.id = e.version_id"
        " JOIN models AS m ON m.id = v.model_id JOIN projects AS p ON p.id = m.project_id"
        " JOIN dataset_versions AS dv ON dv.id = e.dataset_version_id"
        " JOIN datasets AS d ON d.id = dv.dataset_id JOIN projects AS dp ON dp.id = d.project_id"
        f" WHERE e.id = {_IDS}"
    ),
    Kind.DEPLOYMENT: (
        "SELECT d.id, p.name AS project, d.name, d.state, d.environment,"
        " d.traffic::text AS traffic, m.name AS model"
        " FROM deployments AS d JOIN projects AS p ON p.id = d.project_id"
        f" JOIN models AS m ON m.id = d.model_id WHERE d.id = {_IDS}"
    ),
    Kind.PIPELINE_RUN: (
        "SELECT r.id, p.name AS project, pl.name AS pipeline, r.name, r.state,"
        " r.definition_version"
        " FROM pipeline_runs AS r JOIN pipelines AS pl ON pl.id = r.pipeline_id"
        f" JOIN projects AS p ON p.id = r.project_id WHERE r.id = {_IDS}"
    ),
    Kind.PIPELINE_STEP: (
        "SELECT s.id, p.name AS project, pl.name AS pipeline, r.name AS run, s.name, s.state"
        " FROM pipeline_steps AS s JOIN pipeline_runs AS r ON r.id = s.pipeline_run_id"
        " JOIN pipelines AS pl ON pl.id = r.pipeline_id"
        f" JOIN projects AS p ON p.id = r.project_id WHERE s.id = {_IDS}"
    ),
    # A window is described when its day has rollup rows: of its deployment (id > 0),
    # or of its model's records sent without one (id = -model id).
    Kind.INFERENCE_WINDOW: (
        "SELECT w.id, w.day, p.name AS project, d.name AS deployment, m.name AS model,"
        " sum(r.count) AS records, sum(r.feedback_count) AS feedback"
        " FROM unnest($1::bigint[], $2::date[]) AS w(id, day)"
        " LEFT JOIN deployments AS d ON w.id > 0 AND d.id = w.id"
        " JOIN models AS m ON m.id = CASE WHEN w.id > 0 THEN d.model_id ELSE -w.id END"
        " JOIN projects AS p ON p.id = m.project_id"
        " JOIN inference_daily_rollups AS r ON r.model_id = m.id"
        " AND r.deployment_id = greatest(w.id, 0)"
        " AND r.day = (w.day::timestamp AT TIME ZONE 'UTC')"
        " GROUP BY w.id, w.day, p.name, d.name, m.name"
    ),
}


def _facts(**values: object) -> dict[str, str]:
    """The attributes that have a value."""
    out: dict[str, str] = {}
    for key, value in values.items():
        if value is None or value == "":
            continue
        out[key] = value.isoformat() if isinstance(value, datetime | date) else str(value)
    return out


def _dataset_version(row: Any) -> Described:
    batch = row["batch_id"]
    return Described(
        names.dataset_version_name(row["project"], row["dataset"], row["version"]),
        f"batch {batch}" if batch else f"{row['dataset']}/{row['version']}",
        _facts(
            dataset=row["dataset"],
            version=row["version"],
            batch_id=batch,
            split=row["split"],
            rows=row["row_count"],
            data_start_time=row["data_start_time"],
            data_end_time=row["data_end_time"],
        ),
        batch=bool(batch),
    )


def _run(row: Any) -> Described:
    return Described(
        names.run_name(row["project"], row["name"]),
        row["name"],
        _facts(state=row["state"], experiment=row["experiment"]),
    )


def _model_version(row: Any) -> Described:
    return Described(
        names.version_name(row["project"], row["model"], row["version"]),
        names.display_name(row["model"], row["version"]),
        _facts(
            model=row["model"], version=row["version"], state=row["state"], aliases=row["aliases"]
        ),
    )


def _evaluation(row: Any) -> Described:
    dataset = f"{row['dataset']}/{row['dataset_version']}"
    label = f"{names.display_name(row['model'], row['version'])} on {dataset}"
    metrics: dict[str, float] = json.loads(row["metrics"])
    return Described(
        names.evaluation_name(row["project"], row["model"], row["version"], row["evaluation_id"]),
        f"{label} [{row['slice']}]" if row["slice"] else label,
        {
            **_facts(
                evaluation_id=row["evaluation_id"],
                dataset_version=names.dataset_version_name(
                    row["dv_project"], row["dataset"], row["dataset_version"]
                ),
                slice=row["slice"],
            ),
            **{f"metrics.{k}": repr(float(v)) for k, v in metrics.items()},
        },
    )


def _deployment(row: Any) -> Described:
    traffic = json.loads(row["traffic"])
    return Described(
        f"{names.project_name(row['project'])}/deployments/{row['name']}",
        row["name"],
        _facts(
            model=row["model"],
            state=row["state"],
            environment=row["environment"],
            traffic=", ".join(f"v{version} {percent}%" for version, percent in traffic),
        ),
    )


def _pipeline_run(row: Any) -> Described:
    pipeline = f"{names.project_name(row['project'])}/pipelines/{row['pipeline']}"
    return Described(
        f"{pipeline}/runs/{row['name']}",
        f"{row['pipeline']} {row['name']}",
        _facts(
            pipeline=row["pipeline"],
            state=row["state"],
            definition_version=row["definition_version"],
        ),
    )


def _pipeline_step(row: Any) -> Described:
    run = f"{names.project_name(row['project'])}/pipelines/{row['pipeline']}/runs/{row['run']}"
    return Described(
        f"{run}/steps/{row['name']}",
        f"{row['pipeline']} {row['run']} {row['name']}",
        _facts(state=row["state"]),
    )


def _window(row: Any) -> Described:
    owner = f"deployments/{row['deployment']}" if row["id"] > 0 else f"models/{row['model']}"
    day = row["day"].isoformat()
    return Described(
        f"{names.project_name(row['project'])}/{owner}/windows/{day}",
        f"{row['deployment'] or row['model']} {day}",
        _facts(
            day=day,
            deployment=row["deployment"],
            model=row["model"],
            records=row["records"],
            feedback=row["feedback"],
        ),
    )


_DESCRIBE: dict[Kind, Callable[[Any], Described]] = {
    Kind.DATASET_VERSION: _dataset_version,
    Kind.RUN: _run,
    Kind.MODEL_VERSION: _model_version,
    Kind.EVALUATION: _evaluation,
    Kind.DEPLOYMENT: _deployment,
    Kind.PIPELINE_RUN: _pipeline_run,
    Kind.PIPELINE_STEP: _pipeline_step,
    Kind.INFERENCE_WINDOW: _window,
}


async def describe(raw: RawConn, keys: Iterable[Key]) -> dict[Key, Described]:
    """The nodes of ``keys`` that exist, described; one statement per kind."""
    by_kind: dict[str, list[Key]] = defaultdict(list)
    for key in keys:
        by_kind[key[0]].append(key)
    out: dict[Key, Described] = {}
    for value, group in by_kind.items():
        kind = Kind(value)
        args: list[Any] = [[k[1] for k in group]]
        window = kind is Kind.INFERENCE_WINDOW
        if window:
            args.append([k[2] for k in group])
        convert = _DESCRIBE[kind]
        for row in await raw.fetch(_SQL[kind], *args):
            out[(value, row["id"], row["day"] if window else None)] = convert(row)
    return out
