"""Pure conversions of LineageService's batch messages: requests become domain
queries; records (domain/batches.py) fill responses in place, reusing the
registry's and tracking's fillers for the versions and dataset versions they
carry."""

from __future__ import annotations

from typing import Any

from modelreg.api.v1 import lineage_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg_server.domain import batches as db
from modelreg_server.domain import names
from modelreg_server.transport import names as parse
from modelreg_server.transport.convert import ROLES, fill_version, set_time
from modelreg_server.transport.tracking_convert import dataset_version_ref, fill_dataset_version

# Stored as the members' values (text columns); the messages carry numbers.
_ROLE_NUMBER: dict[str, Any] = {m.value: n for m, n in ROLES.to_pb.items()}


# Requests -> domain


def trained_on_query(request: rpc.ListVersionsTrainedOnRequest) -> db.TrainedOnQuery:
    return db.TrainedOnQuery(
        project=parse.project(request.parent, "parent"),
        batch_id=request.batch_id,
        dataset_version=dataset_version_ref(request.dataset_version, "dataset_version")
        if request.dataset_version
        else None,
        direct_only=request.direct_only,
        page_size=request.page_size,
        page_token=request.page_token,
    )


def series_query(request: rpc.GetBatchMetricSeriesRequest) -> db.SeriesQuery:
    project, model = parse.model(request.model, "model")
    return db.SeriesQuery(
        project=project,
        model=model,
        metric=request.metric,
        dataset_version=dataset_version_ref(request.dataset_version, "dataset_version")
        if request.dataset_version
        else None,
        slice=request.slice,
    )


# Records -> responses


def fill_batch(msg: pb.Batch, r: db.Batch) -> pb.Batch:
    fill_dataset_version(msg.dataset_version, r)
    msg.model_version_count = r["model_version_count"]
    return msg


def fill_trained(msg: rpc.TrainedVersion, r: db.TrainedVersion) -> rpc.TrainedVersion:
    fill_version(msg.model_version, r)
    msg.dataset_version = names.dataset_version_name(*r["batch"])
    msg.role = _ROLE_NUMBER[r["role"]]
    if (via := r["via"]) is not None:
        msg.via = names.version_name(*via)
    msg.generations = r["generations"]
    return msg


def fill_behind(msg: rpc.BatchBehind, r: db.BatchBehind) -> rpc.BatchBehind:
    fill_dataset_version(msg.dataset_version, r)
    msg.role = _ROLE_NUMBER[r["role"]]
    msg.model_version = names.version_name(*r["trained_by"])
    msg.generations = r["generations"]
    return msg


def fill_point(msg: rpc.BatchMetricPoint, r: db.BatchPoint) -> rpc.BatchMetricPoint:
    msg.dataset_version = names.dataset_version_name(*r["batch"])
    msg.batch_id = r["batch_id"]
    if (start := r["data_start_time"]) is not None:
        set_time(msg.data_start_time, start)
    if (end := r["data_end_time"]) is not None:
        set_time(msg.data_end_time, end)
    msg.model_version = names.version_name(r["project_name"], r["model_name"], r["version"])
    msg.version = r["version"]
    if (value := r["value"]) is not None:
        msg.value = value
    return msg
