"""Batch-learning queries (owner: batches helper)."""

from __future__ import annotations

from modelreg_server.storage.store import Store


class BatchesService:
    def __init__(self, store: Store) -> None:
        self._store = store
