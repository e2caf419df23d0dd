# Generated from client/modelreg/_async/_models.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Registered models: ``projects/{project}/models/{model}``, a named line of versions."""

from __future__ import annotations

from collections.abc import Mapping

from modelreg import _convert
from modelreg import _requests as req
from modelreg._sync._rpc import RPC, Pager
from modelreg._types import Model
from modelreg.api.v1 import registry_service_pb2 as rpc


class Models:
    """The model methods of Client."""

    _rpc: RPC

    def create_model(
        self,
        project: str,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
        request_id: str | None = None,
    ) -> Model:
        request = req.create_model(project, name, description, labels, request_id)
        return _convert.model(self._rpc.call("CreateModel", request))

    def get_model(self, project: str, name: str) -> Model:
        request = rpc.GetModelRequest(name=req.model_name(project, name))
        return _convert.model(self._rpc.call("GetModel", request))

    def list_models(
        self, project: str, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> Pager[Model]:
        request = rpc.ListModelsRequest(
            parent=req.project_name(project),
            filter=filter,
            order_by=order_by,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages("ListModels", request, "models", _convert.model)

    def update_model(
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
        return _convert.model(self._rpc.call("UpdateModel", request))

    def delete_model(
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
        self._rpc.call("DeleteModel", request)
