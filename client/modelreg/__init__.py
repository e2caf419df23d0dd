"""modelreg: a model version registry client.

import modelreg
with modelreg.Client("127.0.0.1:50051") as client:
    client.create_project("translate_kr2en")
    v = client.register_model_version(
        "translate_kr2en", "translate_kr2en", artifact_uri="./model/v1.pth", params={"lr": 0.01}
    )
"""

from modelreg._async import AsyncClient
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
from modelreg._settings import RetryPolicy
from modelreg._sync import Client
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
    "Alias",
    "AliasEvent",
    "AliasEventKind",
    "AlreadyExistsError",
    "Artifact",
    "AsyncClient",
    "Client",
    "CodeVersion",
    "ConflictError",
    "DataRef",
    "DataRole",
    "DeadlineExceededError",
    "FailedPreconditionError",
    "FieldViolation",
    "InternalError",
    "InvalidArgumentError",
    "Model",
    "ModelVersion",
    "ModelregError",
    "NotFoundError",
    "PermissionDeniedError",
    "Project",
    "RetryPolicy",
    "UnauthenticatedError",
    "UnavailableError",
    "VersionState",
    "__version__",
]
