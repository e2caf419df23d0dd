"""Pipeline runs and their steps (owner: pipelines helper)."""

from __future__ import annotations

from modelreg_server.service.idempotency import Idempotency
from modelreg_server.storage.store import Store


class PipelinesService:
    def __init__(self, store: Store, requests: Idempotency) -> None:
        self._store = store
        self._requests = requests
