"""LineageService's batches methods (skeleton: filled in by its owner)."""

from __future__ import annotations

from modelreg_server.service.batches import BatchesService


class BatchMethods:
    _batches: BatchesService
