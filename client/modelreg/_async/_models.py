"""Registered models: ``projects/{project}/models/{model}``, a named line of versions."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg import _convert
from modelreg import _requests as req
from modelreg._async._rpc import AsyncPager, AsyncRPC
from modelreg._types import Model
from modelreg.api.v1 import registry_service_pb2 as rpc


class AsyncModels:
    """The model methods of AsyncClient."""

    _rpc: AsyncRPC

    async def create_model(
        self,
        project: str,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Model:
        request = req.create_model(project, name, description, labels, request_id)
        return _convert.model(await self._rpc.call("CreateModel", request))

    async def get_model(self, project: str, name: str) -> Model:
        request = rpc.GetModelRequest(name=req.model_name(project, name))
        return _convert.model(await self._rpc.call("GetModel", request))

    def list_models(
        self, project: str, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> AsyncPager[Model]:
        request = rpc.ListModelsRequest(
            parent=req.project_name(project),
            filter=filter,
            order_by=order_by,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages("ListModels", request, "models", _convert.model)

    async def update_model(
        self,
        project: str,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> Model:
        request = req.update_model(project, name, description, labels, etag, request_id)
        return _convert.model(await self._rpc.call("UpdateModel", request))

    async def delete_model(
        self,
        project: str,
        name: str,
        *,
        force: bool = False,
        etag: str = "",
        request_id: str | None = None,
    ) -> None:
        """Delete a model; ``force`` also deletes its versions, aliases and history."""
        request = rpc.DeleteModelRequest(
            name=req.model_name(project, name),
            force=force,
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        await self._rpc.call("DeleteModel", request)
