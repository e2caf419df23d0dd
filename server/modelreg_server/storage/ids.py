"""Server-made ids (`run_001`, `v1`, `eval_1`): a counter per kind and parent,
and an insert that takes the next free one.

The counter row is incremented under its row lock (UPDATE ... RETURNING via an
upsert), so concurrent creators under one parent get different numbers. An id a
caller chose may already hold a number the counter reaches later; the insert
then finds it taken (ON CONFLICT DO NOTHING returns no row) and takes the next."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy.dialects.postgresql import insert

from modelreg_server.domain import errors
from modelreg_server.storage.store import Conn
from modelreg_server.storage.tables import id_counters

RUN = "run"
DATASET_VERSION = "dataset_version"
EVALUATION = "evaluation"
_MAX_SKIPS = 10_000


async def next_number(conn: Conn, kind: str, parent_id: int) -> int:
    """The next number of ``kind`` under ``parent_id``: 1, 2, 3... (gaps possible)."""
    stmt = (
        insert(id_counters)
        .values(kind=kind, parent_id=parent_id, value=1)
        .on_conflict_do_update(
            index_elements=[id_counters.c.kind, id_counters.c.parent_id],
            set_={"value": id_counters.c.value + 1},
        )
        .returning(id_counters.c.value)
    )
    return int((await conn.execute(stmt)).scalar_one())


async def insert_named(
    conn: Conn,
    *,
    kind: str,
    parent_id: int,
    given: str,
    spell: Callable[[int], str],
    insert_row: Callable[[str], Awaitable[int | None]],
    taken: Callable[[str], errors.RegistryError],
) -> tuple[int, str]:
    """Insert a row named ``given``, or the first free server-made name.

    ``insert_row(name)`` inserts with ON CONFLICT DO NOTHING and returns the new
    row's id, or None when the name is taken. A taken ``given`` raises ``taken(name)``.
    Returns (row id, name).
    """
    if given:
        row_id = await insert_row(given)
        if row_id is None:
            raise taken(given)
        return row_id, given
    for _ in range(_MAX_SKIPS):
        name = spell(await next_number(conn, kind, parent_id))
        row_id = await insert_row(name)
        if row_id is not None:
            return row_id, name
    raise errors.FailedPrecondition(  # pragma: no cover - needs 10,000 hand-made ids in a row
        f"no free {kind} id after {_MAX_SKIPS} tries; give one explicitly"
    )
