"""Use cases on API keys (AccessService): create, get, list, revoke, the caller's
own key, and the first server admin key (bootstrap).

A key's token is made here and returned once; only its hash reaches the database
(storage/api_keys.py), and no log line carries it: audit lines (audit.py) name a
key by its prefix. Each call is one transaction. Create is not idempotent (a
retried call may make a second key): a token the caller lost must not be
replayed from a request log."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timezone

from modelreg_server import audit
from modelreg_server.domain import errors
from modelreg_server.domain.access import (
    MAX_DESCRIPTION,
    MAX_OWNER,
    Principal,
    Role,
    key_id_of,
    new_token,
)
from modelreg_server.domain.api_keys import (
    BOOTSTRAP_OWNER,
    KIND,
    ApiKey,
    CreatedKey,
    NewApiKey,
)
from modelreg_server.domain.types import ListQuery, Page
from modelreg_server.service import validation as check
from modelreg_server.storage import api_keys as key_q
from modelreg_server.storage.store import Store

Clock = Callable[[], datetime]
NO_KEY = (
    "this call came without an API key (the server runs without authentication): "
    "there is no caller key to show"
)


class NoCallerKey(errors.NotFound):
    """GetCallerKey on a call without a key (the server runs without auth)."""

    def __init__(self) -> None:
        errors.RegistryError.__init__(self, NO_KEY, metadata={"kind": KIND})
        self.kind = KIND
        self.name = ""


def _now() -> datetime:
    return datetime.now(timezone.utc)


def check_owner(owner: str, field: str = "api_key.owner") -> str:
    if len(owner) > MAX_OWNER:
        raise errors.InvalidArgument(field, f"longer than {MAX_OWNER} characters")
    if not owner.isprintable():
        raise errors.InvalidArgument(
            field, "must be printable text: no control characters, tabs or line breaks"
        )
    return owner


def check_new_key(project: str | None, spec: NewApiKey, now: datetime) -> None:
    """Every field of a create, before anything is looked up."""
    if project is None and spec.role is not Role.SERVER_ADMIN:
        raise errors.InvalidArgument(
            "api_key.role",
            "a key with an empty parent is a server admin key: its role must be SERVER_ADMIN "
            "(give parent projects/{project} for a READER, WRITER or ADMIN key)",
        )
    if project is not None and spec.role is Role.SERVER_ADMIN:
        raise errors.InvalidArgument(
            "api_key.role",
            "a key of a project is READER, WRITER or ADMIN; a SERVER_ADMIN key has no "
            "project (leave parent empty)",
        )
    check_owner(spec.owner)
    check.text(spec.description, "api_key.description", MAX_DESCRIPTION)
    if spec.expire_time is not None and spec.expire_time <= now:
        raise errors.InvalidArgument("api_key.expire_time", "must be in the future")
    if not math.isfinite(spec.rate_limit) or spec.rate_limit < 0:
        raise errors.InvalidArgument(
            "api_key.rate_limit", "must be a finite number >= 0 (0: the server's limit)"
        )


class AccessService:
    def __init__(self, store: Store, clock: Clock = _now) -> None:
        self._store = store
        self._clock = clock

    @property
    def now(self) -> datetime:
        return self._clock()

    async def create_api_key(
        self, project: str | None, spec: NewApiKey, *, actor: str
    ) -> CreatedKey:
        """A new key of ``project`` (None: a server admin key) with its token;
        ``spec.owner`` defaults to ``actor``."""
        if not spec.owner:
            spec = replace(spec, owner=actor)
        check_new_key(project, spec, self.now)
        key_id, token = new_token()
        async with self._store.write() as conn:
            key = await key_q.create(conn, project, key_id, token, spec, created_by=actor)
        audit.key_created(key.prefix, key.project, key.role.stored, actor)
        return CreatedKey(key, token)

    async def get_api_key(self, project: str | None, key_id: str) -> ApiKey:
        async with self._store.read() as conn:
            return await key_q.get(conn, project, key_id)

    async def list_api_keys(
        self, project: str | None, q: ListQuery, *, show_inactive: bool = False
    ) -> Page[ApiKey]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await key_q.list_keys(conn, project, q, tokens, show_inactive=show_inactive)

    async def revoke_api_key(self, project: str | None, key_id: str, *, actor: str) -> ApiKey:
        """Revoke the key; a revoked one is returned unchanged."""
        async with self._store.write() as conn:
            key, revoked = await key_q.revoke(conn, project, key_id, by=actor)
        if revoked:
            audit.key_revoked(key.prefix, key.project, actor)
        return key

    async def caller_key(self, principal: Principal | None) -> ApiKey:
        """The stored key of the call's principal."""
        if principal is None:
            raise NoCallerKey()
        return await self.get_api_key(principal.project, principal.key_id)


async def has_keys(store: Store) -> bool:
    """Whether any key was ever made (revoked and expired ones count)."""
    async with store.read() as conn:
        return await key_q.any_key(conn)


class BootstrapRefused(RuntimeError):
    """The bootstrap cannot go on: the message says why (never the token)."""


async def bootstrap(
    store: Store,
    token: str | None,
    *,
    owner: str = BOOTSTRAP_OWNER,
    force: bool = False,
    when_empty: bool = False,
    before_commit: Callable[[CreatedKey], None] | None = None,
) -> CreatedKey | None:
    """Register a server admin key: ``token`` (one made before, e.g. read from the
    bootstrap file), or a new one when None.

    ``when_empty`` (the bootstrap at server start): only when the api_keys table
    holds no row at all; else None, and nothing changes. Otherwise (``modelreg keys
    bootstrap``): refused while an active server admin key exists, unless ``force``.
    ``before_commit`` runs inside the transaction with the new key (writing the
    token file there: if that fails, no key is left behind whose token nobody has).
    Processes starting at once take turns (a transaction lock)."""
    check_owner(owner, "owner")
    if token is None:
        key_id, token = new_token()
    else:
        found = key_id_of(token)
        if found is None:
            raise BootstrapRefused("not an API key token (mrk_ followed by id and secret)")
        key_id = found
    spec = NewApiKey(role=Role.SERVER_ADMIN, owner=owner)
    async with store.write() as conn:
        await key_q.lock_bootstrap(conn)
        if when_empty and await key_q.any_key(conn):
            return None
        if not when_empty and not force and await key_q.active_server_admin(conn):
            raise BootstrapRefused(
                "an active server admin key exists already: make more keys with it "
                "(`modelreg keys create --role server-admin`), or pass --force"
            )
        key = await key_q.create(conn, None, key_id, token, spec, created_by=BOOTSTRAP_OWNER)
        made = CreatedKey(key, token)
        if before_commit is not None:
            before_commit(made)
    audit.key_created(key.prefix, None, key.role.stored, BOOTSTRAP_OWNER)
    return made
