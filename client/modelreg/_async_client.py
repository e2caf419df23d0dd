"""The asyncio client: the same methods as Client, awaitable, on a grpc.aio channel."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterable, Mapping
from types import TracebackType
from typing import Any

import grpc

from modelreg import _convert
from modelreg import _requests as req
from modelreg._errors import from_rpc_error
from modelreg._settings import (
    ACTOR_METADATA,
    CHANNEL_OPTIONS,
    RetryPolicy,
    check_actor,
    default_target,
)
from modelreg._types import (
    Alias,
    AliasEvent,
    CodeVersion,
    DataRef,
    Model,
    ModelVersion,
    ParamValue,
    Project,
)
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import registry_service_pb2_grpc as rpc_grpc

_READS = ("Get", "List")


class AsyncClient:
    """An asyncio client of the modelreg server.

    Args:
        target: ``host:port`` of the server; defaults to ``$MODELREG_TARGET``, then
            ``127.0.0.1:50051``.
        timeout: default deadline of each call, in seconds.
        retry: how UNAVAILABLE is retried (mutations keep their request_id).
        actor: who is calling, recorded as ``created_by`` and in alias history;
            defaults to the OS user name.

    Use it as a context manager, or call :meth:`close`. One channel per client;
    the generated stub is ``client.stub`` for calls the SDK does not wrap.

    Example:
        >>> async with modelreg.AsyncClient() as client:
        ...     v = await client.register_model_version(
        ...         "translate_kr2en", "translate_kr2en", artifact_uri="./model/v1.pth")
    """

    def __init__(
        self,
        target: str | None = None,
        *,
        timeout: float = 10.0,
        retry: RetryPolicy | None = None,
        actor: str | None = None,
    ) -> None:
        self.target = target or default_target()
        self._timeout = timeout
        self._retry = retry or RetryPolicy()
        self._metadata = ((ACTOR_METADATA, check_actor(actor)),)
        self._channel = grpc.aio.insecure_channel(self.target, options=CHANNEL_OPTIONS)
        self.stub = rpc_grpc.RegistryServiceStub(self._channel)

    async def close(self) -> None:
        await self._channel.close()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def _call(self, method: str, request: Any, timeout: float | None = None) -> Any:
        """Call ``method``, retrying UNAVAILABLE; failures raise ModelregError."""
        fn = getattr(self.stub, method)
        # Only mutations record who made them; reads skip the metadata.
        metadata = None if method.startswith(_READS) else self._metadata
        attempt = 1
        while True:
            try:
                return await fn(request, timeout=timeout or self._timeout, metadata=metadata)
            except grpc.RpcError as exc:
                code = exc.code()
                if code == grpc.StatusCode.UNAVAILABLE and attempt < self._retry.max_attempts:
                    await asyncio.sleep(self._retry.backoff(attempt - 1))
                    attempt += 1
                    continue
                raise from_rpc_error(
                    code,
                    exc.details(),
                    exc.trailing_metadata(),
                ) from None

    async def _pages(self, method: str, request: Any, field: str) -> AsyncIterator[Any]:
        while True:
            response = await self._call(method, request)
            for item in getattr(response, field):
                yield item
            if not response.next_page_token:
                return
            request.page_token = response.next_page_token

    # Projects

    async def create_project(
        self, name: str, *, description: str = "", labels: Mapping[str, str] | None = None
    ) -> Project:
        """Create a project, e.g. ``translate_kr2en``."""
        request = req.create_project(name, description, labels)
        return _convert.project(await self._call("CreateProject", request))

    async def get_project(self, name: str) -> Project:
        request = rpc.GetProjectRequest(name=req.project_name(name))
        return _convert.project(await self._call("GetProject", request))

    async def list_projects(
        self, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> AsyncIterator[Project]:
        """Iterate over all projects, fetching pages as needed."""
        request = rpc.ListProjectsRequest(filter=filter, order_by=order_by, page_size=page_size)
        async for item in self._pages("ListProjects", request, "projects"):
            yield _convert.project(item)

    async def update_project(
        self,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
    ) -> Project:
        """Change description and/or labels; pass ``etag`` to refuse a lost update."""
        request = req.update_project(name, description, labels, etag)
        return _convert.project(await self._call("UpdateProject", request))

    async def delete_project(self, name: str, *, force: bool = False, etag: str = "") -> None:
        """Delete a project; ``force`` also deletes its models and versions."""
        request = rpc.DeleteProjectRequest(
            name=req.project_name(name), force=force, etag=etag, request_id=req.new_request_id()
        )
        await self._call("DeleteProject", request)

    # Models

    async def create_model(
        self,
        project: str,
        name: str,
        *,
        description: str = "",
        labels: Mapping[str, str] | None = None,
    ) -> Model:
        request = req.create_model(project, name, description, labels)
        return _convert.model(await self._call("CreateModel", request))

    async def get_model(self, project: str, name: str) -> Model:
        request = rpc.GetModelRequest(name=req.model_name(project, name))
        return _convert.model(await self._call("GetModel", request))

    async def list_models(
        self, project: str, *, filter: str = "", order_by: str = "", page_size: int = 0
    ) -> AsyncIterator[Model]:
        request = rpc.ListModelsRequest(
            parent=req.project_name(project), filter=filter, order_by=order_by, page_size=page_size
        )
        async for item in self._pages("ListModels", request, "models"):
            yield _convert.model(item)

    async def update_model(
        self,
        project: str,
        name: str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
    ) -> Model:
        request = req.update_model(project, name, description, labels, etag)
        return _convert.model(await self._call("UpdateModel", request))

    async def delete_model(
        self, project: str, name: str, *, force: bool = False, etag: str = ""
    ) -> None:
        """Delete a model; ``force`` also deletes its versions, aliases and history."""
        request = rpc.DeleteModelRequest(
            name=req.model_name(project, name),
            force=force,
            etag=etag,
            request_id=req.new_request_id(),
        )
        await self._call("DeleteModel", request)

    # Versions

    async def register_model_version(
        self,
        project: str,
        model: str,
        *,
        artifact_uri: str,
        artifact_sha256: str = "",
        artifact_size: int = 0,
        artifact_format: str = "",
        architecture: str = "",
        architecture_config: Mapping[str, Any] | None = None,
        params: Mapping[str, ParamValue] | None = None,
        training_data: Iterable[DataRef | Mapping[str, str]] = (),
        source_run: str = "",
        code_version: CodeVersion | None = None,
        parent_version: str | None = None,
        labels: Mapping[str, str] | None = None,
        description: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Register the next version of ``model`` (created if it does not exist yet).

        Versions are numbered 1, 2, 3... per model with no gaps. What a version
        was trained on and with cannot change afterwards.

        Args:
            artifact_uri: where the weights are (path or URI).
            params: hyperparameters; bool, int, float or str values.
            training_data: ``DataRef``s (or dicts with dataset/version/batch_id/role).
            parent_version: resource name of the version this was fine-tuned from.
            request_id: idempotency key; one is generated if not given.

        Raises:
            NotFoundError: the project does not exist.
            InvalidArgumentError: a field is invalid; ``.field`` names it.
        """
        request = req.register_model_version(
            project,
            model,
            artifact_uri=artifact_uri,
            artifact_sha256=artifact_sha256,
            artifact_size=artifact_size,
            artifact_format=artifact_format,
            architecture=architecture,
            architecture_config=architecture_config,
            params=params,
            training_data=training_data,
            source_run=source_run,
            code_version=code_version,
            parent_version=parent_version,
            labels=labels,
            description=description,
            request_id=request_id,
        )
        return _convert.model_version(await self._call("CreateModelVersion", request))

    async def get_model_version(self, project: str, model: str, version: int | str) -> ModelVersion:
        """Get a version by number, alias (``"production"``) or ``"latest"``."""
        request = rpc.GetModelVersionRequest(name=req.version_name(project, model, version))
        return _convert.model_version(await self._call("GetModelVersion", request))

    async def list_model_versions(
        self,
        project: str,
        model: str,
        *,
        filter: str = "",
        order_by: str = "",
        show_deleted: bool = False,
        page_size: int = 0,
    ) -> AsyncIterator[ModelVersion]:
        """Iterate over versions, e.g. ``filter='params.lr < 0.1 AND state = "READY"'``."""
        request = rpc.ListModelVersionsRequest(
            parent=req.model_name(project, model),
            filter=filter,
            order_by=order_by,
            show_deleted=show_deleted,
            page_size=page_size,
        )
        async for item in self._pages("ListModelVersions", request, "model_versions"):
            yield _convert.model_version(item)

    async def update_model_version(
        self,
        project: str,
        model: str,
        version: int | str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
    ) -> ModelVersion:
        """Change description and/or labels (the rest of a version is immutable)."""
        request = req.update_model_version(project, model, version, description, labels, etag)
        return _convert.model_version(await self._call("UpdateModelVersion", request))

    async def _state(
        self, method: str, project: str, model: str, version: int | str, etag: str
    ) -> ModelVersion:
        request = getattr(rpc, f"{method}Request")(
            name=req.version_name(project, model, version),
            etag=etag,
            request_id=req.new_request_id(),
        )
        return _convert.model_version(await self._call(method, request))

    async def archive_model_version(
        self, project: str, model: str, version: int | str, *, etag: str = ""
    ) -> ModelVersion:
        return await self._state("ArchiveModelVersion", project, model, version, etag)

    async def restore_model_version(
        self, project: str, model: str, version: int | str, *, etag: str = ""
    ) -> ModelVersion:
        """Bring an archived or deleted version back to READY."""
        return await self._state("RestoreModelVersion", project, model, version, etag)

    async def delete_model_version(
        self, project: str, model: str, version: int | str, *, etag: str = ""
    ) -> ModelVersion:
        """Soft-delete: the version is hidden from lists and its number never reused."""
        return await self._state("DeleteModelVersion", project, model, version, etag)

    # Aliases

    async def set_alias(
        self,
        project: str,
        model: str,
        alias: str,
        version: int | str,
        *,
        reason: str = "",
        etag: str = "",
    ) -> Alias:
        """Point ``alias`` (e.g. ``production``) at a version number or another alias."""
        request = req.set_alias(project, model, alias, version, reason, etag)
        return _convert.alias(await self._call("SetAlias", request))

    async def get_alias(self, project: str, model: str, alias: str) -> Alias:
        request = rpc.GetAliasRequest(name=req.alias_name(project, model, alias))
        return _convert.alias(await self._call("GetAlias", request))

    async def list_aliases(self, project: str, model: str) -> list[Alias]:
        request = rpc.ListAliasesRequest(parent=req.model_name(project, model))
        return [_convert.alias(a) for a in (await self._call("ListAliases", request)).aliases]

    async def delete_alias(
        self, project: str, model: str, alias: str, *, reason: str = "", etag: str = ""
    ) -> None:
        request = rpc.DeleteAliasRequest(
            name=req.alias_name(project, model, alias),
            reason=reason,
            etag=etag,
            request_id=req.new_request_id(),
        )
        await self._call("DeleteAlias", request)

    async def alias_history(self, project: str, model: str, alias: str) -> list[AliasEvent]:
        """Every move of the alias, newest first."""
        request = rpc.ListAliasHistoryRequest(name=req.alias_name(project, model, alias))
        return [
            _convert.alias_event(e)
            async for e in self._pages("ListAliasHistory", request, "events")
        ]

    async def rollback_alias(
        self, project: str, model: str, alias: str, *, reason: str = "", etag: str = ""
    ) -> Alias:
        """Move the alias back to the version it pointed at before its last move."""
        request = rpc.RollbackAliasRequest(
            name=req.alias_name(project, model, alias),
            reason=reason,
            etag=etag,
            request_id=req.new_request_id(),
        )
        return _convert.alias(await self._call("RollbackAlias", request))
