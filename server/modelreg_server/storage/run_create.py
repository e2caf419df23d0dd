"""CreateRun's statements: the whole create in one statement on the raw
connection (``create_fast``), and the transaction path (``create``, with
storage/ids.py) for what it leaves: a missing project or input to tell apart, a
made id already taken."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    FromClause,
    Select,
    Text,
    bindparam,
    column,
    func,
    literal,
    literal_column,
    select,
    true,
    union_all,
)
from sqlalchemy import cast as sql_cast
from sqlalchemy.dialects.postgresql import JSONB, aggregate_order_by
from sqlalchemy.dialects.postgresql import insert as pg_insert

from modelreg_server.domain import errors
from modelreg_server.domain.names import run_name
from modelreg_server.domain.runs import NewRun, Run
from modelreg_server.domain.types import ResolvedRef
from modelreg_server.storage import ids, requests
from modelreg_server.storage.recorded import fetch_recorded, record_request, request_values
from modelreg_server.storage.runs import read
from modelreg_server.storage.sql import Statement
from modelreg_server.storage.store import Conn, RawConn
from modelreg_server.storage.tables import (
    id_counters,
    projects,
    run_inputs,
    run_labels,
    run_params,
    runs,
)
from modelreg_server.storage.typed_rows import (
    json_text,
    param_copy,
    param_recordset,
    param_rows,
    refs_json,
    resolved_refs,
)


def _made_name(number: Any) -> Any:
    """``run_001``... in SQL, as ``f"run_{n:03d}"`` (``run_1000`` after ``run_999``)."""
    digits = sql_cast(number, Text)
    return literal("run_", Text) + func.lpad(digits, func.greatest(3, func.length(digits)), "0")


def _create_statement(fast: bool) -> Select[Any]:
    """Insert the run (nothing when its id is taken) with its params, labels and
    inputs, and return its record: one statement.

    ``fast``: the whole CreateRun in one statement. The project is looked up, the
    inputs resolved (``dataset_refs.resolve`` in SQL), the id is the one given or
    the counter's next (``ids.next_number`` in SQL), and the request_id is recorded
    with the record. No row when the project is missing, an input is, or the id is
    taken (the counter keeps its step: gaps are fine); the caller then takes the
    transaction path, which says which, or skips to the next free id.
    """
    names = (
        "experiment", "description", "param_list", "input_list", "labels",
        "code_repo", "code_commit", "code_dirty", "created_by",
    )  # fmt: skip
    values: dict[str, Any] = {n: bindparam(n, type_=runs.c[n].type) for n in names}
    if fast:
        resolved = resolved_refs()
        every_input = select(func.count()).select_from(resolved).scalar_subquery() == bindparam(
            "ref_count", type_=BigInteger
        )
        p = (
            select(projects.c.id)
            .where(projects.c.name == bindparam("project", type_=Text), every_input)
            .cte("p")
        )
        name = literal("projects/", Text) + resolved.c.project + "/datasets/" + resolved.c.dataset
        values["input_list"] = (
            select(
                func.coalesce(
                    func.jsonb_agg(
                        aggregate_order_by(
                            func.jsonb_build_array(
                                resolved.c.dataset,
                                resolved.c.version,
                                resolved.c.batch_id,
                                resolved.c.role,
                                name + "/versions/" + resolved.c.version,
                            ),
                            resolved.c.position,
                        )
                    ),
                    literal_column("'[]'::jsonb", JSONB),
                    type_=JSONB,
                )
            )
            .select_from(resolved)
            .scalar_subquery()
        )
        given = bindparam("given", type_=Text)
        ic = id_counters
        counter = (
            pg_insert(ic)
            .from_select(
                ["kind", "parent_id", "value"],
                select(literal(ids.RUN, Text), p.c.id, literal(1, BigInteger)).where(given == ""),
            )
            .on_conflict_do_update(
                index_elements=[ic.c.kind, ic.c.parent_id], set_={"value": ic.c.value + 1}
            )
            .returning(ic.c.parent_id, ic.c.value)
            .cte("c")
        )
        n = union_all(
            select(p.c.id.label("project_id"), given.label("name")).where(given != ""),
            select(counter.c.parent_id, _made_name(counter.c.value)),
        ).cte("n")
        columns = {"project_id": n.c.project_id, "name": n.c.name, **values}
        new_row = pg_insert(runs).from_select(list(columns), select(*columns.values()))
    else:
        columns = {n: bindparam(n, type_=runs.c[n].type) for n in ("project_id", "name")}
        new_row = pg_insert(runs).values({**columns, **values})
    r = (
        new_row.on_conflict_do_nothing(index_elements=[runs.c.project_id, runs.c.name])
        .returning(*runs.c)
        .cte("r")
    )
    x = param_recordset()
    params = run_params.insert().from_select(
        ["run_id", "key", "kind", "num_value", "text_value"],
        select(r.c.id, x.c.key, x.c.kind, x.c.num_value, x.c.text_value).select_from(
            r.join(x, true())
        ),
    )
    lb = (
        func.jsonb_each_text(bindparam("labels", type_=JSONB))
        .table_valued(column("key", Text), column("value", Text))
        .render_derived(name="lb")
    )
    labels = run_labels.insert().from_select(
        ["run_id", "key", "value"],
        select(r.c.id, lb.c.key, lb.c.value).select_from(r.join(lb, true())),
    )
    i: FromClause = (
        func.jsonb_to_recordset(bindparam("inputs", type_=JSONB))
        .table_valued(
            column("position", BigInteger),
            column("dataset_version_id", BigInteger),
            column("role", Text),
        )
        .render_derived(name="i", with_types=True)
    )
    if fast:
        i = resolved
    inputs = run_inputs.insert().from_select(
        ["run_id", "position", "dataset_version_id", "role"],
        select(r.c.id, i.c.position, i.c.dataset_version_id, i.c.role).select_from(
            r.join(i, true())
        ),
    )
    writes = [params.cte("param_rows"), labels.cte("label_rows"), inputs.cte("input_rows")]
    if not fast:
        return read(r).add_cte(*writes)
    created = read(r).cte("created")
    return select(created).add_cte(*writes, record_request(created))


_CREATE = _create_statement(fast=False)
_CREATE_FAST = Statement(_create_statement(fast=True))
# The times of a new run's record (end_time is unset).
_CREATED_TIMES = json_text(["start_time", "update_time"])


async def create(
    conn: Conn,
    project: str,
    project_id: int,
    given: str,
    spec: NewRun,
    inputs: Sequence[ResolvedRef],
    *,
    created_by: str,
) -> Run:
    """Insert a run named ``given``, or ``run_001``... when empty; its record."""
    pid = project_id
    values = {
        "project": project,
        "project_id": pid,
        "experiment": spec.experiment,
        "description": spec.description,
        "param_list": param_copy(spec.params),
        "input_list": [ref.read_copy() for ref in inputs],
        "labels": dict(spec.labels),
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "created_by": created_by,
        "params": param_rows(spec.params),
        "inputs": [
            {"position": n, "dataset_version_id": ref.id, "role": ref.role.value}
            for n, ref in enumerate(inputs)
        ],
    }
    made: list[Run] = []

    async def insert_row(name: str) -> int | None:
        row = (await conn.execute(_CREATE, {**values, "name": name})).first()
        if row is None:
            return None
        made.append(cast(Run, row._mapping))
        return int(row.id)

    await ids.insert_named(
        conn,
        kind=ids.RUN,
        parent_id=pid,
        given=given,
        spell=lambda n: f"run_{n:03d}",
        insert_row=insert_row,
        taken=lambda name: errors.AlreadyExists("run", run_name(project, name)),
    )
    return made[-1]


async def create_fast(
    raw: RawConn,
    project: str,
    given: str,
    spec: NewRun,
    *,
    created_by: str,
    request: requests.Key | None,
) -> Run | None:
    """CreateRun in one statement (``_create_statement(fast=True)``): the new run's
    record, or None when it wrote nothing (project or an input missing, id taken,
    request_id taken)."""
    values = {
        "project": project,
        "given": given,
        "experiment": spec.experiment,
        "description": spec.description,
        "param_list": json_text(param_copy(spec.params)),
        "labels": json_text(dict(spec.labels)),
        "code_repo": spec.code_version.repo,
        "code_commit": spec.code_version.commit,
        "code_dirty": spec.code_version.dirty,
        "created_by": created_by,
        "params": json_text(param_rows(spec.params)),
        "refs": refs_json(project, spec.inputs, 0),
        "ref_count": len(spec.inputs),
        "times": _CREATED_TIMES,
        **request_values(request),
    }
    return cast(Run | None, await fetch_recorded(raw, _CREATE_FAST, values))
