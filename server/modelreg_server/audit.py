"""The audit trail of access: keys created and revoked, and every call refused
by authentication, authorization or a rate limit. One structured line each on the
``modelreg_server.audit`` logger (the key's prefix, never its token), and a count
in the metrics."""

from __future__ import annotations

import logging

from modelreg_server import metrics

log = logging.getLogger("modelreg_server.audit")
# How much of a resource name an audit line keeps.
MAX_RESOURCE_CHARS = 256


def clip(text: str) -> str:
    return text if len(text) <= MAX_RESOURCE_CHARS else text[:MAX_RESOURCE_CHARS] + "..."


def key_created(prefix: str, project: str | None, role: str, by: str) -> None:
    metrics.API_KEY_EVENTS.labels("created").inc()
    log.info(
        "api key created: %s role=%s project=%s by=%s",
        prefix,
        role,
        project or "-",
        by,
        extra={
            "audit": "key_created",
            "key": prefix,
            "role": role,
            "project": project or "",
            "actor": by,
        },
    )


def key_revoked(prefix: str, project: str | None, by: str) -> None:
    metrics.API_KEY_EVENTS.labels("revoked").inc()
    log.info(
        "api key revoked: %s project=%s by=%s",
        prefix,
        project or "-",
        by,
        extra={"audit": "key_revoked", "key": prefix, "project": project or "", "actor": by},
    )


def denied(prefix: str, method: str, resource: str, reason: str, message: str) -> None:
    """A refused call: ``prefix`` of its key ("" without one), ``method``
    (Service/Method), the resource it named, and why."""
    metrics.AUTH_DENIED.labels(method, reason).inc()
    resource = clip(resource)
    log.warning(
        "denied %s key=%s resource=%s reason=%s: %s",
        method,
        prefix or "-",
        resource or "-",
        reason,
        message,
        extra={
            "audit": "denied",
            "key": prefix,
            "method": method,
            "resource": resource,
            "reason": reason,
        },
    )
