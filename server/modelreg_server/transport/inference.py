"""ProductionService's inference methods: the ingest stream and batch call,
records, feedback and production metrics."""

from __future__ import annotations

from modelreg_server.service.inference import InferenceService


class InferenceMethods:
    _inference: InferenceService
