"""LineageService's servicer: its pipeline methods (transport/pipelines.py), its
batch methods (transport/batches.py) and its graph method (transport/graph.py)
on one servicer object."""

from __future__ import annotations

from modelreg.api.v1 import lineage_service_pb2_grpc as rpc_grpc
from modelreg_server.service.lineage import Lineage
from modelreg_server.transport.batches import BatchMethods
from modelreg_server.transport.graph import GraphMethods
from modelreg_server.transport.pipelines import PipelineMethods


class LineageServicer(PipelineMethods, BatchMethods, GraphMethods, rpc_grpc.LineageServiceServicer):
    def __init__(self, lineage: Lineage) -> None:
        self._pipelines = lineage.pipelines
        self._batches = lineage.batches
        self._graph = lineage.graph
