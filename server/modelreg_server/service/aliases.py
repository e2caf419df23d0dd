"""Use cases on aliases: set, move, delete, history, rollback."""

from __future__ import annotations

from modelreg_server.domain import errors, names
from modelreg_server.domain.names import alias_name
from modelreg_server.domain.types import (
    Alias,
    AliasEvent,
    AliasEventKind,
    ListQuery,
    Page,
    VersionRef,
    VersionState,
)
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag, check_ref
from modelreg_server.storage import aliases as alias_q
from modelreg_server.storage import models as model_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn, Store


async def _lock_existing(
    conn: Conn, project: str, model: str, alias: str, given_etag: str
) -> tuple[int, Alias]:
    """Lock the model row and the alias, which must exist and match ``given_etag`` if given."""
    mid = await model_q.id_of(conn, project, model, for_update=True)
    current = await alias_q.get(conn, mid, alias, for_update=True)
    if current is None:
        raise errors.NotFound("alias", alias_name(project, model, alias))
    check_etag(given_etag, names.etag(current["revision"]), f"alias {alias}")
    return mid, current


class AliasesService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests

    async def set_alias(
        self,
        project: str,
        model: str,
        alias: str,
        target: str,
        *,
        actor: str,
        etag: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> Alias:
        check.alias(alias, "alias")
        check.text(reason, "reason", check.MAX_REASON)
        ref = VersionRef(project, model, target)
        if not target:
            raise errors.InvalidArgument("version", "required: a version number or an alias")
        check_ref(ref, "version")

        async def work(conn: Conn) -> Alias:
            mid = await model_q.id_of(conn, project, model, for_update=True)
            current = await alias_q.get(conn, mid, alias, for_update=True)
            if etag:
                current_etag = names.etag(current["revision"]) if current else ""
                check_etag(etag, current_etag, alias_name(project, model, alias))
            try:
                vid, number, state = await version_q.resolve_id(conn, ref)
            except errors.NotFound as exc:
                raise errors.InvalidArgument("version", f"no such version: {exc.name}") from exc
            if state == VersionState.DELETED.value:
                raise errors.FailedPrecondition(
                    f"version {number} is deleted; restore it before pointing an alias at it",
                    reason="VERSION_DELETED",
                )
            if current is not None and current["version"] == number:
                return current
            await alias_q.put(conn, mid, alias, vid, actor)
            previous = current["version"] if current else None
            await alias_q.add_event(
                conn, mid, alias, AliasEventKind.SET, previous, number, actor, reason
            )
            return await self._get(conn, mid, alias)

        payload = (project, model, alias, target, etag, reason)
        scope = alias_name(project, model, alias)
        return await self._requests.run(idem.SET_ALIAS, request_id, payload, work, scope=scope)

    async def get_alias(self, project: str, model: str, alias: str) -> Alias:
        check.name(alias, "name", "alias")
        async with self._store.read() as conn:
            found = await alias_q.get_by_name(conn, project, model, alias)
            if found is None:
                await model_q.id_of(conn, project, model)  # NotFound names what is missing
                raise errors.NotFound("alias", alias_name(project, model, alias))
            return found

    async def list_aliases(self, project: str, model: str, q: ListQuery) -> Page[Alias]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            mid = await model_q.id_of(conn, project, model)
            return await alias_q.list_(conn, mid, q, tokens)

    async def delete_alias(
        self,
        project: str,
        model: str,
        alias: str,
        *,
        actor: str,
        etag: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> None:
        check.name(alias, "name", "alias")
        check.text(reason, "reason", check.MAX_REASON)

        async def work(conn: Conn) -> None:
            mid, current = await _lock_existing(conn, project, model, alias, etag)
            await alias_q.remove(conn, mid, alias)
            await alias_q.add_event(
                conn, mid, alias, AliasEventKind.DELETE, current["version"], None, actor, reason
            )

        payload = (project, model, alias, etag, reason)
        scope = alias_name(project, model, alias)
        await self._requests.run(idem.DELETE_ALIAS, request_id, payload, work, scope=scope)

    async def alias_history(
        self, project: str, model: str, alias: str, q: ListQuery
    ) -> Page[AliasEvent]:
        check.name(alias, "name", "alias")
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            mid = await model_q.id_of(conn, project, model)
            return await alias_q.history(conn, mid, alias, q, tokens)

    async def rollback_alias(
        self,
        project: str,
        model: str,
        alias: str,
        *,
        actor: str,
        etag: str = "",
        reason: str = "",
        request_id: str = "",
    ) -> Alias:
        check.name(alias, "name", "alias")
        check.text(reason, "reason", check.MAX_REASON)

        async def work(conn: Conn) -> Alias:
            mid, current = await _lock_existing(conn, project, model, alias, etag)
            previous = await alias_q.last_set_to(conn, mid, alias, current["version"])
            if previous is None:
                raise errors.FailedPrecondition(
                    f"alias {alias} has no earlier version to roll back to",
                    reason="NO_PREVIOUS_VERSION",
                )
            vid, number, state = await version_q.resolve_id(
                conn, VersionRef(project, model, str(previous))
            )
            if state == VersionState.DELETED.value:
                raise errors.FailedPrecondition(
                    f"the previous version {number} of alias {alias} is deleted",
                    reason="VERSION_DELETED",
                )
            await alias_q.put(conn, mid, alias, vid, actor)
            await alias_q.add_event(
                conn, mid, alias, AliasEventKind.ROLLBACK, current["version"], number, actor,
                reason,
            )  # fmt: skip
            return await self._get(conn, mid, alias)

        payload = (project, model, alias, etag, reason)
        scope = alias_name(project, model, alias)
        return await self._requests.run(idem.ROLLBACK_ALIAS, request_id, payload, work, scope=scope)

    @staticmethod
    async def _get(conn: Conn, model_id: int, alias: str) -> Alias:
        found = await alias_q.get(conn, model_id, alias)
        assert found is not None, "read inside the transaction that wrote it"
        return found
