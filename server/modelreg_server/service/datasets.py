"""Use cases on datasets and their versions."""

from __future__ import annotations

from modelreg_server.service import idempotency as idem
from modelreg_server.storage.store import Store


class DatasetsService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests
