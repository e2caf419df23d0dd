"""Use cases on aliases: set, move, delete, history, rollback."""

from __future__ import annotations

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    Alias,
    AliasEvent,
    AliasEventKind,
    ListQuery,
    Page,
    VersionRef,
    VersionState,
)
from modelreg_server.service import validation as check
from modelreg_server.service.unit import ServiceBase, check_etag, check_ref, no_result
from modelreg_server.storage import aliases as alias_q
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn


async def _lock_existing(
    conn: Conn, project: str, model: str, alias: str, etag: str
) -> tuple[int, Alias]:
    """Lock the model row and the alias, which must exist and match ``etag`` if given."""
    mid = await project_q.model_id(conn, project, model, for_update=True)
    current = await alias_q.get_locked(conn, mid, alias)
    if current is None:
        raise errors.NotFound("alias", f"projects/{project}/models/{model}/aliases/{alias}")
    check_etag(etag, current.etag, f"alias {alias}")
    return mid, current


class AliasesService(ServiceBase):
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
            mid = await project_q.model_id(conn, project, model, for_update=True)
            current = await alias_q.get_locked(conn, mid, alias)
            if etag:
                check_etag(etag, current.etag if current else "", self._alias_name(ref, alias))
            try:
                vid, number, state = await version_q.resolve_id(conn, ref)
            except errors.NotFound as exc:
                raise errors.InvalidArgument("version", f"no such version: {exc.name}") from exc
            if state == VersionState.DELETED.value:
                raise errors.FailedPrecondition(
                    f"version {number} is deleted; restore it before pointing an alias at it",
                    reason="VERSION_DELETED",
                )
            if current is not None and current.version == number:
                return current
            await alias_q.put(conn, mid, alias, vid, actor)
            await alias_q.add_event(
                conn,
                mid,
                alias,
                AliasEventKind.SET,
                current.version if current else None,
                number,
                actor,
                reason,
            )
            return await alias_q.get(conn, project, model, alias)

        return await self._once(
            "SetAlias",
            request_id,
            (project, model, alias, target, etag, reason),
            work,
            lambda conn, _: alias_q.get(conn, project, model, alias),
            lambda a: a.alias,
        )

    async def get_alias(self, project: str, model: str, alias: str) -> Alias:
        check.name(alias, "name", "alias")
        async with self._store.read() as conn:
            return await alias_q.get(conn, project, model, alias)

    async def list_aliases(self, project: str, model: str) -> list[Alias]:
        async with self._store.read() as conn:
            mid = await project_q.model_id(conn, project, model)
            return await alias_q.list_for_model(conn, mid)

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
                conn, mid, alias, AliasEventKind.DELETE, current.version, None, actor, reason
            )

        await self._once(
            "DeleteAlias",
            request_id,
            (project, model, alias, etag, reason),
            work,
            no_result,
            lambda _: alias,
        )

    async def alias_history(
        self, project: str, model: str, alias: str, q: ListQuery
    ) -> Page[AliasEvent]:
        check.name(alias, "name", "alias")
        async with self._store.read() as conn:
            mid = await project_q.model_id(conn, project, model)
            return await alias_q.history(conn, mid, alias, q)

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
            previous = await alias_q.last_set_to(conn, mid, alias, current.version)
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
                conn, mid, alias, AliasEventKind.ROLLBACK, current.version, number, actor, reason
            )
            return await alias_q.get(conn, project, model, alias)

        return await self._once(
            "RollbackAlias",
            request_id,
            (project, model, alias, etag, reason),
            work,
            lambda conn, _: alias_q.get(conn, project, model, alias),
            lambda a: a.alias,
        )

    @staticmethod
    def _alias_name(ref: VersionRef, alias: str) -> str:
        return f"projects/{ref.project}/models/{ref.model}/aliases/{alias}"
