"""TrackingService's servicer: parse names, convert, call the tracking family's
service objects, fill the response."""

from __future__ import annotations

from modelreg.api.v1 import tracking_service_pb2_grpc as rpc_grpc
from modelreg_server.service.tracking import Tracking


class TrackingServicer(rpc_grpc.TrackingServiceServicer):
    def __init__(self, tracking: Tracking) -> None:
        self._datasets = tracking.datasets
        self._runs = tracking.runs
        self._evaluations = tracking.evaluations

    # Datasets

    # Runs

    # Evaluations, compare and rank
