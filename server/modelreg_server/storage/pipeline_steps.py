"""A pipeline step's rows: the step (one per step id and run) and its references
(pipeline_step_refs), read under a lock, written whole, inside the transaction of
RecordPipelineStep (the run row locked first: storage/pipelines.py ``lock``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import dataset_versions, pipeline_step_refs, pipeline_steps

# A time column's value meaning "the server's clock" (the transaction's time).
CLOCK: Any = func.now()
INPUT = "INPUT"
OUTPUT = "OUTPUT"


@dataclass(frozen=True)
class RefRow:
    """A reference as stored: direction, position, kind, target row id, role, name."""

    direction: str
    position: int
    kind: str
    target_id: int
    role: str
    name: str


@dataclass(frozen=True)
class StoredStep:
    id: int
    state: str
    start_time: datetime | None
    end_time: datetime | None
    param_list: list[list[str]]
    error: str
    refs: tuple[RefRow, ...]


async def get(conn: Conn, run_id: int, step_id: str) -> StoredStep | None:
    """The step with its references (the run row is locked: no lock needed here)."""
    s = pipeline_steps
    row = (
        await conn.execute(
            select(
                s.c.id, s.c.state, s.c.start_time, s.c.end_time, s.c.param_list, s.c.error
            ).where(s.c.pipeline_run_id == run_id, s.c.name == step_id)
        )
    ).first()
    if row is None:
        return None
    r = pipeline_step_refs
    refs = await conn.execute(
        select(r.c.direction, r.c.position, r.c.kind, r.c.target_id, r.c.role, r.c.name)
        .where(r.c.step_id == row.id)
        .order_by(r.c.direction, r.c.position)
    )
    return StoredStep(
        id=row.id,
        state=row.state,
        start_time=row.start_time,
        end_time=row.end_time,
        param_list=list(row.param_list),
        error=row.error,
        refs=tuple(RefRow(*ref) for ref in refs),
    )


async def count(conn: Conn, run_id: int) -> int:
    """Number of steps of the run: the position of the next new one."""
    n = await conn.scalar(
        select(func.count())
        .select_from(pipeline_steps)
        .where(pipeline_steps.c.pipeline_run_id == run_id)
    )
    return int(n or 0)


async def save(
    conn: Conn,
    run_id: int,
    step_id: str,
    existing: StoredStep | None,
    values: Mapping[str, Any],
    refs: Sequence[RefRow],
) -> None:
    """Insert the step (``existing`` None) or replace it, and its references."""
    s = pipeline_steps
    if existing is None:
        position = await count(conn, run_id)
        row_id = await conn.scalar(
            s.insert()
            .values(**values, pipeline_run_id=run_id, name=step_id, position=position)
            .returning(s.c.id)
        )
        assert row_id is not None
    else:
        row_id = existing.id
        await conn.execute(
            s.update().where(s.c.id == row_id).values(**values, update_time=func.now())
        )
        await conn.execute(delete(pipeline_step_refs).where(pipeline_step_refs.c.step_id == row_id))
    if refs:
        await conn.execute(
            pipeline_step_refs.insert(),
            [
                {
                    "step_id": row_id,
                    "direction": r.direction,
                    "position": r.position,
                    "kind": r.kind,
                    "target_id": r.target_id,
                    "role": r.role,
                    "name": r.name,
                }
                for r in refs
            ],
        )


async def batches(conn: Conn, dataset_version_ids: Collection[int]) -> set[int]:
    """Those of the dataset versions that are batches (have a batch id)."""
    if not dataset_version_ids:
        return set()
    dv = dataset_versions
    rows = await conn.execute(
        select(dv.c.id).where(dv.c.id.in_(list(dataset_version_ids)), dv.c.batch_id != "")
    )
    return {int(r.id) for r in rows}
