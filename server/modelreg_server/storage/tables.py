"""Table definitions. The database enforces the invariants: unique names, gapless
per-model version numbers (a counter on the model row, locked by UPDATE), one
response per (method, request_id)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, cast

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    DateTime,
    Double,
    ForeignKey,
    Identity,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB, UUID
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)


def _now() -> Mapped[datetime]:
    return mapped_column(DateTime(timezone=True), nullable=False, server_default=func.now())


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    name: Mapped[str] = mapped_column(Text, nullable=False, unique=True)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()


class ModelRow(Base):
    __tablename__ = "models"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    # The version counter: the registering transaction increments it under the
    # row lock, so numbers are gapless and unique across server processes.
    version_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()


class ModelVersionRow(Base):
    __tablename__ = "model_versions"
    __table_args__ = (
        UniqueConstraint("model_id", "version"),
        CheckConstraint("state IN ('READY', 'ARCHIVED', 'DELETED')", name="state"),
        CheckConstraint("version > 0", name="version_positive"),
        # Keyset pages of `order_by=create_time`, without sorting every version.
        Index(None, "model_id", "create_time", "version"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default="READY")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    artifact_uri: Mapped[str] = mapped_column(Text, nullable=False)
    artifact_sha256: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    artifact_size: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    artifact_format: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    architecture: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Canonical JSON text (sorted keys, compact separators, UTF-8), "" for none:
    # returned byte for byte, which jsonb (it reorders keys) could not do.
    architecture_config: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Read copies of the immutable params ([key, kind, text]) and training data
    # ([dataset, version, batch_id, role]) in the order given: a version reads back
    # without aggregating its side tables, which exist for filters and lineage.
    param_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    data_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    # Read copy of the labels, written with the label rows in one transaction.
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    source_run: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    code_repo: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    code_commit: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    code_dirty: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("model_versions.id", ondelete="SET NULL"), nullable=True, index=True
    )
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()
    # The run that produced it (schema 0004); NULL for versions registered without
    # one, and for those whose free-text source_run predates runs.
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )


class ModelVersionParamRow(Base):
    """Typed key/value rows so filters and rankings on params are indexed SQL."""

    __tablename__ = "model_version_params"
    __table_args__ = (
        CheckConstraint("kind IN ('int', 'float', 'str', 'bool')", name="kind"),
        Index(None, "key", "num_value"),
        Index(None, "key", "text_value"),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    # int, float and bool (0/1) values, for numeric comparison and ranking.
    num_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    # Exact text of every value: ints round-trip without float rounding.
    text_value: Mapped[str] = mapped_column(Text, nullable=False)


class ModelVersionLabelRow(Base):
    __tablename__ = "model_version_labels"
    __table_args__ = (Index(None, "key", "value"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class ModelVersionDataRow(Base):
    """Training data references, in the order the trainer gave them."""

    __tablename__ = "model_version_data"
    __table_args__ = (
        Index(None, "dataset", "version"),
        Index(None, "batch_id"),
        CheckConstraint("role IN ('TRAIN', 'VALIDATION', 'TEST')", name="role"),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset: Mapped[str] = mapped_column(Text, nullable=False)
    version: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    batch_id: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    role: Mapped[str] = mapped_column(Text, nullable=False, server_default="TRAIN")
    # The dataset version referenced (schema 0004). Set on every row: references
    # stored before were made into dataset versions by the upgrade.
    dataset_version_id: Mapped[int | None] = mapped_column(
        ForeignKey("dataset_versions.id"), nullable=True, index=True
    )


class AliasRow(Base):
    __tablename__ = "aliases"

    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), primary_key=True
    )
    alias: Mapped[str] = mapped_column(Text, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id"), nullable=False, index=True
    )
    updated_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    update_time: Mapped[datetime] = _now()


class AliasEventRow(Base):
    """Append-only: rows are inserted, never updated or deleted (but with their model)."""

    __tablename__ = "alias_events"
    __table_args__ = (
        Index(None, "model_id", "alias", "id"),
        CheckConstraint("kind IN ('SET', 'ROLLBACK', 'DELETE')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), nullable=False
    )
    alias: Mapped[str] = mapped_column(Text, nullable=False)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    from_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    to_version: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    actor: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    event_time: Mapped[datetime] = _now()


class RequestLogRow(Base):
    """Idempotency keys of every mutating call, with the response each first call
    returned, so a retry gets that response again (service/idempotency.py)."""

    __tablename__ = "request_log"

    method: Mapped[str] = mapped_column(Text, primary_key=True)
    # The name of the resource the call addressed (its parent, for a create).
    scope: Mapped[str] = mapped_column(Text, primary_key=True, server_default="")
    request_id: Mapped[str] = mapped_column(Text, primary_key=True)
    payload_hash: Mapped[str] = mapped_column(Text, nullable=False)
    # The first response as stored by storage/requests.py; JSON null for calls that
    # return nothing, SQL NULL for keys recorded before responses were kept.
    response: Mapped[Any] = mapped_column(JSONB, nullable=True)
    create_time: Mapped[datetime] = _now()


class ServerSecretRow(Base):
    """Keys every server process on this database shares, each made once, at random,
    by the migration that added it (page-token signing: storage/server_secrets.py)."""

    __tablename__ = "server_secrets"

    name: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    create_time: Mapped[datetime] = _now()


# Experiment tracking (schema 0004)


class IdCounterRow(Base):
    """Counters behind server-made ids (`run_001`, `v1`, `eval_1`): one row per
    kind and parent, incremented under its row lock. Gaps are fine; these ids
    only need to be new."""

    __tablename__ = "id_counters"

    kind: Mapped[str] = mapped_column(Text, primary_key=True)  # run, dataset_version, evaluation
    parent_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")


class DatasetRow(Base):
    __tablename__ = "datasets"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    version_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()


class DatasetVersionRow(Base):
    """An immutable dataset version; a data batch is one with a batch_id."""

    __tablename__ = "dataset_versions"
    __table_args__ = (
        UniqueConstraint("dataset_id", "version"),
        Index(None, "dataset_id", "create_time", "id"),
        Index(None, "batch_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    dataset_id: Mapped[int] = mapped_column(
        ForeignKey("datasets.id", ondelete="CASCADE"), nullable=False
    )
    version: Mapped[str] = mapped_column(Text, nullable=False)
    uri: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    digest: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    row_count: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    # Canonical JSON text, "" for none (as model_versions.architecture_config).
    schema_json: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    split: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    batch_id: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    data_start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    data_end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Read copies: parent resource names in the order given, and the labels.
    parent_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    create_time: Mapped[datetime] = _now()


class DatasetVersionParentRow(Base):
    """What a dataset version was derived from, for lineage queries."""

    __tablename__ = "dataset_version_parents"

    child_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    parent_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), nullable=False, index=True
    )


class DatasetVersionLabelRow(Base):
    __tablename__ = "dataset_version_labels"
    __table_args__ = (Index(None, "key", "value"),)

    version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id", ondelete="CASCADE"), primary_key=True
    )
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class RunRow(Base):
    __tablename__ = "runs"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')", name="state"),
        Index(None, "project_id", "start_time", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    # The run id, e.g. `run_001` (its name's last segment, as models.name).
    name: Mapped[str] = mapped_column(Text, nullable=False)
    experiment: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default="RUNNING")
    start_time: Mapped[datetime] = _now()
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Read copies, as on model_versions: params [key, kind, text] in the order
    # set, inputs [dataset, version, batch_id, role, dataset version name].
    param_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    input_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    code_repo: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    code_commit: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    code_dirty: Mapped[bool] = mapped_column(Boolean, nullable=False, server_default="false")
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    update_time: Mapped[datetime] = _now()


class RunParamRow(Base):
    """Typed key/value rows, as model_version_params."""

    __tablename__ = "run_params"
    __table_args__ = (
        CheckConstraint("kind IN ('int', 'float', 'str', 'bool')", name="kind"),
        Index(None, "key", "num_value"),
        Index(None, "key", "text_value"),
    )

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    num_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    text_value: Mapped[str] = mapped_column(Text, nullable=False)


class RunLabelRow(Base):
    __tablename__ = "run_labels"
    __table_args__ = (Index(None, "key", "value"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[str] = mapped_column(Text, nullable=False)


class RunInputRow(Base):
    """The dataset versions a run read, in the order given."""

    __tablename__ = "run_inputs"
    __table_args__ = (CheckConstraint("role IN ('TRAIN', 'VALIDATION', 'TEST')", name="role"),)

    run_id: Mapped[int] = mapped_column(ForeignKey("runs.id", ondelete="CASCADE"), primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id"), nullable=False, index=True
    )
    role: Mapped[str] = mapped_column(Text, nullable=False, server_default="TRAIN")


class RunMetricRow(Base):
    """Every logged metric point (bulk-inserted with COPY). The primary key is
    the history's order: by step, then as logged (`id`, from a sequence).

    No foreign key to runs, here and on run_latest_metrics: its check, a query per
    row inserted, was a third of an EndRun of 50 points. Points are only written
    with their run row locked (updated in the same statement or transaction), and
    deleted with their project's runs (storage/projects.py ``delete_``)."""

    __tablename__ = "run_metrics"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    step: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    id: Mapped[int] = mapped_column(BigInteger, Identity(), primary_key=True)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class RunLatestMetricRow(Base):
    """Each key's latest point of a run (highest step, last logged among equal
    steps): what runs show and filter on (`metrics.<key>`, an EXISTS probe of the
    primary key per run). No index on the value, so rewriting a key's latest point is
    a HOT update; no foreign key to runs (see run_metrics)."""

    __tablename__ = "run_latest_metrics"

    run_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    step: Mapped[int] = mapped_column(BigInteger, nullable=False)
    time: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    # The run_metrics id of the point, to order equal steps.
    metric_id: Mapped[int] = mapped_column(BigInteger, nullable=False)


class EvaluationRow(Base):
    __tablename__ = "evaluations"
    __table_args__ = (
        UniqueConstraint("version_id", "evaluation_id"),
        Index(None, "dataset_version_id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), nullable=False
    )
    evaluation_id: Mapped[str] = mapped_column(Text, nullable=False)
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id"), nullable=False
    )
    slice: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    # Read copy of the metrics {key: value}, in the order given.
    metrics: Mapped[dict[str, float]] = mapped_column(JSONB, nullable=False)
    run_id: Mapped[int | None] = mapped_column(
        ForeignKey("runs.id", ondelete="SET NULL"), nullable=True, index=True
    )
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    create_time: Mapped[datetime] = _now()


class VersionScoreRow(Base):
    """The score of a version for one metric on one dataset version and slice:
    the value in its latest evaluation that has the metric. Ranking reads this
    table by its (dataset version, slice, metric, value) index."""

    __tablename__ = "version_scores"
    __table_args__ = (
        # Walked forward for a minimum (best first, then the earlier version);
        # the second for a maximum, so that neither goal sorts the scores.
        Index(
            "ix_version_scores_rank", "dataset_version_id", "slice", "key", "value", "version_id"
        ),
        Index(
            "ix_version_scores_rank_max",
            "dataset_version_id",
            "slice",
            "key",
            text("value DESC"),
            "version_id",
        ),
    )

    version_id: Mapped[int] = mapped_column(
        ForeignKey("model_versions.id", ondelete="CASCADE"), primary_key=True
    )
    dataset_version_id: Mapped[int] = mapped_column(
        ForeignKey("dataset_versions.id"), primary_key=True
    )
    slice: Mapped[str] = mapped_column(Text, primary_key=True)
    key: Mapped[str] = mapped_column(Text, primary_key=True)
    value: Mapped[float] = mapped_column(Double, nullable=False)
    evaluation_id: Mapped[int] = mapped_column(
        ForeignKey("evaluations.id", ondelete="CASCADE"), nullable=False, index=True
    )


class DeploymentRow(Base):
    """A model served in an environment; ``traffic`` is ``[[version, percent], ...]``
    by version. Every change of traffic, state or environment appends a
    deployment_events row in the same transaction."""

    __tablename__ = "deployments"
    __table_args__ = (
        UniqueConstraint("project_id", "name"),
        CheckConstraint("state IN ('ACTIVE', 'PAUSED', 'RETIRED')", name="state"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    model_id: Mapped[int] = mapped_column(
        ForeignKey("models.id", ondelete="CASCADE"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default="ACTIVE")
    traffic: Mapped[Any] = mapped_column(JSONB, nullable=False, server_default="[]")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    updated_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()


class DeploymentEventRow(Base):
    """Append-only: a deployment's state after each change (deleted only with it)."""

    __tablename__ = "deployment_events"
    __table_args__ = (
        Index(None, "deployment_id", "id"),
        CheckConstraint("kind IN ('CREATE', 'TRAFFIC', 'STATE', 'UPDATE')", name="kind"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(
        ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False
    )
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    traffic: Mapped[Any] = mapped_column(JSONB, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    environment: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    actor: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    reason: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    event_time: Mapped[datetime] = _now()


class InferenceRecordRow(Base):
    """Every prediction streamed by serving processes. Partitioned by range of
    ``event_time``, one partition per UTC day (``inference_records_YYYYMMDD``,
    made as records need them, dropped by retention). The primary key, which
    must hold the partition key, deduplicates resent records: a resend carries
    its record's id and event time. No foreign keys (a check per row on the
    ingest path): rows are written for versions checked in the same batch and
    deleted with their model or project. Feedback fills the ``true_*`` columns."""

    __tablename__ = "inference_records"
    __table_args__ = (
        Index(None, "model_id", "event_time"),
        Index(None, "project_id", "request_id", postgresql_where=text("request_id <> ''")),
        {"postgresql_partition_by": "RANGE (event_time)"},
    )

    record_id: Mapped[Any] = mapped_column(UUID(as_uuid=True), primary_key=True)
    event_time: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    project_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    model_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    version: Mapped[int] = mapped_column(BigInteger, nullable=False)
    deployment_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    request_id: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    inputs: Mapped[Any] = mapped_column(JSONB, nullable=True)
    outputs: Mapped[Any] = mapped_column(JSONB, nullable=True)
    predicted_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    predicted_label: Mapped[str | None] = mapped_column(Text, nullable=True)
    latency_ms: Mapped[float | None] = mapped_column(Double, nullable=True)
    attributes: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    writer_id: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    ingest_time: Mapped[datetime] = _now()
    true_value: Mapped[float | None] = mapped_column(Double, nullable=True)
    true_label: Mapped[str | None] = mapped_column(Text, nullable=True)
    feedback_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class RollupSums:
    """The sums production metrics are computed from, per rollup row: records, those
    with feedback, labels scored (and right), values scored (absolute and squared
    errors), latencies (their sum and a histogram mapping a log bucket of relative
    accuracy 1%, domain/inference.py, to its count)."""

    count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    feedback_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    labeled_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    correct_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    valued_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    abs_err_sum: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    sq_err_sum: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    latency_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    latency_sum: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    latency_hist: Mapped[dict[str, int]] = mapped_column(JSONB, nullable=False, server_default="{}")


class InferenceRollupRow(RollupSums, Base):
    """Per model, version, deployment (0: none) and UTC hour: the sums, kept up to
    date in the transaction that inserts records or writes feedback."""

    __tablename__ = "inference_rollups"

    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hour: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


class InferenceDailyRollupRow(RollupSums, Base):
    """The same sums per UTC day: what metrics over whole days read (a week is a
    few rows per version instead of a few hundred), kept up to date with the
    hourly rows."""

    __tablename__ = "inference_daily_rollups"

    model_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    day: Mapped[datetime] = mapped_column(DateTime(timezone=True), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    deployment_id: Mapped[int] = mapped_column(BigInteger, primary_key=True)


# Pipelines and lineage (schema 0006)


class PipelineRow(Base):
    """A pipeline: the runs of one definition name in a project."""

    __tablename__ = "pipelines"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    name: Mapped[str] = mapped_column(Text, nullable=False)
    run_count: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="0")
    create_time: Mapped[datetime] = _now()
    update_time: Mapped[datetime] = _now()


class PipelineRunRow(Base):
    """One execution of a pipeline; its steps are pipeline_steps rows. ``ended``
    is set by EndPipelineRun (a run FAILED by a step stays open until then)."""

    __tablename__ = "pipeline_runs"
    __table_args__ = (
        UniqueConstraint("pipeline_id", "name"),
        CheckConstraint("state IN ('RUNNING', 'SUCCEEDED', 'FAILED', 'CANCELLED')", name="state"),
        Index(None, "project_id", "start_time", "id"),
        Index(None, "pipeline_id", "start_time", "id"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    pipeline_id: Mapped[int] = mapped_column(
        ForeignKey("pipelines.id", ondelete="CASCADE"), nullable=False
    )
    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=False
    )
    # The run id, e.g. `run_001` (its name's last segment).
    name: Mapped[str] = mapped_column(Text, nullable=False)
    definition_version: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    state: Mapped[str] = mapped_column(Text, nullable=False, server_default="RUNNING")
    start_time: Mapped[datetime] = _now()
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    # Params [key, kind, text] in the order given, as model_versions.param_list.
    param_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    labels: Mapped[dict[str, str]] = mapped_column(JSONB, nullable=False, server_default="{}")
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    error: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revision: Mapped[int] = mapped_column(BigInteger, nullable=False, server_default="1")
    update_time: Mapped[datetime] = _now()


class PipelineStepRow(Base):
    """One step of a pipeline run; what it read and made are pipeline_step_refs."""

    __tablename__ = "pipeline_steps"
    __table_args__ = (
        UniqueConstraint("pipeline_run_id", "name"),
        CheckConstraint(
            "state IN ('PENDING', 'RUNNING', 'SUCCEEDED', 'FAILED', 'SKIPPED')", name="state"
        ),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    pipeline_run_id: Mapped[int] = mapped_column(
        ForeignKey("pipeline_runs.id", ondelete="CASCADE"), nullable=False
    )
    # The step id, e.g. `train`.
    name: Mapped[str] = mapped_column(Text, nullable=False)
    position: Mapped[int] = mapped_column(Integer, nullable=False)
    state: Mapped[str] = mapped_column(Text, nullable=False)
    start_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    end_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    param_list: Mapped[list[Any]] = mapped_column(JSONB, nullable=False, server_default="[]")
    error: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    update_time: Mapped[datetime] = _now()


class PipelineStepRefRow(Base):
    """A typed reference from a step to a resource it read (INPUT) or made
    (OUTPUT). ``target_id`` is the id in the table ``kind`` names (no foreign
    key: one column points into five tables); a reference to a resource deleted
    since is skipped when read. ``name`` is the resource name as it was written."""

    __tablename__ = "pipeline_step_refs"
    __table_args__ = (
        CheckConstraint("direction IN ('INPUT', 'OUTPUT')", name="direction"),
        CheckConstraint(
            "kind IN ('DATASET_VERSION', 'RUN', 'MODEL_VERSION', 'EVALUATION', 'DEPLOYMENT')",
            name="kind",
        ),
        # Lineage walks from a resource to the steps that read or made it.
        Index(None, "kind", "target_id"),
    )

    step_id: Mapped[int] = mapped_column(
        ForeignKey("pipeline_steps.id", ondelete="CASCADE"), primary_key=True
    )
    direction: Mapped[str] = mapped_column(Text, primary_key=True)
    position: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(Text, nullable=False)
    target_id: Mapped[int] = mapped_column(BigInteger, nullable=False)
    role: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    name: Mapped[str] = mapped_column(Text, nullable=False)


# Access (schema 0007)


class ApiKeyRow(Base):
    """An API key: the token's SHA-256, never the token; a role on one project,
    or server admin (no project)."""

    __tablename__ = "api_keys"
    __table_args__ = (
        CheckConstraint("role IN ('reader', 'writer', 'admin', 'server_admin')", name="role_known"),
        CheckConstraint(
            "(role = 'server_admin') = (project_id IS NULL)", name="server_admin_has_no_project"
        ),
        CheckConstraint("rate_limit >= 0", name="rate_limit_not_negative"),
        Index("ix_api_keys_project_create_time", "project_id", text("create_time DESC"), "key_id"),
    )

    key_id: Mapped[str] = mapped_column(Text, primary_key=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), nullable=True
    )
    role: Mapped[str] = mapped_column(Text, nullable=False)
    owner: Mapped[str] = mapped_column(Text, nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    rate_limit: Mapped[float] = mapped_column(Double, nullable=False, server_default="0")
    expire_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    create_time: Mapped[datetime] = _now()
    created_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")
    revoke_time: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    revoked_by: Mapped[str] = mapped_column(Text, nullable=False, server_default="")


projects = cast(Table, ProjectRow.__table__)
models = cast(Table, ModelRow.__table__)
model_versions = cast(Table, ModelVersionRow.__table__)
version_params = cast(Table, ModelVersionParamRow.__table__)
version_labels = cast(Table, ModelVersionLabelRow.__table__)
version_data = cast(Table, ModelVersionDataRow.__table__)
aliases = cast(Table, AliasRow.__table__)
alias_events = cast(Table, AliasEventRow.__table__)
request_log = cast(Table, RequestLogRow.__table__)
server_secrets = cast(Table, ServerSecretRow.__table__)
id_counters = cast(Table, IdCounterRow.__table__)
datasets = cast(Table, DatasetRow.__table__)
dataset_versions = cast(Table, DatasetVersionRow.__table__)
dataset_version_parents = cast(Table, DatasetVersionParentRow.__table__)
dataset_version_labels = cast(Table, DatasetVersionLabelRow.__table__)
runs = cast(Table, RunRow.__table__)
run_params = cast(Table, RunParamRow.__table__)
run_labels = cast(Table, RunLabelRow.__table__)
run_inputs = cast(Table, RunInputRow.__table__)
run_metrics = cast(Table, RunMetricRow.__table__)
run_latest_metrics = cast(Table, RunLatestMetricRow.__table__)
evaluations = cast(Table, EvaluationRow.__table__)
version_scores = cast(Table, VersionScoreRow.__table__)
deployments = cast(Table, DeploymentRow.__table__)
deployment_events = cast(Table, DeploymentEventRow.__table__)
inference_records = cast(Table, InferenceRecordRow.__table__)
inference_rollups = cast(Table, InferenceRollupRow.__table__)
inference_daily_rollups = cast(Table, InferenceDailyRollupRow.__table__)
pipelines = cast(Table, PipelineRow.__table__)
pipeline_runs = cast(Table, PipelineRunRow.__table__)
pipeline_steps = cast(Table, PipelineStepRow.__table__)
pipeline_step_refs = cast(Table, PipelineStepRefRow.__table__)
api_keys = cast(Table, ApiKeyRow.__table__)
