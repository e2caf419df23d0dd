"""Request builders shared by Client and AsyncClient. Each mutation gets a fresh
request_id here, once per logical call, and keeps it across retries."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Mapping
from typing import Any

from google.protobuf import field_mask_pb2

from modelreg import _convert
from modelreg._settings import DEFAULT_PAGE_SIZE
from modelreg._tracking_types import DataInput, Named
from modelreg._types import CodeVersion, DataRef, DataRole, ParamValue
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb


def new_request_id() -> str:
    return uuid.uuid4().hex


def project_name(project: str) -> str:
    return f"projects/{project}"


def model_name(project: str, model: str) -> str:
    return f"projects/{project}/models/{model}"


def version_name(project: str, model: str, version: int | str) -> str:
    return f"projects/{project}/models/{model}/versions/{version}"


def alias_name(project: str, model: str, alias: str) -> str:
    return f"projects/{project}/models/{model}/aliases/{alias}"


def name_of(value: Named | str, what: str) -> str:
    """The resource name of ``value``: an object's ``resource_name``, or the string itself,
    which must be a full resource name (``projects/...``)."""
    if isinstance(value, str):
        if not value.startswith("projects/"):
            raise ValueError(f"{what}: expected a resource name 'projects/...', got {value!r}")
        return value
    name = getattr(value, "resource_name", None)
    if not isinstance(name, str):
        raise TypeError(f"{what}: expected an object with a resource_name or a string")
    return name


def data_role(role: DataRole | str) -> DataRole:
    """``DataRole.TEST``, ``"TEST"`` or ``"test"``."""
    return role if isinstance(role, DataRole) else DataRole(role.upper())


def data_ref(item: DataInput) -> DataRef:
    """One reference to a dataset version, from any of the forms the SDK accepts: a
    ``DataRef``, a ``DatasetVersion`` or its resource name (role TRAIN), a
    ``(dataset version, role)`` pair, or a dict of DataRef's fields."""
    if isinstance(item, DataRef):
        return item
    if isinstance(item, tuple):
        target, role = item
        return DataRef(dataset_version=name_of(target, "data"), role=data_role(role))
    if isinstance(item, Mapping):
        fields = dict(item)
        if "role" in fields:
            fields["role"] = data_role(fields["role"])
        return DataRef(**fields)
    return DataRef(dataset_version=name_of(item, "data"))


def page_size(requested: int) -> int:
    """The caller's page size, or the SDK's default for 0 (negative is left to the server)."""
    return requested or DEFAULT_PAGE_SIZE


def mask(**fields: object) -> tuple[field_mask_pb2.FieldMask, dict[str, Any]]:
    """An update mask naming the fields the caller passed (not None)."""
    given = {k: v for k, v in fields.items() if v is not None}
    return field_mask_pb2.FieldMask(paths=sorted(given)), given


def create_project(
    name: str, description: str, labels: Mapping[str, str] | None, request_id: str | None
) -> rpc.CreateProjectRequest:
    return rpc.CreateProjectRequest(
        project_id=name,
        project=pb.Project(description=description, labels=labels or {}),
        request_id=request_id or new_request_id(),
    )


def update_project(
    name: str,
    description: str | None,
    labels: Mapping[str, str] | None,
    etag: str,
    request_id: str | None,
) -> rpc.UpdateProjectRequest:
    update_mask, given = mask(description=description, labels=labels)
    return rpc.UpdateProjectRequest(
        project=pb.Project(name=project_name(name), etag=etag, **given),
        update_mask=update_mask,
        request_id=request_id or new_request_id(),
    )


def create_model(
    project: str,
    name: str,
    description: str,
    labels: Mapping[str, str] | None,
    request_id: str | None,
) -> rpc.CreateModelRequest:
    return rpc.CreateModelRequest(
        parent=project_name(project),
        model_id=name,
        model=pb.Model(description=description, labels=labels or {}),
        request_id=request_id or new_request_id(),
    )


def update_model(
    project: str,
    name: str,
    description: str | None,
    labels: Mapping[str, str] | None,
    etag: str,
    request_id: str | None,
) -> rpc.UpdateModelRequest:
    update_mask, given = mask(description=description, labels=labels)
    return rpc.UpdateModelRequest(
        model=pb.Model(name=model_name(project, name), etag=etag, **given),
        update_mask=update_mask,
        request_id=request_id or new_request_id(),
    )


def register_model_version(
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
) -> rpc.CreateModelVersionRequest:
    code = code_version or CodeVersion()
    return rpc.CreateModelVersionRequest(
        parent=model_name(project, model),
        model_version=pb.ModelVersion(
            artifact=pb.Artifact(
                uri=artifact_uri,
                sha256=artifact_sha256,
                size_bytes=artifact_size,
                format=artifact_format,
            ),
            architecture=pb.Architecture(
                name=architecture,
                config_json=json.dumps(architecture_config).encode()
                if architecture_config
                else b"",
            ),
            params={k: _convert.param_to_pb(k, v) for k, v in (params or {}).items()},
            training_data=[_convert.data_ref_to_pb(data_ref(r)) for r in training_data],
            source_run=source_run,
            code_version=pb.CodeVersion(repo=code.repo, commit=code.commit, dirty=code.dirty),
            parent_version=parent_version or "",
            labels=labels or {},
            description=description,
        ),
        request_id=request_id or new_request_id(),
    )


def update_model_version(
    project: str,
    model: str,
    version: int | str,
    description: str | None,
    labels: Mapping[str, str] | None,
    etag: str,
    request_id: str | None,
) -> rpc.UpdateModelVersionRequest:
    update_mask, given = mask(description=description, labels=labels)
    return rpc.UpdateModelVersionRequest(
        model_version=pb.ModelVersion(
            name=version_name(project, model, version), etag=etag, **given
        ),
        update_mask=update_mask,
        request_id=request_id or new_request_id(),
    )


def set_alias(
    project: str,
    model: str,
    alias: str,
    version: int | str,
    reason: str,
    etag: str,
    request_id: str | None,
) -> rpc.SetAliasRequest:
    return rpc.SetAliasRequest(
        parent=model_name(project, model),
        alias=alias,
        version=str(version),
        reason=reason,
        etag=etag,
        request_id=request_id or new_request_id(),
    )
