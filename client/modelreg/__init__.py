"""modelreg: a model version registry client.

import modelreg
with modelreg.Client("127.0.0.1:50051") as client:
    client.create_project("translate_kr2en")
    train = client.create_dataset_version("translate_kr2en", "train", uri="s3://d/train.parquet")
    with client.start_run("translate_kr2en", params={"lr": 0.01}, inputs=[train]) as run:
        run.log_metrics({"loss": 0.42}, step=1)
        v = run.register_model_version("translate_kr2en", artifact_uri="./model/v1.pth")
"""

from modelreg._async import AsyncActivePipelineRun, AsyncActiveRun, AsyncActiveStep, AsyncClient
from modelreg._async._rpc import AsyncPager
from modelreg._deployment_types import (
    Deployment,
    DeploymentEvent,
    DeploymentEventKind,
    DeploymentState,
)
from modelreg._errors import (
    AlreadyExistsError,
    ConflictError,
    DeadlineExceededError,
    FailedPreconditionError,
    FieldViolation,
    InternalError,
    InvalidArgumentError,
    ModelregError,
    NotFoundError,
    PermissionDeniedError,
    UnauthenticatedError,
    UnavailableError,
)
from modelreg._inference_buffer import LoggerOptions
from modelreg._inference_logger import AsyncInferenceLogger, InferenceLogger
from modelreg._inference_types import (
    Feedback,
    FeedbackResult,
    InferenceRecord,
    LoggerStats,
    ProductionMetrics,
    ProductionMetricsReport,
    RecordError,
    WriteResult,
)
from modelreg._key_types import ApiKey, ApiKeyRole, ApiKeyState, CreatedApiKey
from modelreg._lineage_types import (
    Batch,
    BatchBehind,
    BatchMetricPoint,
    LineageDirection,
    LineageEdge,
    LineageEdgeKind,
    LineageGraph,
    LineageNode,
    ResourceKind,
    TrainedVersion,
)
from modelreg._paging import Page
from modelreg._pipeline_types import (
    Pipeline,
    PipelineRun,
    PipelineRunState,
    PipelineStep,
    PipelineStepState,
    ResourceRef,
)
from modelreg._settings import RetryPolicy
from modelreg._sync import ActivePipelineRun, ActiveRun, ActiveStep, Client
from modelreg._sync._rpc import Pager
from modelreg._tracking_types import (
    ComparedMetric,
    ComparedParam,
    Dataset,
    DatasetVersion,
    Evaluation,
    Goal,
    Metric,
    RankedVersion,
    Run,
    RunOutput,
    RunState,
    VersionComparison,
)
from modelreg._types import (
    Alias,
    AliasEvent,
    AliasEventKind,
    Artifact,
    CodeVersion,
    DataRef,
    DataRole,
    Model,
    ModelVersion,
    Project,
    VersionState,
)

__version__ = "0.1.0"

__all__ = [
    "ActivePipelineRun",
    "ActiveRun",
    "ActiveStep",
    "Alias",
    "AliasEvent",
    "AliasEventKind",
    "AlreadyExistsError",
    "ApiKey",
    "ApiKeyRole",
    "ApiKeyState",
    "Artifact",
    "AsyncActivePipelineRun",
    "AsyncActiveRun",
    "AsyncActiveStep",
    "AsyncClient",
    "AsyncInferenceLogger",
    "AsyncPager",
    "Batch",
    "BatchBehind",
    "BatchMetricPoint",
    "Client",
    "CodeVersion",
    "ComparedMetric",
    "ComparedParam",
    "ConflictError",
    "CreatedApiKey",
    "DataRef",
    "DataRole",
    "Dataset",
    "DatasetVersion",
    "DeadlineExceededError",
    "Deployment",
    "DeploymentEvent",
    "DeploymentEventKind",
    "DeploymentState",
    "Evaluation",
    "FailedPreconditionError",
    "Feedback",
    "FeedbackResult",
    "FieldViolation",
    "Goal",
    "InferenceLogger",
    "InferenceRecord",
    "InternalError",
    "InvalidArgumentError",
    "LineageDirection",
    "LineageEdge",
    "LineageEdgeKind",
    "LineageGraph",
    "LineageNode",
    "LoggerOptions",
    "LoggerStats",
    "Metric",
    "Model",
    "ModelVersion",
    "ModelregError",
    "NotFoundError",
    "Page",
    "Pager",
    "PermissionDeniedError",
    "Pipeline",
    "PipelineRun",
    "PipelineRunState",
    "PipelineStep",
    "PipelineStepState",
    "ProductionMetrics",
    "ProductionMetricsReport",
    "Project",
    "RankedVersion",
    "RecordError",
    "ResourceKind",
    "ResourceRef",
    "RetryPolicy",
    "Run",
    "RunOutput",
    "RunState",
    "TrainedVersion",
    "UnauthenticatedError",
    "UnavailableError",
    "VersionComparison",
    "VersionState",
    "WriteResult",
    "__version__",
]
