"""The tracking family: datasets, runs, and evaluations (with compare and rank),
one object each.

As in the registry family (registry.py), each public method is one unit of work,
and mutations go through the idempotency component."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg_server.service.datasets import DatasetsService
from modelreg_server.service.evaluations import EvaluationsService
from modelreg_server.service.runs import RunsService


@dataclass(frozen=True)
class Tracking:
    """What TrackingService's servicer calls, composed in app.py over the registry's
    store and idempotency component."""

    datasets: DatasetsService
    runs: RunsService
    evaluations: EvaluationsService
