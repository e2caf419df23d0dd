"""ProductionService's deployment methods: parse names, convert, call the
deployments service object, fill the response."""

from __future__ import annotations

from modelreg_server.service.deployments import DeploymentsService


class DeploymentMethods:
    _deployments: DeploymentsService
