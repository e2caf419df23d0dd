"""Use cases on model versions: register, read, list, update, change state."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from modelreg_server.domain import errors
from modelreg_server.domain.types import (
    ListQuery,
    ModelVersion,
    NewModelVersion,
    Page,
    VersionRef,
    VersionState,
)
from modelreg_server.service import validation as check
from modelreg_server.service.unit import ServiceBase, check_etag, check_ref, digest
from modelreg_server.storage import projects as project_q
from modelreg_server.storage import register as register_q
from modelreg_server.storage import requests
from modelreg_server.storage import versions as version_q
from modelreg_server.storage.store import Conn

CREATE_VERSION_ATTEMPTS = 3


class VersionsService(ServiceBase):
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
            check_ref(spec.parent, "model_version.parent_version")
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
                created = await register_q.create(
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
        check_ref(ref, "model_version.name")
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
            check_etag(etag, project_q.etag(revision), self._ref_name(ref))
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
        check_ref(ref, "name")

        async def work(conn: Conn) -> ModelVersion:
            vid, _, revision, current = await version_q.lock(conn, ref)
            check_etag(etag, project_q.etag(revision), self._ref_name(ref))
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
