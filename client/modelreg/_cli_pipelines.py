"""The ``modelreg pipelines`` commands: pipelines, their runs side by side (so reruns
compare), and one run's steps with what each read and made.

    modelreg pipelines list screen_clean
    modelreg pipelines runs screen_clean nightly --filter 'state = "FAILED"'
    modelreg pipelines show projects/screen_clean/pipelines/nightly/runs/run_003
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable, Sequence
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._pipeline_types import Pipeline, PipelineRun, PipelineStep, ResourceRef
from modelreg._sync import Client

# cli._parser's helper: cmd(subparsers, name, help, handler, positionals, columns) -> parser.
Cmd = Callable[..., argparse.ArgumentParser]
_RUN_NAME = re.compile(r"projects/([^/]+)/pipelines/([^/]+)/runs/([^/]+)")


def duration(seconds: float | None) -> str:
    """``0.35s``, ``12.4s``, ``3m05s``, ``2h01m``; ``-`` when not ended."""
    if seconds is None:
        return "-"
    if seconds < 10:
        return f"{seconds:.2f}s"
    if seconds < 60:
        return f"{seconds:.1f}s"
    minutes, secs = divmod(round(seconds), 60)
    if minutes < 60:
        return f"{minutes}m{secs:02d}s"
    return f"{minutes // 60}h{minutes % 60:02d}m"


def step_cell(step: PipelineStep) -> str:
    """``train:SUCCEEDED(1.20s)``."""
    took = "" if step.duration_s is None else f"({duration(step.duration_s)})"
    return f"{step.step_id}:{step.state.value}{took}"


def steps_text(steps: Sequence[PipelineStep]) -> str:
    return " ".join(map(step_cell, steps)) or "-"


PIPELINE_COLUMNS: list[fmt.Column] = [
    ("PIPELINE", lambda p: p.name),
    ("RUNS", lambda p: str(p.run_count)),
    ("LATEST_RUN", lambda p: p.latest_run.rpartition("/")[2] or "-"),
    ("CREATED", lambda p: fmt.when(p.create_time)),
    ("UPDATED", lambda p: fmt.when(p.update_time)),
]
RUN_COLUMNS: list[fmt.Column] = [
    ("PIPELINE", lambda r: r.pipeline),
    ("RUN", lambda r: r.run_id),
    ("DEFINITION", lambda r: r.definition_version or "-"),
    ("STATE", lambda r: r.state.value),
    ("STARTED", lambda r: fmt.when(r.start_time)),
    ("DURATION", lambda r: duration(r.duration_s)),
    ("STEPS", lambda r: steps_text(r.steps)),
]
REF_COLUMNS: list[fmt.Column] = [
    ("", lambda r: r[0]),
    ("KIND", lambda r: "-" if r[1].kind is None else r[1].kind.value),
    ("NAME", lambda r: r[1].name),
    ("ROLE", lambda r: r[1].role or "-"),
]


def show(run: PipelineRun, args: argparse.Namespace) -> str:
    """The run as ``key: value`` lines, then each step with its inputs and outputs."""
    head = {
        "name": run.resource_name,
        "definition_version": run.definition_version,
        "state": run.state.value,
        "start_time": fmt.when(run.start_time),
        "end_time": "" if run.end_time is None else fmt.when(run.end_time),
        "duration": "" if run.duration_s is None else duration(run.duration_s),
        "params": run.params,
        "labels": run.labels,
        "description": run.description,
        "created_by": run.created_by,
        "error": run.error,
    }
    blocks = [fmt.detail(head)]
    for step in run.steps:
        when = "-" if step.start_time is None else fmt.when(step.start_time)
        line = f"step {step.position} {step.step_id}: {step.state.value}  {when}"
        line += f"  {duration(step.duration_s)}"
        if step.params:
            line += f"  {fmt.pairs(step.params, limit=None)}"
        lines = [line]
        if step.error:
            lines.append(f"  error: {step.error}")
        refs: list[tuple[str, ResourceRef]] = [("in", r) for r in step.inputs]
        refs += [("out", r) for r in step.outputs]
        if refs:
            table = fmt.table(refs, REF_COLUMNS).splitlines()[1:]  # no header
            lines += [f"  {row}" for row in table]
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks)


# Handlers


def _list(c: Client, a: argparse.Namespace) -> list[Pipeline]:
    return list(c.list_pipelines(a.project))


def _runs(c: Client, a: argparse.Namespace) -> list[PipelineRun]:
    runs = c.list_pipeline_runs(a.project, a.pipeline, filter=a.filter, order_by=a.order_by)
    return list(runs)


def _show(c: Client, a: argparse.Namespace) -> PipelineRun:
    match = _RUN_NAME.fullmatch(a.name)
    if match is None:
        raise SystemExit(
            f"error: expected a pipeline run's name, projects/P/pipelines/PL/runs/R; got {a.name!r}"
        )
    return c.get_pipeline_run(*match.groups())


def add_group(group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``pipelines`` group."""
    sub = group("pipelines", "pipelines and their runs: steps, inputs and outputs")
    cmd(sub, "list", "list a project's pipelines", _list, "project", PIPELINE_COLUMNS)
    p = cmd(
        sub,
        "runs",
        "the runs of a pipeline (or of every pipeline), to compare reruns",
        _runs,
        "project",
        RUN_COLUMNS,
    )
    p.add_argument("pipeline", nargs="?", metavar="PIPELINE", help="default: every pipeline")
    p.add_argument(
        "--filter",
        default="",
        help='e.g. \'definition_version = "git:ab12cd" AND state = "FAILED"\'',
    )
    p.add_argument("--order-by", default="", help="start_time (default) or run_id, then ' desc'")
    p = cmd(sub, "show", "a pipeline run's steps with their inputs and outputs", _show, "name")
    p.set_defaults(render=show)
