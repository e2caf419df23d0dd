"""Registry use cases: projects, models, versions, aliases.

Each public method is one unit of work: validate, then one transaction (or one
autocommit read). Mutations take an optional request_id: a retry with the same
id returns the first result, the same id with another payload is refused."""

from __future__ import annotations

import dataclasses
import hashlib
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any, TypeVar

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    Alias,
    AliasEvent,
    AliasEventKind,
    ListQuery,
    Model,
    ModelVersion,
    NewModelVersion,
    Page,
    Project,
    VersionRef,
    VersionState,
)
from modelreg_server.service import validation as check
from modelreg_server.storage import aliases as alias_q
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import requests
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn, Store

T = TypeVar("T")
CREATE_VERSION_ATTEMPTS = 3


def digest(*payload: Any) -> str:
    """A stable hash of a call's arguments, to tell a retry from a reused request_id."""

    def default(o: Any) -> Any:
        if dataclasses.is_dataclass(o) and not isinstance(o, type):
            return dataclasses.asdict(o)
        return str(o)

    raw = json.dumps(payload, sort_keys=True, default=default, separators=(",", ":"))
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_etag(given: str, current: str, what: str) -> None:
    if given and given != current:
        raise errors.Aborted(
            f"{what} changed since it was read (etag {given} is stale, current {current}); "
            "read it again and retry",
            reason="STALE_ETAG",
            metadata={"current_etag": current},
        )


def _check_ref(ref: VersionRef, field: str) -> None:
    check.name(ref.project, field, "project")
    check.name(ref.model, field, "model")
    check.version_selector(ref.selector, field)


class RegistryService:
    def __init__(self, store: Store) -> None:
        self._store = store

    async def _once(
        self,
        method: str,
        request_id: str,
        payload: tuple[Any, ...],
        work: Callable[[Conn], Awaitable[T]],
        replay: Callable[[Conn, str], Awaitable[T]],
        name_of: Callable[[T], str],
    ) -> T:
        """Run ``work`` in one transaction, at most once per request_id."""
        rid = check.request_id(request_id)
        async with self._store.write() as conn:
            if rid is not None:
                prior = await requests.claim(conn, method, rid, digest(method, *payload))
                if prior is not None:
                    return await replay(conn, prior)
            result = await work(conn)
            if rid is not None:
                await requests.record(conn, method, rid, name_of(result))
            return result

    # Projects

    async def create_project(
        self, project: str, description: str, labels: Mapping[str, str], *, request_id: str = ""
    ) -> Project:
        check.name(project, "project_id", "project name")
        check.text(description, "project.description", check.MAX_DESCRIPTION)
        check.labels(labels, "project.labels")

        async def work(conn: Conn) -> Project:
            return await project_q.create_project(conn, project, description, labels)

        return await self._once(
            "CreateProject",
            request_id,
            (project, description, labels),
            work,
            lambda conn, _: project_q.get_project(conn, project),
            lambda p: p.name,
        )

    async def get_project(self, project: str) -> Project:
        async with self._store.read() as conn:
            return await project_q.get_project(conn, project)

    async def list_projects(self, q: ListQuery) -> Page[Project]:
        async with self._store.read() as conn:
            return await project_q.list_projects(conn, q)

    async def update_project(
        self,
        project: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Project:
        values = self._editable(description, labels, "project")

        async def work(conn: Conn) -> Project:
            current = await project_q.get_project(conn, project, for_update=True)
            _check_etag(etag, current.etag, f"projects/{project}")
            return await project_q.update_project(conn, project, values)

        return await self._once(
            "UpdateProject",
            request_id,
            (project, values, etag),
            work,
            lambda conn, _: project_q.get_project(conn, project),
            lambda p: p.name,
        )

    async def delete_project(
        self, project: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            current = await project_q.get_project(conn, project, for_update=True)
            _check_etag(etag, current.etag, f"projects/{project}")
            pid = await project_q.project_id(conn, project)
            if not force and await project_q.project_has_models(conn, pid):
                raise errors.FailedPrecondition(
                    f"projects/{project} still has models; delete them or pass force",
                    reason="NOT_EMPTY",
                )
            await project_q.delete_project(conn, project)

        async def replay(conn: Conn, _: str) -> None:
            return None

        await self._once(
            "DeleteProject", request_id, (project, force, etag), work, replay, lambda _: project
        )

    # Models

    async def create_model(
        self,
        project: str,
        model: str,
        description: str,
        labels: Mapping[str, str],
        *,
        request_id: str = "",
    ) -> Model:
        check.name(model, "model_id", "model name")
        check.text(description, "model.description", check.MAX_DESCRIPTION)
        check.labels(labels, "model.labels")

        async def work(conn: Conn) -> Model:
            return await project_q.create_model(conn, project, model, description, labels)

        return await self._once(
            "CreateModel",
            request_id,
            (project, model, description, labels),
            work,
            lambda conn, _: project_q.get_model(conn, project, model),
            lambda m: f"{m.project}/{m.name}",
        )

    async def get_model(self, project: str, model: str) -> Model:
        async with self._store.read() as conn:
            return await project_q.get_model(conn, project, model)

    async def list_models(self, project: str, q: ListQuery) -> Page[Model]:
        async with self._store.read() as conn:
            return await project_q.list_models(conn, project, q)

    async def update_model(
        self,
        project: str,
        model: str,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> Model:
        values = self._editable(description, labels, "model")

        async def work(conn: Conn) -> Model:
            current = await project_q.get_model(conn, project, model, for_update=True)
            _check_etag(etag, current.etag, f"projects/{project}/models/{model}")
            return await project_q.update_model(conn, project, model, values)

        return await self._once(
            "UpdateModel",
            request_id,
            (project, model, values, etag),
            work,
            lambda conn, _: project_q.get_model(conn, project, model),
            lambda m: m.name,
        )

    async def delete_model(
        self, project: str, model: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            current = await project_q.get_model(conn, project, model, for_update=True)
            _check_etag(etag, current.etag, f"projects/{project}/models/{model}")
            mid = await project_q.model_id(conn, project, model)
            if not force and await project_q.model_has_versions(conn, mid):
                raise errors.FailedPrecondition(
                    f"projects/{project}/models/{model} has versions; pass force to delete "
                    "them with the model",
                    reason="NOT_EMPTY",
                )
            await project_q.delete_model(conn, mid)

        async def replay(conn: Conn, _: str) -> None:
            return None

        await self._once(
            "DeleteModel", request_id, (project, model, force, etag), work, replay, lambda _: model
        )

    @staticmethod
    def _editable(
        description: str | None, labels: Mapping[str, str] | None, field: str
    ) -> dict[str, Any]:
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check.text(
                description, f"{field}.description", check.MAX_DESCRIPTION
            )
        if labels is not None:
            values["labels"] = dict(check.labels(labels, f"{field}.labels"))
        if not values:
            raise errors.InvalidArgument("update_mask", "names no updatable field")
        return values

    # Versions

    async def create_model_version(
        self,
        project: str,
        model: str,
        spec: NewModelVersion,
        *,
        actor: str,
        request_id: str = "",
    ) -> ModelVersion:
        check.name(project, "parent", "project name")
        check.name(model, "parent", "model name")
        check.new_version(spec)
        rid = check.request_id(request_id)
        rhash = digest("CreateModelVersion", project, model, spec) if rid else None
        parent: tuple[int, int] | None = None
        if spec.parent is not None:
            _check_ref(spec.parent, "model_version.parent_version")
            async with self._store.read() as conn:
                try:
                    pid, number, _ = await version_q.resolve_id(conn, spec.parent)
                except errors.NotFound as exc:
                    raise errors.InvalidArgument(
                        "model_version.parent_version", f"no such version: {exc.name}"
                    ) from exc
            parent = (pid, number)
        # One statement, committed on its own; a lost race on request_id replays.
        for _ in range(CREATE_VERSION_ATTEMPTS):
            async with self._store.hot() as raw:
                created = await version_q.create(
                    raw,
                    project,
                    model,
                    spec,
                    parent=parent,
                    created_by=actor,
                    request_id=rid,
                    request_hash=rhash,
                )
            if created is not None:
                return created
            assert rid is not None
            async with self._store.read() as conn:
                stored = await version_q.request_hash(conn, project, model, rid)
                if stored is None:  # the first attempt rolled back meanwhile: try again
                    continue
                if stored != rhash:
                    raise errors.InvalidArgument(
                        "request_id",
                        "already used for a different request; make a new id per logical call",
                        reason=requests.REQUEST_ID_MISMATCH,
                    )
                return await version_q.get_by_request_id(conn, project, model, rid)
        raise errors.Aborted("could not register the version; retry", reason="CONTENTION")

    async def get_model_version(self, ref: VersionRef) -> ModelVersion:
        _check_ref(ref, "name")
        async with self._store.hot() as raw:
            found = await version_q.fetch(raw, ref)
        if found is None:
            async with self._store.read() as conn:
                raise await version_q.not_found(conn, ref)
        return found

    async def list_model_versions(
        self, project: str, model: str, q: ListQuery, *, show_deleted: bool = False
    ) -> Page[ModelVersion]:
        async with self._store.read() as conn:
            return await version_q.list_(conn, project, model, q, show_deleted=show_deleted)

    async def update_model_version(
        self,
        ref: VersionRef,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> ModelVersion:
        _check_ref(ref, "model_version.name")
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check.text(
                description, "model_version.description", check.MAX_DESCRIPTION
            )
        if labels is not None:
            check.labels(labels, "model_version.labels")
        if not values and labels is None:
            raise errors.InvalidArgument(
                "update_mask", "names no updatable field (description, labels)"
            )

        async def work(conn: Conn) -> ModelVersion:
            vid, _, revision, _ = await version_q.lock(conn, ref)
            _check_etag(etag, project_q.etag(revision), self._ref_name(ref))
            await version_q.update(conn, vid, values, labels)
            return await version_q.get_by_id(conn, vid)

        return await self._once(
            "UpdateModelVersion",
            request_id,
            (ref, values, labels, etag),
            work,
            lambda conn, _: version_q.get(conn, ref),
            lambda v: str(v.version),
        )

    async def set_version_state(
        self, ref: VersionRef, state: VersionState, *, etag: str = "", request_id: str = ""
    ) -> ModelVersion:
        _check_ref(ref, "name")

        async def work(conn: Conn) -> ModelVersion:
            vid, _, revision, current = await version_q.lock(conn, ref)
            _check_etag(etag, project_q.etag(revision), self._ref_name(ref))
            if state is VersionState.DELETED:
                pointing = await version_q.aliases_of(conn, vid)
                if pointing:
                    raise errors.FailedPrecondition(
                        f"{self._ref_name(ref)} is the target of alias(es) "
                        f"{', '.join(pointing)}; move or delete them first",
                        reason="VERSION_HAS_ALIASES",
                        metadata={"aliases": ",".join(pointing)},
                    )
            if current != state.value:
                await version_q.set_state(conn, vid, state)
            return await version_q.get_by_id(conn, vid)

        return await self._once(
            f"SetVersionState/{state.value}",
            request_id,
            (ref, etag),
            work,
            lambda conn, _: version_q.get(conn, ref),
            lambda v: str(v.version),
        )

    @staticmethod
    def _ref_name(ref: VersionRef) -> str:
        return f"projects/{ref.project}/models/{ref.model}/versions/{ref.selector}"

    # Aliases

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
        _check_ref(ref, "version")

        async def work(conn: Conn) -> Alias:
            mid = await project_q.model_id(conn, project, model, for_update=True)
            current = await alias_q.get_locked(conn, mid, alias)
            if etag:
                _check_etag(etag, current.etag if current else "", self._alias_name(ref, alias))
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
            mid = await project_q.model_id(conn, project, model, for_update=True)
            current = await alias_q.get_locked(conn, mid, alias)
            if current is None:
                raise errors.NotFound("alias", f"projects/{project}/models/{model}/aliases/{alias}")
            _check_etag(etag, current.etag, f"alias {alias}")
            await alias_q.remove(conn, mid, alias)
            await alias_q.add_event(
                conn, mid, alias, AliasEventKind.DELETE, current.version, None, actor, reason
            )

        async def replay(conn: Conn, _: str) -> None:
            return None

        await self._once(
            "DeleteAlias",
            request_id,
            (project, model, alias, etag, reason),
            work,
            replay,
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
            mid = await project_q.model_id(conn, project, model, for_update=True)
            current = await alias_q.get_locked(conn, mid, alias)
            if current is None:
                raise errors.NotFound("alias", f"projects/{project}/models/{model}/aliases/{alias}")
            _check_etag(etag, current.etag, f"alias {alias}")
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
