"""The lineage graph's edges: one spec per edge kind, saying which node kinds it
joins and how to find, from a set of nodes of one kind, their neighbours across
it in each direction.

Each spec's SQL takes the ids of the nodes it starts from as ``$1`` (a bigint
array; for inference windows ``$2`` holds their days, a date array) and yields
rows ``(src_id, src_day, dst_kind, dst_id, dst_day, role)``: the node it started
from, and the neighbour. Every lookup column has an index. ``statement(kind,
upstream)`` joins the specs that start from one kind into one ``UNION ALL``
statement, so a walk costs one round trip per kind per level.

Inference windows have no row: a window is a deployment's id (or, for records
sent without a deployment, the model's id negated) and a UTC day, found in
``inference_daily_rollups`` (whose ``day`` is the day's UTC midnight)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache

from modelreg_server.domain.lineage import REF_KINDS, EdgeKind, Kind

DV = Kind.DATASET_VERSION
MV = Kind.MODEL_VERSION
WINDOW = Kind.INFERENCE_WINDOW

_IDS = "ANY($1::bigint[])"
# The windows walked from, with their days.
_WINDOWS = "unnest($1::bigint[], $2::date[]) AS w(id, day)"
_DAY = "(r.day AT TIME ZONE 'UTC')::date"


def _link(
    table: str, src: str, dst: str, dst_kind: Kind, *, role: str = "''", where: str = ""
) -> str:
    """Neighbours through one table's columns: ``src`` is the column holding the ids
    walked from, ``dst`` the neighbour's id."""
    return (
        f"SELECT t.{src} AS src_id, NULL::date AS src_day, '{dst_kind.value}'::text AS dst_kind,"
        f" t.{dst} AS dst_id, NULL::date AS dst_day, {role}::text AS role"
        f" FROM {table} AS t WHERE t.{src} = {_IDS}{where}"
    )


def _ref_to_step(kind: Kind, direction: str) -> str:
    """From resources of ``kind`` to the steps that read (INPUT) or made (OUTPUT) them."""
    return (
        "SELECT t.target_id AS src_id, NULL::date AS src_day, 'PIPELINE_STEP'::text AS dst_kind,"
        " t.step_id AS dst_id, NULL::date AS dst_day, t.role AS role"
        f" FROM pipeline_step_refs AS t WHERE t.kind = '{kind.value}'"
        f" AND t.target_id = {_IDS} AND t.direction = '{direction}'"
    )


def _step_to_ref(direction: str) -> str:
    """From steps to the resources they read (INPUT) or made (OUTPUT)."""
    return (
        "SELECT t.step_id AS src_id, NULL::date AS src_day, t.kind AS dst_kind,"
        " t.target_id AS dst_id, NULL::date AS dst_day, t.role AS role"
        f" FROM pipeline_step_refs AS t WHERE t.step_id = {_IDS} AND t.direction = '{direction}'"
    )


# A share of the deployment's current traffic above 0 percent for the version.
_SERVES = (
    "d.state <> 'RETIRED' AND EXISTS (SELECT 1 FROM jsonb_array_elements(d.traffic) AS s"
    " WHERE (s->>0)::bigint = v.version AND (s->>1)::numeric > 0)"
)

_SERVED_DOWN = (
    "SELECT v.id AS src_id, NULL::date AS src_day, 'DEPLOYMENT'::text AS dst_kind,"
    " d.id AS dst_id, NULL::date AS dst_day, ''::text AS role"
    " FROM model_versions AS v JOIN deployments AS d ON d.model_id = v.model_id"
    f" WHERE v.id = {_IDS} AND {_SERVES}"
)
_SERVED_UP = (
    "SELECT d.id AS src_id, NULL::date AS src_day, 'MODEL_VERSION'::text AS dst_kind,"
    " v.id AS dst_id, NULL::date AS dst_day, ''::text AS role"
    " FROM deployments AS d CROSS JOIN LATERAL jsonb_array_elements(d.traffic) AS s"
    " JOIN model_versions AS v ON v.model_id = d.model_id AND v.version = (s->>0)::bigint"
    f" WHERE d.id = {_IDS} AND d.state <> 'RETIRED' AND (s->>1)::numeric > 0"
)
_RECORDED_DOWN = (
    "SELECT DISTINCT d.id AS src_id, NULL::date AS src_day, 'INFERENCE_WINDOW'::text AS dst_kind,"
    f" d.id AS dst_id, {_DAY} AS dst_day, ''::text AS role"
    " FROM deployments AS d JOIN inference_daily_rollups AS r"
    " ON r.model_id = d.model_id AND r.deployment_id = d.id"
    f" WHERE d.id = {_IDS}"
)
_RECORDED_UP = (
    "SELECT w.id AS src_id, w.day AS src_day, 'DEPLOYMENT'::text AS dst_kind,"
    " w.id AS dst_id, NULL::date AS dst_day, ''::text AS role"
    f" FROM {_WINDOWS} WHERE w.id > 0"
)
_PREDICTED_DOWN = (
    "SELECT DISTINCT v.id AS src_id, NULL::date AS src_day, 'INFERENCE_WINDOW'::text AS dst_kind,"
    " CASE WHEN r.deployment_id = 0 THEN -r.model_id ELSE r.deployment_id END AS dst_id,"
    f" {_DAY} AS dst_day, ''::text AS role"
    " FROM model_versions AS v JOIN inference_daily_rollups AS r"
    " ON r.model_id = v.model_id AND r.version = v.version"
    f" WHERE v.id = {_IDS}"
)
_PREDICTED_UP = (
    "SELECT DISTINCT w.id AS src_id, w.day AS src_day, 'MODEL_VERSION'::text AS dst_kind,"
    " v.id AS dst_id, NULL::date AS dst_day, ''::text AS role"
    f" FROM {_WINDOWS} JOIN inference_daily_rollups AS r"
    " ON r.model_id = CASE WHEN w.id > 0"
    " THEN (SELECT d.model_id FROM deployments AS d WHERE d.id = w.id) ELSE -w.id END"
    " AND r.day = (w.day::timestamp AT TIME ZONE 'UTC') AND r.deployment_id = greatest(w.id, 0)"
    " JOIN model_versions AS v ON v.model_id = r.model_id AND v.version = r.version"
)


@dataclass(frozen=True)
class EdgeSpec:
    """One kind of edge, always from the upstream end to the downstream end:
    ``downstream_sql`` walks from nodes at the upstream end (by their kind) to the
    downstream end, ``upstream_sql`` the other way."""

    kind: EdgeKind
    downstream_sql: Mapping[Kind, str]
    upstream_sql: Mapping[Kind, str]


EDGES: tuple[EdgeSpec, ...] = (
    EdgeSpec(
        EdgeKind.DERIVED,
        {DV: _link("dataset_version_parents", "parent_id", "child_id", DV)},
        {DV: _link("dataset_version_parents", "child_id", "parent_id", DV)},
    ),
    EdgeSpec(
        EdgeKind.INPUT,
        {DV: _link("run_inputs", "dataset_version_id", "run_id", Kind.RUN, role="t.role")},
        {Kind.RUN: _link("run_inputs", "run_id", "dataset_version_id", DV, role="t.role")},
    ),
    EdgeSpec(
        EdgeKind.TRAINED,
        {DV: _link("model_version_data", "dataset_version_id", "version_id", MV, role="t.role")},
        {
            MV: _link(
                "model_version_data",
                "version_id",
                "dataset_version_id",
                DV,
                role="t.role",
                where=" AND t.dataset_version_id IS NOT NULL",
            )
        },
    ),
    EdgeSpec(
        EdgeKind.PRODUCED,
        {Kind.RUN: _link("model_versions", "run_id", "id", MV)},
        {MV: _link("model_versions", "id", "run_id", Kind.RUN, where=" AND t.run_id IS NOT NULL")},
    ),
    EdgeSpec(
        EdgeKind.FINE_TUNED,
        {MV: _link("model_versions", "parent_id", "id", MV)},
        {MV: _link("model_versions", "id", "parent_id", MV, where=" AND t.parent_id IS NOT NULL")},
    ),
    EdgeSpec(
        EdgeKind.EVALUATED,
        {MV: _link("evaluations", "version_id", "id", Kind.EVALUATION)},
        {Kind.EVALUATION: _link("evaluations", "id", "version_id", MV)},
    ),
    EdgeSpec(
        EdgeKind.EVALUATED_ON,
        {DV: _link("evaluations", "dataset_version_id", "id", Kind.EVALUATION)},
        {Kind.EVALUATION: _link("evaluations", "id", "dataset_version_id", DV)},
    ),
    EdgeSpec(
        EdgeKind.LOGGED,
        {Kind.RUN: _link("evaluations", "run_id", "id", Kind.EVALUATION)},
        {
            Kind.EVALUATION: _link(
                "evaluations", "id", "run_id", Kind.RUN, where=" AND t.run_id IS NOT NULL"
            )
        },
    ),
    EdgeSpec(EdgeKind.SERVED, {MV: _SERVED_DOWN}, {Kind.DEPLOYMENT: _SERVED_UP}),
    EdgeSpec(EdgeKind.RECORDED, {Kind.DEPLOYMENT: _RECORDED_DOWN}, {WINDOW: _RECORDED_UP}),
    EdgeSpec(EdgeKind.PREDICTED, {MV: _PREDICTED_DOWN}, {WINDOW: _PREDICTED_UP}),
    EdgeSpec(
        EdgeKind.STEP_INPUT,
        {k: _ref_to_step(k, "INPUT") for k in sorted(REF_KINDS, key=lambda k: k.value)},
        {Kind.PIPELINE_STEP: _step_to_ref("INPUT")},
    ),
    EdgeSpec(
        EdgeKind.STEP_OUTPUT,
        {Kind.PIPELINE_STEP: _step_to_ref("OUTPUT")},
        {k: _ref_to_step(k, "OUTPUT") for k in sorted(REF_KINDS, key=lambda k: k.value)},
    ),
    EdgeSpec(
        EdgeKind.STEP_OF,
        {Kind.PIPELINE_RUN: _link("pipeline_steps", "pipeline_run_id", "id", Kind.PIPELINE_STEP)},
        {Kind.PIPELINE_STEP: _link("pipeline_steps", "id", "pipeline_run_id", Kind.PIPELINE_RUN)},
    ),
)


@cache
def statement(kind: Kind, upstream: bool) -> str | None:
    """One statement finding every neighbour of nodes of ``kind`` in one direction,
    as rows ``(edge, src_id, src_day, dst_kind, dst_id, dst_day, role)``; None when
    no edge leaves that kind that way."""
    parts = []
    for spec in EDGES:
        sql = (spec.upstream_sql if upstream else spec.downstream_sql).get(kind)
        if sql is not None:
            parts.append(f"SELECT '{spec.kind.value}'::text AS edge, e.* FROM ({sql}) AS e")
    return " UNION ALL ".join(parts) if parts else None
