"""LineageService's graph methods (skeleton: filled in by its owner)."""

from __future__ import annotations

from modelreg_server.service.graph import GraphService


class GraphMethods:
    _graph: GraphService
