"""Domain errors raised by the service and storage layers.

The transport maps each class to one gRPC status code (transport/errors.py)::

    RegistryError
     +-- InvalidArgument      INVALID_ARGUMENT  (carries field violations)
     +-- NotFound             NOT_FOUND
     +-- AlreadyExists        ALREADY_EXISTS
     +-- FailedPrecondition   FAILED_PRECONDITION
     +-- Aborted              ABORTED           (stale etag, lost race)
     +-- PermissionDenied     PERMISSION_DENIED
     +-- Unauthenticated      UNAUTHENTICATED
     +-- Unavailable          UNAVAILABLE       (database down)
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldViolation:
    field: str
    description: str


class RegistryError(Exception):
    """Base of the errors the API reports to clients on purpose."""

    reason: str = "ERROR"

    def __init__(
        self,
        message: str,
        *,
        reason: str | None = None,
        metadata: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})


class InvalidArgument(RegistryError):
    reason = "INVALID_ARGUMENT"

    def __init__(
        self,
        field: str,
        description: str,
        *,
        reason: str | None = None,
        more: tuple[FieldViolation, ...] = (),
    ) -> None:
        super().__init__(f"{field}: {description}", reason=reason, metadata={"field": field})
        self.violations: tuple[FieldViolation, ...] = (FieldViolation(field, description), *more)


class NotFound(RegistryError):
    reason = "NOT_FOUND"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} not found: {name}", metadata={"kind": kind, "name": name})
        self.kind = kind
        self.name = name


class AlreadyExists(RegistryError):
    reason = "ALREADY_EXISTS"

    def __init__(self, kind: str, name: str) -> None:
        super().__init__(f"{kind} already exists: {name}", metadata={"kind": kind, "name": name})


class FailedPrecondition(RegistryError):
    reason = "FAILED_PRECONDITION"


class Aborted(RegistryError):
    reason = "ABORTED"


class PermissionDenied(RegistryError):
    reason = "PERMISSION_DENIED"


class Unauthenticated(RegistryError):
    reason = "UNAUTHENTICATED"


class Unavailable(RegistryError):
    reason = "UNAVAILABLE"
