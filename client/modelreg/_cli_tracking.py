"""The ``modelreg`` commands of experiment tracking: ``datasets``, ``runs``, and
``versions compare|rank|best``; their handlers and what they print.

    modelreg runs list translate_kr2en                     # the experiment table
    modelreg runs list translate_kr2en --metric precision \\
        --dataset projects/translate_kr2en/datasets/test/versions/v1
    modelreg versions compare translate_kr2en translate_kr2en 1 2 3
    modelreg versions best translate_kr2en translate_kr2en --metric precision --dataset ...
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from collections.abc import Callable, Mapping, Sequence
from operator import itemgetter
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._sync import Client
from modelreg._tracking_types import (
    DatasetVersion,
    Metric,
    RankedVersion,
    Run,
    VersionComparison,
)
from modelreg._types import DataRef, DataRole, ModelVersion, ParamValue

Handler = Callable[[Client, argparse.Namespace], Any]
# cli._parser's helper: cmd(subparsers, name, help, handler, positionals, columns) -> parser.
Cmd = Callable[..., argparse.ArgumentParser]
GOALS = ("max", "min", "maximize", "minimize")


@dataclasses.dataclass(frozen=True)
class ExperimentRow:
    """One row of ``runs list``: a run, the version it produced and its score."""

    model_version: str  # display name of the run's first output, e.g. translate_kr2en_v1
    run_id: str
    state: str
    params: Mapping[str, ParamValue]
    metric: str  # what the score is: a metric key, "" when the run has none
    score: float | None
    model_path: str  # artifact URI of the run's first output
    version_name: str  # resource name of that output
    experiment: str


def score(value: float | None) -> str:
    return "-" if value is None else f"{value:.6g}"


def dataset_arg(project: str, text: str | None) -> str | None:
    """--dataset: a resource name as given, or ``DATASET:VERSION`` of ``project``."""
    if not text or text.startswith("projects/"):
        return text
    dataset, sep, version = text.partition(":")
    if not sep:
        raise SystemExit(f"error: --dataset: expected DATASET:VERSION or a name, got {text!r}")
    return f"projects/{project}/datasets/{dataset}/versions/{version}"


def short_dataset(name: str) -> str:
    """``projects/p/datasets/test/versions/v1`` -> ``test:v1``."""
    parts = name.split("/")
    return f"{parts[3]}:{parts[5]}" if len(parts) == 6 else name


def short_refs(refs: Sequence[DataRef]) -> str:
    """``train:v1,test:v1:test``: dataset:version, then the role unless it is train."""
    return ",".join(
        (short_dataset(r.dataset_version) if r.dataset_version else f"{r.dataset}:{r.version}")
        + ("" if r.role is DataRole.TRAIN else f":{r.role.value.lower()}")
        for r in refs
    )


EXPERIMENT_COLUMNS: list[fmt.Column] = [
    ("MODEL_VERSION", lambda r: r.model_version or "-"),
    ("RUN", lambda r: r.run_id),
    ("STATE", lambda r: r.state),
    ("PARAMS", lambda r: fmt.pairs(r.params)),
    ("SCORE", lambda r: score(r.score)),
    ("MODEL_PATH", lambda r: r.model_path or "-"),
]
DATASET_VERSION_COLUMNS: list[fmt.Column] = [
    ("DATASET", lambda d: d.dataset),
    ("VERSION", lambda d: d.version),
    ("SPLIT", lambda d: d.split),
    ("BATCH_ID", lambda d: d.batch_id),
    ("ROWS", lambda d: fmt.scalar(d.row_count)),
    ("URI", lambda d: d.uri[: fmt.MAX_CELL]),
    ("CREATED", lambda d: fmt.when(d.create_time)),
]
RANK_COLUMNS: list[fmt.Column] = [
    ("RANK", lambda r: str(r.rank)),
    ("MODEL_VERSION", lambda r: r.version.display_name),
    ("SCORE", lambda r: score(r.score)),
    ("PARAMS", lambda r: fmt.pairs(r.version.params)),
    ("MODEL_PATH", lambda r: r.version.artifact.uri),
]
HISTORY_COLUMNS: list[fmt.Column] = [
    ("STEP", lambda m: str(m.step)),
    ("VALUE", lambda m: repr(m.value)),
    ("TIME", lambda m: fmt.when(m.time)),
]


def experiment_row(run: Run, metric: str, scores: Mapping[str, float] | None) -> ExperimentRow:
    """The row of ``run``: its score is the evaluation score of its first output when
    ``scores`` (by version name) is given, else its latest value of ``metric`` (default:
    its first metric by key)."""
    output = run.outputs[0] if run.outputs else None
    version_name = output.model_version if output else ""
    if scores is not None:
        value = scores.get(version_name)
    else:
        metric = metric or next(iter(sorted(run.latest_metrics)), "")
        point = run.latest_metrics.get(metric)
        value = point.value if point else None
    return ExperimentRow(
        model_version=output.display_name if output else "",
        run_id=run.run_id,
        state=run.state.value,
        params=run.params,
        metric=metric,
        score=value,
        model_path=output.artifact_uri if output else "",
        version_name=version_name,
        experiment=run.experiment,
    )


def comparison_table(comparison: VersionComparison, args: argparse.Namespace) -> str:
    """Rows: the params (those that differ, marked ``*``; all with --all), the artifact and
    training data, then each metric per dataset version; one column per version."""
    versions = comparison.versions
    rows: list[list[str]] = []
    for p in comparison.params:
        if p.differs or args.all:
            label = f"params.{p.key}" + (" *" if p.differs else "")
            rows.append([label, *(fmt.scalar(v) for v in p.values)])
    rows.append(["artifact", *(v.artifact.uri for v in versions)])
    rows.append(["training_data", *(short_refs(v.training_data) for v in versions)])
    for m in comparison.metrics:
        where = short_dataset(m.dataset_version) + (f"[{m.slice}]" if m.slice else "")
        rows.append([f"{m.metric}@{where}", *(score(x) for x in m.values)])
    names = ["", *(v.display_name for v in versions)]
    columns: list[fmt.Column] = [(name, itemgetter(i)) for i, name in enumerate(names)]
    return fmt.table(rows, columns)


# Handlers


def _datasets_create(c: Client, a: argparse.Namespace) -> DatasetVersion:
    return c.create_dataset_version(
        a.project,
        a.dataset,
        uri=a.uri,
        version=a.version,
        digest=a.digest,
        row_count=a.row_count,
        schema=a.schema,
        description=a.description or "",
        split=a.split,
        batch_id=a.batch_id,
        parents=a.parent or (),
        labels=dict(a.label) if a.label else None,
    )


def _datasets_list(c: Client, a: argparse.Namespace) -> list[DatasetVersion]:
    return list(c.list_dataset_versions(a.project, a.dataset, filter=a.filter))


def _runs_list(c: Client, a: argparse.Namespace) -> list[ExperimentRow]:
    if a.dataset and not a.metric:
        print("modelreg runs list: error: --dataset needs --metric", file=sys.stderr)
        raise SystemExit(2)
    scores = None
    dataset = dataset_arg(a.project, a.dataset)
    if dataset:
        # One ranking of the whole project, joined to the runs by version name.
        ranked = c.rank_versions(a.project, metric=a.metric, dataset=dataset, goal=a.goal)
        scores = {r.version.resource_name: r.score for r in ranked}
    runs = c.list_runs(a.project, filter=a.filter, order_by=a.order_by)
    return [experiment_row(run, a.metric, scores) for run in runs]


def _runs_show(c: Client, a: argparse.Namespace) -> Run:
    return c.get_run(a.project, a.run)


def _runs_metrics(c: Client, a: argparse.Namespace) -> list[Metric]:
    return list(c.metric_history(a.project, a.run, a.key))


def _versions_compare(c: Client, a: argparse.Namespace) -> VersionComparison:
    return c.compare_versions(a.project, a.model, a.versions)


def _versions_rank(c: Client, a: argparse.Namespace) -> list[RankedVersion]:
    ranked = c.rank_versions(
        a.project,
        a.model,
        metric=a.metric,
        dataset=dataset_arg(a.project, a.dataset) or "",
        goal=a.goal,
        slice=a.slice,
        filter=a.filter,
    )
    return list(ranked)


def _versions_best(c: Client, a: argparse.Namespace) -> ModelVersion:
    return c.best_version(
        a.project,
        a.model,
        metric=a.metric,
        dataset=dataset_arg(a.project, a.dataset) or "",
        goal=a.goal,
        slice=a.slice,
        filter=a.filter,
    )


# The parser


def _ranking(p: argparse.ArgumentParser, required: bool = True) -> argparse.ArgumentParser:
    p.add_argument(
        "--metric",
        required=required,
        help="the metric to rank by, e.g. precision" if required else "the score's metric",
    )
    p.add_argument(
        "--dataset",
        required=required,
        metavar="DATASET_VERSION",
        help="the dataset version it was measured on: projects/P/datasets/D/versions/V, "
        "or DATASET:VERSION in the project",
    )
    p.add_argument(
        "--goal", choices=GOALS, default="max", type=str.lower, help="max (default) or min"
    )
    return p


def _ranked_versions(p: argparse.ArgumentParser) -> None:
    _ranking(p)
    p.add_argument("--slice", default="", help="rank by the metric on this slice")
    p.add_argument(
        "--filter", default="", help="a versions filter, e.g. 'params.lr < 0.05 AND model = \"m\"'"
    )


def add_version_commands(sub: Any, cmd: Cmd) -> None:
    """``versions compare``, ``versions rank`` and ``versions best``."""
    p = cmd(sub, "compare", "compare versions side by side", _versions_compare, "project model")
    p.add_argument("versions", nargs="+", metavar="VERSION", help="numbers or aliases")
    p.add_argument("--all", action="store_true", help="also the params that are the same")
    p.set_defaults(render=comparison_table)
    p = cmd(
        sub,
        "rank",
        "rank versions by a metric on a dataset version, best first",
        _versions_rank,
        "project",
        RANK_COLUMNS,
    )
    p.add_argument("model", nargs="?", help="the model (default: every model of the project)")
    _ranked_versions(p)
    p = cmd(
        sub,
        "best",
        "the best version by a metric on a dataset version",
        _versions_best,
        "project",
    )
    p.add_argument("model", nargs="?", help="the model (default: every model of the project)")
    _ranked_versions(p)


def add_groups(group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``datasets`` and ``runs`` groups."""
    sub = group("datasets", "register and list dataset versions (data batches)")
    p = cmd(sub, "create", "register a dataset version", _datasets_create, "project dataset")
    add = p.add_argument
    add("--uri", required=True, help="where the data is")
    add("--version", default="", help="the version id (default: v1, v2, ... made by the server)")
    add("--digest", default="", help="content digest, e.g. sha256:9f86...")
    add("--row-count", type=int, help="number of rows")
    add("--schema", type=fmt.json_object, metavar="JSON", help="the schema, a JSON object")
    add("--split", default="", help="train, validation, test, ...")
    add("--batch-id", default="", help="the data batch id (batch learning)")
    add(
        "--parent",
        action="append",
        metavar="DATASET_VERSION",
        help="a version it was derived from, projects/P/datasets/D/versions/V (repeat)",
    )
    add("--description", help="free text")
    add("--label", action="append", type=fmt.key_value, metavar="K=V", help="a label; repeat")
    p = cmd(
        sub,
        "list",
        "list the versions of a dataset, or of every dataset",
        _datasets_list,
        "project",
        DATASET_VERSION_COLUMNS,
    )
    p.add_argument("dataset", nargs="?", help="the dataset (default: every dataset)")
    p.add_argument("--filter", default="", help='e.g. \'split = "train" AND batch_id > "2024"\'')

    sub = group("runs", "list and show runs (the experiment table)")
    p = cmd(sub, "list", "the experiment table", _runs_list, "project", EXPERIMENT_COLUMNS)
    p.add_argument("--filter", default="", help="e.g. 'params.lr < 0.05 AND metrics.bleu >= 30'")
    p.add_argument("--order-by", default="", help="start_time (default) or run_id, then ' desc'")
    _ranking(p, required=False)
    p.description = (
        "The experiment table: each run's model version, params, score and model path. "
        "SCORE is the run's latest value of --metric (default: its first metric by key); "
        "with --dataset, the evaluation score of the run's version on that dataset version."
    )
    cmd(sub, "show", "show a run", _runs_show, "project run")
    cmd(
        sub,
        "metrics",
        "every point of one metric of a run, by step",
        _runs_metrics,
        "project run key",
        HISTORY_COLUMNS,
    )
