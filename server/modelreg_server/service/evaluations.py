"""Use cases on evaluations, and comparing and ranking model versions by them."""

from __future__ import annotations

from modelreg_server.service import idempotency as idem
from modelreg_server.storage.store import Store


class EvaluationsService:
    def __init__(self, store: Store, requests: idem.Idempotency) -> None:
        self._store = store
        self._requests = requests
