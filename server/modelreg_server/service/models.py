"""Use cases on registered models."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg_server.domain import errors
from modelreg_server.domain.names import model_name, project_name
from modelreg_server.domain.types import ListQuery, Model, Page
from modelreg_server.limits import DEFAULT_LIMITS, FieldLimits
from modelreg_server.service import idempotency as idem
from modelreg_server.service import validation as check
from modelreg_server.service.common import check_etag
from modelreg_server.service.projects import editable
from modelreg_server.storage import models as model_q
from modelreg_server.storage.store import Conn, Store


class ModelsService:
    def __init__(
        self, store: Store, requests: idem.Idempotency, limits: FieldLimits = DEFAULT_LIMITS
    ) -> None:
        self._store = store
        self._requests = requests
        self._limits = limits

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
        check.labels(labels, "model.labels", self._limits)

        async def work(conn: Conn) -> Model:
            return await model_q.create(conn, project, model, description, labels)

        payload = (project, model, description, labels)
        scope = project_name(project)
        return await self._requests.run(idem.CREATE_MODEL, request_id, payload, work, scope=scope)

    async def get_model(self, project: str, model: str) -> Model:
        async with self._store.read() as conn:
            return await model_q.get(conn, project, model)

    async def list_models(self, project: str, q: ListQuery) -> Page[Model]:
        tokens = await self._store.page_tokens()
        async with self._store.read() as conn:
            return await model_q.list_(conn, project, q, tokens)

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
        values = editable(description, labels, "model", self._limits)

        async def work(conn: Conn) -> Model:
            mid, current = await model_q.lock(conn, project, model)
            check_etag(etag, current, model_name(project, model))
            return await model_q.update_(conn, mid, values)

        payload = (project, model, values, etag)
        scope = model_name(project, model)
        return await self._requests.run(idem.UPDATE_MODEL, request_id, payload, work, scope=scope)

    async def delete_model(
        self, project: str, model: str, *, force: bool, etag: str = "", request_id: str = ""
    ) -> None:
        async def work(conn: Conn) -> None:
            mid, current = await model_q.lock(conn, project, model)
            check_etag(etag, current, model_name(project, model))
            if not force and await model_q.has_versions(conn, mid):
                raise errors.FailedPrecondition(
                    f"{model_name(project, model)} has versions; pass force to delete "
                    "them with the model",
                    reason="NOT_EMPTY",
                )
            await model_q.delete_(conn, mid)

        payload = (project, model, force, etag)
        scope = model_name(project, model)
        await self._requests.run(idem.DELETE_MODEL, request_id, payload, work, scope=scope)
