"""Use cases on model versions: register, read, list, update, change state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.datasets import RunRef
from modelreg_server.domain.names import etag as etag_of
from modelreg_server.domain.names import model_name, run_name, version_name
from modelreg_server.domain.types import (
    ListQuery,
    ModelVersion,
    NewModelVersion,
    Page,
    ResolvedRef,
    VersionRef,
    VersionState,
)
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag, check_ref
from modelreg_server.storage import dataset_refs
from modelreg_server.storage import deployments as deployment_q
from modelreg_server.storage import models as model_q
from modelreg_server.storage import register as register_q
from modelreg_server.storage import runs as run_q
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.requests import Key
from modelreg_server.storage.store import Conn, RawConn, Store

_STATE_CHANGES = {
    VersionState.READY: idem.RESTORE_MODEL_VERSION,
    VersionState.ARCHIVED: idem.ARCHIVE_MODEL_VERSION,
    VersionState.DELETED: idem.DELETE_MODEL_VERSION,
}


def _source_run(value: str, project: str) -> RunRef | None:
    """A version's source_run as sent: a run's resource name (any project) or a
    run id of the version's project; None when not given."""
    if not value:
        return None
    field = "model_version.source_run"
    parts = value.split("/")
    if len(parts) == 1:
        return RunRef(project, check.name(value, field, "run id"))
    if len(parts) != 4 or parts[0] != "projects" or parts[2] != "runs":
        raise errors.InvalidArgument(
            field,
            f"expected projects/{{project}}/runs/{{run}} or a run id, got {check.shown(value)}",
        )
    return RunRef(check.name(parts[1], field, "project"), check.name(parts[3], field, "run id"))


def _name(ref: VersionRef) -> str:
    return version_name(ref.project, ref.model, ref.selector)


class VersionsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

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
        check.new_version(spec, self._limits)
        run = _source_run(spec.source_run, project)
        payload = (project, model, spec)
        scope = model_name(project, model)
        if spec.parent is None and (spec.training_data or run is not None):
            # The references are resolved by the registration statement itself; when
            # one is missing it writes nothing, and the slow path below says which.

            async def resolving(raw: RawConn, key: Key | None) -> ModelVersion | None:
                return await register_q.create_resolving(
                    raw, project, model, spec, created_by=actor, request=key, run=run
                )

            try:
                return await self._requests.run_statement(
                    idem.CREATE_MODEL_VERSION, request_id, payload, resolving, scope=scope
                )
            except register_q.Unresolved:
                pass
        parent_id: int | None = None
        data: list[ResolvedRef] = []
        run_found: tuple[int, str] | None = None
        # References are checked before the registration statement: one more read,
        # only with a parent version or after the resolving statement wrote nothing.
        if spec.parent is not None or spec.training_data or run is not None:
            if spec.parent is not None:
                check_ref(spec.parent, "model_version.parent_version")
            async with self._store.read() as conn:
                if spec.parent is not None:
                    try:
                        parent_id, _, _ = await version_q.resolve_id(conn, spec.parent)
                    except errors.NotFound as exc:
                        raise errors.InvalidArgument(
                            "model_version.parent_version", f"no such version: {exc.name}"
                        ) from exc
                data = await dataset_refs.resolve(
                    conn, project, spec.training_data, "model_version.training_data"
                )
                if run is not None:
                    run_id = await run_q.referenced_id(conn, run, "model_version.source_run")
                    run_found = (run_id, run_name(run.project, run.run))

        async def statement(raw: RawConn, key: Key | None) -> ModelVersion | None:
            return await register_q.create(
                raw,
                project,
                model,
                spec,
                parent_id=parent_id,
                created_by=actor,
                request=key,
                data=data,
                run=run_found,
            )

        return await self._requests.run_statement(
            idem.CREATE_MODEL_VERSION, request_id, payload, statement, scope=scope
        )

    async def get_model_version(self, ref: VersionRef) -> ModelVersion:
        check_ref(ref, "name")
        async with self._store.hot() as raw:
            found = await version_q.fetch(raw, ref)
        if found is None:
            async with self._store.read() as conn:
                raise await version_q.not_found(conn, ref)
        return found

    async def list_model_versions(
        self, project: str, model: str, q: ListQuery, *, show_deleted: bool = False
    ) -> Page[ModelVersion]:
        tokens = await self._store.page_tokens()
        async with self._store.hot() as raw:
            page = await version_q.list_(raw, project, model, q, tokens, show_deleted=show_deleted)
        if page is None:
            async with self._store.read() as conn:
                await model_q.id_of(conn, project, model)  # NotFound for a missing model
            return Page(items=())
        return page

    async def update_model_version(
        self,
        ref: VersionRef,
        *,
        description: str | None,
        labels: Mapping[str, str] | None,
        etag: str = "",
        request_id: str = "",
    ) -> ModelVersion:
        check_ref(ref, "model_version.name")
        values: dict[str, Any] = {}
        if description is not None:
            values["description"] = check.text(
                description, "model_version.description", check.MAX_DESCRIPTION
            )
        if labels is not None:
            check.labels(labels, "model_version.labels", self._limits)
        if not values and labels is None:
            raise errors.InvalidArgument(
                "update_mask", "names no updatable field (description, labels)"
            )

        async def work(conn: Conn) -> ModelVersion:
            vid, _, revision, _ = await version_q.lock(conn, ref)
            check_etag(etag, etag_of(revision), _name(ref))
            await version_q.update_(conn, vid, values, labels)
            return await version_q.get_by_id(conn, vid, ref.project, ref.model)

        payload = (ref, values, labels, etag)
        return await self._requests.run(
            idem.UPDATE_MODEL_VERSION, request_id, payload, work, scope=_name(ref)
        )

    async def set_version_state(
        self, ref: VersionRef, state: VersionState, *, etag: str = "", request_id: str = ""
    ) -> ModelVersion:
        check_ref(ref, "name")

        async def work(conn: Conn) -> ModelVersion:
            vid, _, revision, current = await version_q.lock(conn, ref)
            check_etag(etag, etag_of(revision), _name(ref))
            if state is VersionState.DELETED:
                pointing = await version_q.aliases_of(conn, vid)
                if pointing:
                    raise errors.FailedPrecondition(
                        f"{_name(ref)} is the target of alias(es) "
                        f"{', '.join(pointing)}; move or delete them first",
                        reason="VERSION_HAS_ALIASES",
                        metadata={"aliases": ",".join(pointing)},
                    )
                deployed = await deployment_q.serving(conn, vid)
                if deployed:
                    raise errors.FailedPrecondition(
                        f"{_name(ref)} has a share of the traffic of deployment(s) "
                        f"{', '.join(deployed)}; change their traffic (or retire them) first",
                        reason="VERSION_DEPLOYED",
                        metadata={"deployments": ",".join(deployed)},
                    )
            if current != state.value:
                await version_q.set_state(conn, vid, state)
            return await version_q.get_by_id(conn, vid, ref.project, ref.model)

        payload = (ref, etag)
        return await self._requests.run(
            _STATE_CHANGES[state], request_id, payload, work, scope=_name(ref)
        )
