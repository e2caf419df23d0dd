"""API keys (schema 0007): the lookup the per-call authentication makes on a
cache miss, and the keys' administration (AccessService)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, exists, func, or_, select

from modelreg_server.domain import errors
from modelreg_server.domain.access import Role, token_hash
from modelreg_server.domain.api_keys import KIND, ApiKey, NewApiKey, key_name
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.storage import pagination
from modelreg_server.storage import projects as project_q
from modelreg_server.storage.store import Conn, Store
from modelreg_server.storage.tables import api_keys, projects

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


# Administration (AccessService): rows as ApiKey records, never the hash.

_k = api_keys
# What an ApiKey record is: the row without its hash, with its project's name.
READ = select(
    _k.c.key_id,
    projects.c.name.label("project"),
    _k.c.role,
    _k.c.owner,
    _k.c.description,
    _k.c.expire_time,
    _k.c.rate_limit,
    _k.c.create_time,
    _k.c.created_by,
    _k.c.revoke_time,
    _k.c.revoked_by,
).select_from(_k.outerjoin(projects, projects.c.id == _k.c.project_id))
# The bootstrap's transaction lock: one server process (of several starting at
# once) looks at the empty table and fills it; the others find it filled.
_BOOTSTRAP_LOCK = 0x6D72_6B5F_626F_6F74  # "mrk_boot"


def _record(row: Any) -> ApiKey:
    return ApiKey(
        key_id=row["key_id"],
        project=row["project"],
        role=Role.from_stored(row["role"]),
        owner=row["owner"],
        description=row["description"],
        expire_time=row["expire_time"],
        rate_limit=float(row["rate_limit"]),
        create_time=row["create_time"],
        created_by=row["created_by"],
        revoke_time=row["revoke_time"],
        revoked_by=row["revoked_by"],
    )


def _scope(project_id: int | None) -> ColumnElement[bool]:
    return _k.c.project_id.is_(None) if project_id is None else _k.c.project_id == project_id


async def _project_id(conn: Conn, project: str | None) -> int | None:
    return None if project is None else await project_q.id_of(conn, project)


async def create(
    conn: Conn, project: str | None, key_id: str, token: str, spec: NewApiKey, *, created_by: str
) -> ApiKey:
    """Insert a key of ``project`` (None: a server admin key) holding only the
    token's hash; NOT_FOUND if the project does not exist."""
    project_id = await _project_id(conn, project)
    await conn.execute(
        _k.insert().values(
            key_id=key_id,
            secret_hash=token_hash(token),
            project_id=project_id,
            role=spec.role.stored,
            owner=spec.owner,
            description=spec.description,
            rate_limit=spec.rate_limit,
            expire_time=spec.expire_time,
            created_by=created_by,
        )
    )
    return await get(conn, project, key_id)


async def get(conn: Conn, project: str | None, key_id: str) -> ApiKey:
    """The key named by (project, key_id): a key of another project, or a project
    key asked for as a server admin key, is NOT_FOUND as a missing one is."""
    row = (
        (
            await conn.execute(
                READ.where(
                    _k.c.key_id == key_id,
                    projects.c.name.is_(None) if project is None else projects.c.name == project,
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        if project is not None:
            await project_q.id_of(conn, project)  # the project, when it is what is missing
        raise errors.NotFound(KIND, key_name(project, key_id))
    return _record(row)


async def list_keys(
    conn: Conn,
    project: str | None,
    q: ListQuery,
    tokens: pagination.PageTokens,
    *,
    show_inactive: bool,
) -> Page[ApiKey]:
    """A page of the project's keys (None: the server admin keys), newest first;
    active ones only unless ``show_inactive``."""
    project_id = await _project_id(conn, project)
    query = READ.where(_scope(project_id))
    if not show_inactive:
        query = query.where(
            _k.c.revoke_time.is_(None),
            or_(_k.c.expire_time.is_(None), _k.c.expire_time > func.now()),
        )
    keys = [_k.c.create_time, _k.c.key_id]
    page = await pagination.fetch_page(
        conn, query, keys, True, q, tokens, "api_keys", project or "", show_inactive
    )
    return Page(items=[_record(r) for r in page.items], next_page_token=page.next_page_token)


async def revoke(conn: Conn, project: str | None, key_id: str, *, by: str) -> tuple[ApiKey, bool]:
    """Revoke the key; (the key, whether this call revoked it). A revoked key is
    left as it is (of two calls at once, the second waits for the first's row
    lock and then finds it revoked)."""
    await get(conn, project, key_id)
    changed = await conn.scalar(
        _k.update()
        .where(_k.c.key_id == key_id, _k.c.revoke_time.is_(None))
        .values(revoke_time=func.now(), revoked_by=by)
        .returning(_k.c.key_id)
    )
    return await get(conn, project, key_id), changed is not None


async def any_key(conn: Conn) -> bool:
    """Whether the table has a key at all, revoked and expired ones included."""
    return bool(await conn.scalar(select(exists().select_from(_k))))


async def active_server_admin(conn: Conn) -> bool:
    """Whether an active (not revoked, not expired) server admin key exists."""
    alive = exists().where(
        _k.c.project_id.is_(None),
        _k.c.revoke_time.is_(None),
        or_(_k.c.expire_time.is_(None), _k.c.expire_time > func.now()),
    )
    return bool(await conn.scalar(select(alive)))


async def lock_bootstrap(conn: Conn) -> None:
    """Serialize bootstraps across processes until this transaction ends."""
    await conn.execute(select(func.pg_advisory_xact_lock(_BOOTSTRAP_LOCK)))
