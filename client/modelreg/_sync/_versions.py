# Generated from client/modelreg/_async/_versions.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Model versions: ``projects/{p}/models/{m}/versions/{n}``, numbered 1, 2, 3... per model."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from modelreg import _convert
from modelreg import _requests as req
from modelreg._sync._rpc import RPC, Pager
from modelreg._tracking_types import DataInput
from modelreg._types import CodeVersion, ModelVersion, ParamValue
from modelreg.api.v1 import registry_service_pb2 as rpc


class Versions:
    """The model version methods of Client."""

    _rpc: RPC

    def register_model_version(
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
        training_data: Iterable[DataInput] = (),
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
            training_data: the dataset versions it was trained, validated and tested
                on: DatasetVersion objects or their resource names (role TRAIN),
                ``(dataset_version, role)`` pairs, ``DataRef``s, or dicts of DataRef
                fields; each must exist.
            source_run: the run that produced it (resource name or run id); see also
                ``run.register_model_version``.
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
        return _convert.model_version(self._rpc.call("CreateModelVersion", request))

    def get_model_version(self, project: str, model: str, version: int | str) -> ModelVersion:
        """Get a version by number, alias (``"production"``) or ``"latest"``."""
        request = rpc.GetModelVersionRequest(name=req.version_name(project, model, version))
        return _convert.model_version(self._rpc.call("GetModelVersion", request))

    def list_model_versions(
        self,
        project: str,
        model: str,
        *,
        filter: str = "",
        order_by: str = "",
        show_deleted: bool = False,
        page_size: int = 0,
    ) -> Pager[ModelVersion]:
        """Iterate over versions, e.g. ``filter='params.lr < 0.1 AND state = "READY"'``."""
        request = rpc.ListModelVersionsRequest(
            parent=req.model_name(project, model),
            filter=filter,
            order_by=order_by,
            show_deleted=show_deleted,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages(
            "ListModelVersions", request, "model_versions", _convert.model_version
        )

    def update_model_version(
        self,
        project: str,
        model: str,
        version: int | str,
        *,
        description: str | None = None,
        labels: Mapping[str, str] | None = None,
        etag: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Change description and/or labels (the rest of a version is immutable)."""
        request = req.update_model_version(
            project, model, version, description, labels, etag, request_id
        )
        return _convert.model_version(self._rpc.call("UpdateModelVersion", request))

    def archive_model_version(
        self,
        project: str,
        model: str,
        version: int | str,
        *,
        etag: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        return self._change_state("ArchiveModelVersion", project, model, version, etag, request_id)

    def restore_model_version(
        self,
        project: str,
        model: str,
        version: int | str,
        *,
        etag: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Bring an archived or deleted version back to READY."""
        return self._change_state("RestoreModelVersion", project, model, version, etag, request_id)

    def delete_model_version(
        self,
        project: str,
        model: str,
        version: int | str,
        *,
        etag: str = "",
        request_id: str | None = None,
    ) -> ModelVersion:
        """Soft-delete: the version is hidden from lists and its number never reused."""
        return self._change_state("DeleteModelVersion", project, model, version, etag, request_id)

    def _change_state(
        self,
        method: str,
        project: str,
        model: str,
        version: int | str,
        etag: str,
        request_id: str | None,
    ) -> ModelVersion:
        request = getattr(rpc, f"{method}Request")(
            name=req.version_name(project, model, version),
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        return _convert.model_version(self._rpc.call(method, request))
