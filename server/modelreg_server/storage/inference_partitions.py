"""The daily partitions of ``inference_records``: made when a batch needs one (and
a day ahead by the maintenance task), dropped by retention.

One partition per UTC day, ``inference_records_YYYYMMDD``, for
[day 00:00 UTC, next day 00:00 UTC). There is no DEFAULT partition: a row of a
day without one fails to insert (SQLSTATE 23514), which the ingest path answers
by forgetting what it knew and making the partition."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta, timezone
from typing import Any

from sqlalchemy import text

from modelreg_server.storage.store import Conn, Store

DAY_US = 86_400_000_000
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
# pg_advisory_xact_lock key of partition DDL (any number no other lock uses).
PARTITION_LOCK = 0x6D72_0801
NO_PARTITION_SQLSTATE = "23514"


def day_of(us: int) -> int:
    """Days since the epoch of a time in microseconds since the epoch."""
    return us // DAY_US


def day_start(day: int) -> datetime:
    return _EPOCH + timedelta(days=day)


def name_of(day: int) -> str:
    return f"inference_records_{day_start(day):%Y%m%d}"


def day_of_name(name: str) -> int | None:
    """The day of a partition's name, None if it is not one of ours."""
    suffix = name.removeprefix("inference_records_")
    if suffix == name or len(suffix) != 8 or not suffix.isdigit():
        return None
    try:
        when = datetime.strptime(suffix, "%Y%m%d").replace(tzinfo=timezone.utc)
    except ValueError:
        return None
    return (when - _EPOCH).days


async def create(conn: Conn, days: Iterable[int]) -> None:
    """Make the partitions of ``days`` that do not exist, in the caller's
    transaction, under the partition lock (two writers making one partition at
    once would otherwise fail on the catalog's unique index)."""
    await conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": PARTITION_LOCK})
    for day in sorted(set(days)):
        start, end = day_start(day), day_start(day + 1)
        await conn.execute(
            text(
                f"CREATE TABLE IF NOT EXISTS {name_of(day)} PARTITION OF inference_records "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )
        )


async def existing(conn: Conn) -> dict[str, int]:
    """The partitions there are: name -> day."""
    rows = await conn.execute(
        text(
            "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = 'inference_records'::regclass"
        )
    )
    found: dict[str, int] = {}
    for (name,) in rows:
        day = day_of_name(name)
        if day is not None:
            found[name] = day
    return found


class Partitions:
    """The days this process knows to have a partition (a cache: a partition is
    never made twice, and one dropped by retention elsewhere is made again when a
    row needs it)."""

    def __init__(self, store: Store) -> None:
        self._store = store
        self._known: set[int] = set()

    async def ensure(self, days: Iterable[int]) -> None:
        missing = set(days) - self._known
        if not missing:
            return
        async with self._store.write() as conn:
            await create(conn, missing)
        self._known |= missing

    def forget(self) -> None:
        self._known.clear()


def is_missing_partition(exc: BaseException) -> bool:
    """Whether an insert failed for want of a partition."""
    seen: Any = exc
    for _ in range(3):
        if seen is None:
            return False
        if getattr(seen, "sqlstate", None) == NO_PARTITION_SQLSTATE:
            return True
        seen = getattr(seen, "orig", None) or seen.__cause__
    return False
