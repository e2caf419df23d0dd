"""What the one-statement writers (registration, CreateRun, LogRunData) share:
typed param values as the key/value rows and read copies they store, the JSON
those travel in as one bound parameter, and dataset version references resolved
inside the statement."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import CTE, BigInteger, Double, FromClause, Text, bindparam, column, func, select
from sqlalchemy.dialects.postgresql import JSONB

from modelreg_server.domain.types import DataRef, ParamValue
from modelreg_server.storage.tables import dataset_versions, datasets, projects


def json_text(value: Any) -> str:
    """Compact JSON, UTF-8 kept as is: a jsonb parameter's text."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def encode_param(value: ParamValue) -> tuple[str, float | None, str]:
    """(kind, numeric value, exact text) of a typed param."""
    if isinstance(value, bool):
        return "bool", float(value), "true" if value else "false"
    if isinstance(value, int):
        return "int", float(value), str(value)
    if isinstance(value, float):
        return "float", value, repr(value)
    return "str", None, value


def param_rows(params: Mapping[str, ParamValue]) -> list[dict[str, Any]]:
    """The typed key/value rows of ``params`` (filters and ranking read them)."""
    rows = []
    for key, value in params.items():
        kind, num, text = encode_param(value)
        rows.append({"key": key, "kind": kind, "num_value": num, "text_value": text})
    return rows


def param_copy(params: Mapping[str, ParamValue]) -> list[list[str]]:
    """The elements of a param_list read copy: [key, kind, exact text]."""
    return [
        [k, kind, text] for k, (kind, _, text) in ((k, encode_param(v)) for k, v in params.items())
    ]


def param_recordset() -> FromClause:
    """The bound ``params`` (``param_rows`` as JSON) as rows, named ``x``."""
    return (
        func.jsonb_to_recordset(bindparam("params", type_=JSONB))
        .table_valued(
            column("key", Text),
            column("kind", Text),
            column("num_value", Double),
            column("text_value", Text),
        )
        .render_derived(name="x", with_types=True)
    )


def refs_json(project: str, refs: Sequence[DataRef], first: int) -> str:
    """The bound ``refs`` of ``resolved_refs``: each reference with its position
    (numbered from ``first``) and its project (the caller's when not given)."""
    return json_text(
        [
            {
                "position": n,
                "project": ref.project or project,
                "dataset": ref.dataset,
                "version": ref.version,
                "role": ref.role.value,
            }
            for n, ref in enumerate(refs, first)
        ]
    )


def resolved_refs() -> CTE:
    """The references in ``refs`` (position, project, dataset, version, role)
    joined to their dataset versions, as the CTE ``resolved``: a row for each that
    exists (a statement compares the count with ``ref_count`` to see them all)."""
    refs = (
        func.jsonb_to_recordset(bindparam("refs", type_=JSONB))
        .table_valued(
            column("position", BigInteger),
            column("project", Text),
            column("dataset", Text),
            column("version", Text),
            column("role", Text),
        )
        .render_derived(name="ref", with_types=True)
    )
    rp, ds, dv = projects.alias("rp"), datasets.alias("ds"), dataset_versions.alias("dv")
    return (
        select(refs, dv.c.id.label("dataset_version_id"), dv.c.batch_id)
        .join(rp, rp.c.name == refs.c.project)
        .join(ds, (ds.c.project_id == rp.c.id) & (ds.c.name == refs.c.dataset))
        .join(dv, (dv.c.dataset_id == ds.c.id) & (dv.c.version == refs.c.version))
        .cte("resolved")
    )
