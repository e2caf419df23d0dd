"""ProductionService's servicer: its deployment methods (transport/deployments.py)
and its inference methods (transport/inference.py) on one servicer object."""

from __future__ import annotations

from modelreg.api.v1 import production_service_pb2_grpc as rpc_grpc
from modelreg_server.service.production import Production
from modelreg_server.transport.deployments import DeploymentMethods
from modelreg_server.transport.inference import InferenceMethods


class ProductionServicer(DeploymentMethods, InferenceMethods, rpc_grpc.ProductionServiceServicer):
    def __init__(self, production: Production) -> None:
        self._deployments = production.deployments
        self._inference = production.inference
