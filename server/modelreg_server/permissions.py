"""The permission table: what every RPC of the service table needs, and which
field of its request names the project it acts on.

One entry per method, by family, beside the service table (app.py): the
pipeline (transport/calls.py) refuses a method with no entry, PERMISSION_DENIED
for every key, and tests/test_authorization_e2e.py fails for it. The project is
read from the request alone, before anything is looked up, so a key of one
project gets PERMISSION_DENIED for another project's names whether they exist or
not. A request whose field names no project (empty, or not ``projects/...``)
needs a server admin key.

Roles (domain/access.py): READ is every read; WRITE adds registering versions,
runs, datasets, evaluations, pipeline runs, inference records and feedback;
ADMIN adds aliases, deployments, deletes, archive/restore, project settings and
the project's keys; SERVER is projects themselves and server admin keys.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from modelreg_server.domain.access import Permission


@dataclass(frozen=True)
class Rule:
    """``permission`` on the project named by the request's ``field`` (a dotted
    path to a resource name, ``[]`` after a repeated field; None: the call names
    no project). ``refs``: the request's other resource names (references to
    data, runs, versions...), each of which must be in a project the key may read."""

    permission: Permission
    field: str | None
    refs: tuple[str, ...] = ()


READ, WRITE, ADMIN, SERVER, CALLER = (
    Permission.READ,
    Permission.WRITE,
    Permission.ADMIN,
    Permission.SERVER,
    Permission.CALLER,
)

# A version's training data, source run and parent version; a run's inputs and outputs.
VERSION_REFS = (
    "model_version.training_data[].dataset_version",
    "model_version.source_run",
    "model_version.parent_version",
)
RUN_REFS = ("run.inputs[].dataset_version", "run.outputs[].model_version")

REGISTRY: Mapping[str, Rule] = {
    "CreateProject": Rule(SERVER, None),
    "GetProject": Rule(READ, "name"),
    # Any key; a project key sees its own project only (transport/registry.py).
    "ListProjects": Rule(CALLER, None),
    "UpdateProject": Rule(ADMIN, "project.name"),
    "DeleteProject": Rule(SERVER, None),
    "CreateModel": Rule(WRITE, "parent"),
    "GetModel": Rule(READ, "name"),
    "ListModels": Rule(READ, "parent"),
    "UpdateModel": Rule(WRITE, "model.name"),
    "DeleteModel": Rule(ADMIN, "name"),
    "CreateModelVersion": Rule(WRITE, "parent", VERSION_REFS),
    "GetModelVersion": Rule(READ, "name"),
    "ListModelVersions": Rule(READ, "parent"),
    "UpdateModelVersion": Rule(WRITE, "model_version.name", VERSION_REFS),
    "DeleteModelVersion": Rule(ADMIN, "name"),
    "ArchiveModelVersion": Rule(ADMIN, "name"),
    "RestoreModelVersion": Rule(ADMIN, "name"),
    "SetAlias": Rule(ADMIN, "parent", ("version",)),
    "GetAlias": Rule(READ, "name"),
    "ListAliases": Rule(READ, "parent"),
    "DeleteAlias": Rule(ADMIN, "name"),
    "ListAliasHistory": Rule(READ, "name"),
    "RollbackAlias": Rule(ADMIN, "name"),
}

TRACKING: Mapping[str, Rule] = {
    "CreateDatasetVersion": Rule(WRITE, "parent", ("dataset_version.parents[]",)),
    "GetDatasetVersion": Rule(READ, "name"),
    "ListDatasetVersions": Rule(READ, "parent"),
    "GetDataset": Rule(READ, "name"),
    "ListDatasets": Rule(READ, "parent"),
    "CreateRun": Rule(WRITE, "parent", RUN_REFS),
    "GetRun": Rule(READ, "name"),
    "ListRuns": Rule(READ, "parent"),
    "UpdateRun": Rule(WRITE, "run.name", RUN_REFS),
    "LogRunData": Rule(WRITE, "run"),
    "EndRun": Rule(WRITE, "name"),
    "ListMetricHistory": Rule(READ, "run"),
    "CreateEvaluation": Rule(WRITE, "parent", ("evaluation.dataset_version", "evaluation.run")),
    "GetEvaluation": Rule(READ, "name"),
    "ListEvaluations": Rule(READ, "parent"),
    "CompareModelVersions": Rule(READ, "parent", ("versions[]",)),
    "RankModelVersions": Rule(READ, "parent", ("dataset_version",)),
}

PRODUCTION: Mapping[str, Rule] = {
    "CreateDeployment": Rule(ADMIN, "parent", ("deployment.model",)),
    "GetDeployment": Rule(READ, "name"),
    "ListDeployments": Rule(READ, "parent"),
    "SetTraffic": Rule(ADMIN, "name"),
    "UpdateDeployment": Rule(ADMIN, "deployment.name", ("deployment.model",)),
    "ListDeploymentHistory": Rule(READ, "name"),
    # A stream: every batch message is checked against its own parent.
    "WriteInferenceRecords": Rule(WRITE, "parent"),
    "WriteInferenceRecordBatch": Rule(WRITE, "parent"),
    "ListInferenceRecords": Rule(READ, "parent"),
    "WriteFeedback": Rule(WRITE, "parent"),
    "GetProductionMetrics": Rule(READ, "parent"),
}

LINEAGE: Mapping[str, Rule] = {
    "CreatePipelineRun": Rule(
        WRITE,
        "parent",
        ("pipeline_run.steps[].inputs[].name", "pipeline_run.steps[].outputs[].name"),
    ),
    "GetPipelineRun": Rule(READ, "name"),
    "ListPipelineRuns": Rule(READ, "parent"),
    "ListPipelines": Rule(READ, "parent"),
    "RecordPipelineStep": Rule(WRITE, "parent", ("step.inputs[].name", "step.outputs[].name")),
    "EndPipelineRun": Rule(WRITE, "name"),
    "ListBatches": Rule(READ, "parent"),
    "ListVersionsTrainedOn": Rule(READ, "parent", ("dataset_version",)),
    "ListBatchesBehindVersion": Rule(READ, "name"),
    "GetBatchMetricSeries": Rule(READ, "model", ("dataset_version",)),
    "GetLineage": Rule(READ, "resource"),
}

ACCESS: Mapping[str, Rule] = {
    # Under projects/{p}: the project's admin; empty parent (server admin keys): SERVER.
    "CreateApiKey": Rule(ADMIN, "parent"),
    "GetApiKey": Rule(ADMIN, "name"),
    "ListApiKeys": Rule(ADMIN, "parent"),
    "RevokeApiKey": Rule(ADMIN, "name"),
    "GetCallerKey": Rule(CALLER, None),
}


def project_of(name: str) -> str | None:
    """``projects/{p}/...`` -> ``p``; None for anything else."""
    if not name.startswith("projects/"):
        return None
    project = name[len("projects/") :].partition("/")[0]
    return project or None
