"""The lineage family: pipeline runs with their steps, batch-learning queries, and
the lineage graph, one object each.

As in the registry family (registry.py), each public method is one unit of work,
and mutations go through the idempotency component."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg_server.service.batches import BatchesService
from modelreg_server.service.graph import GraphService
from modelreg_server.service.pipelines import PipelinesService


@dataclass(frozen=True)
class Lineage:
    """What LineageService's servicer calls, composed in app.py."""

    pipelines: PipelinesService
    batches: BatchesService
    graph: GraphService
