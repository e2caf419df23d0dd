"""Use cases on runs: start, log params and metric points, end, read, list."""

from __future__ import annotations

from modelreg_server.service import idempotency as idem
from modelreg_server.storage.store import Store


class RunsService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests
