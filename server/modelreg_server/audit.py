"""Audit lines: one structured log line per security event on the logger
``modelreg_server.audit``, its fields in the record (``extra``) as well as in the
message. A key is named by its prefix (``mrk_{key_id}``), never by its token.

(The keys helper's two lines; the lead's audit.py, with ``denied``, replaces this
file on merge.)"""

from __future__ import annotations

import logging

log = logging.getLogger("modelreg_server.audit")


def _where(project: str | None) -> str:
    return "the server" if project is None else f"project {project}"


def key_created(prefix: str, project: str | None, role: str, by: str) -> None:
    """A key was made (CreateApiKey, the bootstrap)."""
    log.info(
        "api key created: %s (%s of %s) by %s",
        prefix,
        role,
        _where(project),
        by,
        extra={
            "event": "key_created",
            "key": prefix,
            "project": project or "",
            "role": role,
            "actor": by,
        },
    )


def key_revoked(prefix: str, project: str | None, by: str) -> None:
    """A key was revoked (once: revoking it again is not an event)."""
    log.info(
        "api key revoked: %s (of %s) by %s",
        prefix,
        _where(project),
        by,
        extra={"event": "key_revoked", "key": prefix, "project": project or "", "actor": by},
    )
