"""Domain types shared by pipelines, batch queries and the lineage graph: what a
resource name names (``Kind``) and a node of the graph (``NodeKey``).

A node is a row of the table its kind names, by id. An inference window (a UTC
day of inference records) has no row: it is a deployment's id and the day, or,
for records sent without a deployment, the model's id negated and the day."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import date


class Kind(enum.Enum):
    """What a resource name names. A batch is a DATASET_VERSION with a batch id
    (the wire's RESOURCE_KIND_BATCH is decided when a node is described)."""

    DATASET_VERSION = "DATASET_VERSION"
    RUN = "RUN"
    MODEL_VERSION = "MODEL_VERSION"
    EVALUATION = "EVALUATION"
    DEPLOYMENT = "DEPLOYMENT"
    PIPELINE_RUN = "PIPELINE_RUN"
    PIPELINE_STEP = "PIPELINE_STEP"
    INFERENCE_WINDOW = "INFERENCE_WINDOW"


# What a pipeline step may read or make (pipeline_step_refs.kind).
REF_KINDS = frozenset(
    {Kind.DATASET_VERSION, Kind.RUN, Kind.MODEL_VERSION, Kind.EVALUATION, Kind.DEPLOYMENT}
)


class EdgeKind(enum.Enum):
    """How two nodes relate, always from the upstream end to the downstream end
    (the wire's LineageEdgeKind without its prefix)."""

    DERIVED = "DERIVED"
    INPUT = "INPUT"
    TRAINED = "TRAINED"
    PRODUCED = "PRODUCED"
    FINE_TUNED = "FINE_TUNED"
    EVALUATED = "EVALUATED"
    EVALUATED_ON = "EVALUATED_ON"
    LOGGED = "LOGGED"
    SERVED = "SERVED"
    RECORDED = "RECORDED"
    PREDICTED = "PREDICTED"
    STEP_INPUT = "STEP_INPUT"
    STEP_OUTPUT = "STEP_OUTPUT"
    STEP_OF = "STEP_OF"


@dataclass(frozen=True)
class NodeKey:
    """A node of the lineage graph: its kind and row id (``day`` only for an
    inference window)."""

    kind: Kind
    id: int
    day: date | None = None
