"""Use cases on inference records: ingest, list, feedback, production metrics."""

from __future__ import annotations

from modelreg_server.storage.store import Store


class InferenceService:
    def __init__(self, store: Store) -> None:
        self._store = store
