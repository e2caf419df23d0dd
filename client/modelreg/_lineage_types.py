"""Result types of batch learning and lineage: data batches, the versions that learned
from them, the batches behind a version, a metric from batch to batch, and the lineage
graph. Frozen, protobuf-free; times are timezone-aware UTC datetimes."""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime

from modelreg._tracking_types import DatasetVersion
from modelreg._types import DataRole, ModelVersion


class ResourceKind(str, enum.Enum):
    """What a resource name names, in pipeline step references and in lineage graphs. A
    dataset version with a batch id is a BATCH."""

    DATASET_VERSION = "DATASET_VERSION"
    BATCH = "BATCH"
    RUN = "RUN"
    MODEL_VERSION = "MODEL_VERSION"
    EVALUATION = "EVALUATION"
    DEPLOYMENT = "DEPLOYMENT"
    PIPELINE_RUN = "PIPELINE_RUN"
    PIPELINE_STEP = "PIPELINE_STEP"
    INFERENCE_WINDOW = "INFERENCE_WINDOW"


class LineageEdgeKind(str, enum.Enum):
    """How two resources of a lineage graph relate, from the upstream end (what was used)
    to the downstream end (what used or served it)."""

    DERIVED = "DERIVED"  # dataset version -> a dataset version derived from it
    INPUT = "INPUT"  # dataset version -> a run that read it
    TRAINED = "TRAINED"  # dataset version -> a model version trained on it (role)
    PRODUCED = "PRODUCED"  # run -> a model version it produced
    FINE_TUNED = "FINE_TUNED"  # model version -> a version fine-tuned from it
    EVALUATED = "EVALUATED"  # model version -> an evaluation of it
    EVALUATED_ON = "EVALUATED_ON"  # dataset version -> an evaluation on it
    LOGGED = "LOGGED"  # run -> an evaluation it logged
    SERVED = "SERVED"  # model version -> a deployment serving it now
    RECORDED = "RECORDED"  # deployment -> a day of its inference records
    PREDICTED = "PREDICTED"  # model version -> a day of records it predicted
    STEP_INPUT = "STEP_INPUT"  # resource -> a pipeline step that read it (role)
    STEP_OUTPUT = "STEP_OUTPUT"  # pipeline step -> a resource it made (role)
    STEP_OF = "STEP_OF"  # pipeline run -> one of its steps


class LineageDirection(str, enum.Enum):
    """Which way ``lineage`` walks from a resource. ``LineageDirection("up")`` and the
    members' names in any case are accepted."""

    UPSTREAM = "UPSTREAM"  # what it came from: data, runs, parent versions, steps
    DOWNSTREAM = "DOWNSTREAM"  # what came of it: versions, evaluations, deployments
    BOTH = "BOTH"

    @classmethod
    def _missing_(cls, value: object) -> LineageDirection | None:
        text = str(value).strip().upper()
        return {"UP": cls.UPSTREAM, "DOWN": cls.DOWNSTREAM}.get(text) or cls.__members__.get(text)


@dataclass(frozen=True)
class Batch:
    """A data batch (a dataset version with a ``batch_id``) and how many model versions
    have it in their own training data."""

    dataset_version: DatasetVersion
    model_version_count: int

    @property
    def batch_id(self) -> str:
        return self.dataset_version.batch_id

    @property
    def data_start_time(self) -> datetime | None:
        return self.dataset_version.data_start_time

    @property
    def data_end_time(self) -> datetime | None:
        return self.dataset_version.data_end_time

    @property
    def resource_name(self) -> str:
        return self.dataset_version.resource_name


@dataclass(frozen=True)
class TrainedVersion:
    """A model version that learned from a batch: directly (``generations`` 0, ``via``
    empty) or through the version ``via`` it was fine-tuned from, ``generations``
    ``parent_version`` links up. ``role`` is how the batch was used (by ``via`` if set)."""

    model_version: ModelVersion
    dataset_version: str
    role: DataRole
    via: str
    generations: int

    @property
    def direct(self) -> bool:
        """Whether the version has the batch in its own training data."""
        return self.generations == 0

    @property
    def resource_name(self) -> str:
        return self.model_version.resource_name


@dataclass(frozen=True)
class BatchBehind:
    """A dataset version behind a model version: in the training data of
    ``model_version``, the version asked for (``generations`` 0) or an ancestor
    ``generations`` ``parent_version`` links up."""

    dataset_version: DatasetVersion
    role: DataRole
    model_version: str
    generations: int

    @property
    def batch_id(self) -> str:
        """The batch id, "" when the dataset version is not a batch."""
        return self.dataset_version.batch_id

    @property
    def resource_name(self) -> str:
        return self.dataset_version.resource_name


@dataclass(frozen=True)
class BatchMetricPoint:
    """One version of a model at its newest training batch, with its value of the metric
    (None when it has none)."""

    dataset_version: str
    batch_id: str
    data_start_time: datetime | None
    data_end_time: datetime | None
    model_version: str
    version: int
    value: float | None


@dataclass(frozen=True)
class LineageNode:
    """A resource of a lineage graph, ``distance`` edges from the one asked about.
    ``expanded`` is False where the walk stopped (depth or node limit): ask ``lineage``
    from it to go on."""

    name: str
    kind: ResourceKind
    display_name: str
    distance: int
    expanded: bool
    attributes: Mapping[str, str]

    @property
    def resource_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class LineageEdge:
    """An edge from ``upstream`` (what was used) to ``downstream`` (what used or served
    it), by resource name; ``role`` is the data or reference role, where there is one."""

    upstream: str
    downstream: str
    kind: LineageEdgeKind
    role: str


@dataclass(frozen=True)
class LineageGraph:
    """The lineage around a resource: its nodes, by distance (the resource first), the
    edges between them, and whether the node limit (``max_nodes``) cut the walk short.

    Example:
        >>> g = client.lineage(deployment, direction="upstream", depth=5)
        >>> [n.name for n in g.nodes_of("BATCH")]
        >>> g.upstream_of(g.root.name)
    """

    nodes: tuple[LineageNode, ...]
    edges: tuple[LineageEdge, ...]
    truncated: bool
    max_nodes: int

    @property
    def root(self) -> LineageNode:
        """The resource asked about."""
        return self.nodes[0]

    def __contains__(self, name: object) -> bool:
        return any(n.name == name for n in self.nodes)

    def node(self, name: str) -> LineageNode:
        """The node of a resource name; KeyError if it is not in the graph."""
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def nodes_of(self, kind: ResourceKind | str) -> tuple[LineageNode, ...]:
        """The nodes of one kind (``ResourceKind.BATCH`` or ``"batch"``), by distance."""
        wanted = ResourceKind(kind.upper()) if isinstance(kind, str) else kind
        return tuple(n for n in self.nodes if n.kind is wanted)

    def find(self, kind: ResourceKind | str) -> tuple[LineageNode, ...]:
        """Same as ``nodes_of``."""
        return self.nodes_of(kind)

    def edges_from(self, name: str) -> tuple[LineageEdge, ...]:
        """The edges whose upstream end is ``name``."""
        return tuple(e for e in self.edges if e.upstream == name)

    def edges_to(self, name: str) -> tuple[LineageEdge, ...]:
        """The edges whose downstream end is ``name``."""
        return tuple(e for e in self.edges if e.downstream == name)

    def upstream_of(self, name: str) -> tuple[LineageNode, ...]:
        """The nodes with an edge into ``name``: what it was made from, directly."""
        ends = {e.upstream for e in self.edges_to(name)}
        return tuple(n for n in self.nodes if n.name in ends)

    def downstream_of(self, name: str) -> tuple[LineageNode, ...]:
        """The nodes with an edge from ``name``: what was made of it, directly."""
        ends = {e.downstream for e in self.edges_from(name)}
        return tuple(n for n in self.nodes if n.name in ends)
