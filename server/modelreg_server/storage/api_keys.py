"""API keys (schema 0007): the lookup the per-call authentication makes on a
cache miss, and the keys' administration (AccessService)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from modelreg_server.domain.access import Role
from modelreg_server.storage.store import Store

_FIND = """
SELECT k.key_id, k.secret_hash, p.name AS project, k.role, k.owner, k.rate_limit,
       k.expire_time, k.revoke_time
FROM api_keys k LEFT JOIN projects p ON p.id = k.project_id
WHERE k.key_id = $1
"""


@dataclass(frozen=True)
class KeyRecord:
    """What authentication needs of a key."""

    key_id: str
    secret_hash: bytes
    project: str | None
    role: Role
    owner: str
    rate_limit: float
    expire_time: datetime | None
    revoke_time: datetime | None


async def find(store: Store, key_id: str) -> KeyRecord | None:
    """The key with this id, revoked and expired ones included; None if none."""
    async with store.hot() as conn:
        row = await conn.fetchrow(_FIND, key_id)
    if row is None:
        return None
    return KeyRecord(
        key_id=row["key_id"],
        secret_hash=bytes(row["secret_hash"]),
        project=row["project"],
        role=Role.from_stored(row["role"]),
        owner=row["owner"],
        rate_limit=float(row["rate_limit"]),
        expire_time=row["expire_time"],
        revoke_time=row["revoke_time"],
    )
