"""The production family: deployments (traffic split and its history), and
inference records with their feedback and production metrics, one object each.

As in the registry family (registry.py), each public method is one unit of work,
and mutations go through the idempotency component."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg_server.service.deployments import DeploymentsService
from modelreg_server.service.inference import InferenceService


@dataclass(frozen=True)
class Production:
    """What ProductionService's servicer calls, composed in app.py."""

    deployments: DeploymentsService
    inference: InferenceService
