"""Upkeep of the inference tables, run by every server process at start and
every hour (app.py), by one of them at a time: today's and tomorrow's partitions
made ahead of the records (so ingest rarely makes one), and, with a retention
period, the daily partitions whose records are all older than it dropped with
the hourly rollups older than it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import text

from modelreg_server.storage import inference_partitions as parts
from modelreg_server.storage.store import Store

# pg_try_advisory_xact_lock key: the process holding it does the upkeep, the
# others skip it.
MAINTENANCE_LOCK = 0x6D72_0802
# Dropping a partition waits for the writers of its parent table; past this it
# gives up until the next run rather than stall ingest behind it.
LOCK_TIMEOUT = "5s"


@dataclass(frozen=True)
class Upkeep:
    created: tuple[str, ...]
    dropped: tuple[str, ...]
    rollups_deleted: int


async def maintain(store: Store, retention_days: int, now: datetime) -> Upkeep | None:
    """One round of upkeep; None when another process is doing it."""
    today = parts.day_of(int(now.timestamp()) * 1_000_000)
    async with store.write() as conn:
        got = await conn.scalar(
            text("SELECT pg_try_advisory_xact_lock(:k)"), {"k": MAINTENANCE_LOCK}
        )
        if not got:
            return None
        await conn.execute(text(f"SET LOCAL lock_timeout = '{LOCK_TIMEOUT}'"))
        before = await parts.existing(conn)
        await parts.create(conn, (today, today + 1))
        created = tuple(
            parts.name_of(d) for d in (today, today + 1) if parts.name_of(d) not in before
        )
        dropped: list[str] = []
        deleted = 0
        if retention_days > 0:
            cutoff = now - timedelta(days=retention_days)
            for name, day in sorted(before.items(), key=lambda kv: kv[1]):
                if parts.day_start(day + 1) <= cutoff:
                    await conn.execute(text(f'DROP TABLE IF EXISTS "{name}"'))
                    dropped.append(name)
            result = await conn.execute(
                text("DELETE FROM inference_rollups WHERE hour + interval '1 hour' <= :cutoff"),
                {"cutoff": cutoff},
            )
            deleted = result.rowcount
            await conn.execute(
                text("DELETE FROM inference_daily_rollups WHERE day + interval '1 day' <= :cutoff"),
                {"cutoff": cutoff},
            )
    return Upkeep(created=created, dropped=tuple(dropped), rollups_deleted=deleted)
