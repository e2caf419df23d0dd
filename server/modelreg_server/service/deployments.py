"""Use cases on deployments: create, read (now or at a time), traffic split, history."""

from __future__ import annotations

from modelreg_server.service import idempotency as idem
from modelreg_server.storage.store import Store


class DeploymentsService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests
