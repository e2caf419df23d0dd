"""What the field-limit tests use: the four generated stubs on one channel, and
the row counts of every table (did a refused call write anything?)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import grpc

from modelreg.api.v1 import lineage_service_pb2_grpc as lineage_grpc
from modelreg.api.v1 import production_service_pb2_grpc as production_grpc
from modelreg.api.v1 import registry_service_pb2_grpc as registry_grpc
from modelreg.api.v1 import tracking_service_pb2_grpc as tracking_grpc
from modelreg_server.storage.tables import Base
from tests.support import sql

# Large enough for LogRunData's 100,000 points and a megabyte of inference JSON.
MAX_SEND = 64 * 1024 * 1024


@dataclass(frozen=True)
class Stubs:
    registry: Any
    tracking: Any
    production: Any
    lineage: Any


@contextmanager
def stubs(target: str, metadata: tuple[tuple[str, str], ...] = ()) -> Iterator[Stubs]:
    """The four services' stubs on one channel to ``target``."""
    options = [("grpc.max_send_message_length", MAX_SEND)]
    with grpc.insecure_channel(target, options=options) as channel:
        yield Stubs(
            registry_grpc.RegistryServiceStub(channel),
            tracking_grpc.TrackingServiceStub(channel),
            production_grpc.ProductionServiceStub(channel),
            lineage_grpc.LineageServiceStub(channel),
        )


def _tables() -> list[str]:
    return [t.name for t in Base.metadata.sorted_tables]


def row_counts(database_url: str) -> dict[str, int]:
    """Rows of every table of the schema, in one statement (one snapshot)."""
    names = _tables()
    query = "SELECT " + ", ".join(f'(SELECT count(*) FROM "{n}") AS "{n}"' for n in names)
    (row,) = sql(database_url, query)
    return {n: row[n] for n in names}
