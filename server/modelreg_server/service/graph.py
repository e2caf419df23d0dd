"""The lineage graph (owner: lineage helper)."""

from __future__ import annotations

from modelreg_server.storage.store import Store


class GraphService:
    def __init__(self, store: Store) -> None:
        self._store = store
