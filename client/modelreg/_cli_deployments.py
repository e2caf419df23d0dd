"""The ``modelreg deployments`` commands: a model's traffic split over versions in an
environment, and its history; their handlers and what they print.

    modelreg deployments create translate_kr2en prod --model translate_kr2en \\
        --traffic 2=90,3=10 --env prod
    modelreg deployments set-traffic translate_kr2en prod 2=50,3=50 --reason "canary ok"
    modelreg deployments show translate_kr2en prod --at 2026-11-27T10:00:00Z
    modelreg deployments history translate_kr2en prod
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Mapping
from datetime import datetime, timezone
from typing import Any

from modelreg import _cli_format as fmt
from modelreg._deployment_types import Deployment, DeploymentEvent, DeploymentState
from modelreg._sync import Client

# cli._parser's helper: cmd(subparsers, name, help, handler, positionals, columns) -> parser.
Cmd = Callable[..., argparse.ArgumentParser]
STATES = tuple(s.value.lower() for s in DeploymentState)


def traffic(text: str) -> dict[int, int]:
    """``2=90,3=10`` -> ``{2: 90, 3: 10}``."""
    split: dict[int, int] = {}
    for item in text.split(","):
        version, sep, percent = item.strip().partition("=")
        try:
            if not sep:
                raise ValueError(item)
            v, p = int(version), int(percent)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected VERSION=PERCENT[,VERSION=PERCENT...], e.g. 2=90,3=10; got {text!r}"
            ) from None
        if v in split:
            raise argparse.ArgumentTypeError(f"version {v} given twice in {text!r}")
        split[v] = p
    return split


def when(text: str) -> datetime:
    """An ISO 8601 time; without a timezone it is UTC."""
    try:
        t = datetime.fromisoformat(text.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected an ISO 8601 time, e.g. 2026-11-27T10:00:00Z; got {text!r}"
        ) from None
    return t if t.tzinfo is not None else t.replace(tzinfo=timezone.utc)


def split_text(split: Mapping[int, int]) -> str:
    """``{2: 90, 3: 10}`` -> ``2=90,3=10``."""
    return ",".join(f"{v}={p}" for v, p in sorted(split.items()))


DEPLOYMENT_COLUMNS: list[fmt.Column] = [
    ("NAME", lambda d: d.deployment_id),
    ("MODEL", lambda d: d.model),
    ("ENV", lambda d: d.environment or "-"),
    ("STATE", lambda d: d.state.value),
    ("TRAFFIC", lambda d: split_text(d.traffic)),
    ("UPDATED", lambda d: fmt.when(d.update_time)),
]
HISTORY_COLUMNS: list[fmt.Column] = [
    ("SEQ", lambda e: str(e.sequence)),
    ("KIND", lambda e: e.kind.value),
    ("TRAFFIC", lambda e: split_text(e.traffic)),
    ("STATE", lambda e: e.state.value),
    ("ENV", lambda e: e.environment or "-"),
    ("ACTOR", lambda e: e.actor),
    ("TIME", lambda e: fmt.when(e.event_time)),
    ("REASON", lambda e: e.reason[: fmt.MAX_CELL]),
]


def show(d: Deployment, args: argparse.Namespace) -> str:
    """``key: value`` lines, the split as ``2=90,3=10``."""
    return fmt.detail({**fmt.jsonable(d), "traffic": split_text(d.traffic)})


# Handlers


def _create(c: Client, a: argparse.Namespace) -> Deployment:
    return c.create_deployment(
        a.project,
        a.name,
        model=a.model,
        traffic=a.traffic,
        environment=a.env,
        description=a.description or "",
        labels=dict(a.label) if a.label else None,
        reason=a.reason,
    )


def _list(c: Client, a: argparse.Namespace) -> list[Deployment]:
    return c.list_deployments(a.project, model=a.model)


def _show(c: Client, a: argparse.Namespace) -> Deployment:
    return c.get_deployment(a.project, a.name, at=a.at)


def _set_traffic(c: Client, a: argparse.Namespace) -> Deployment:
    return c.set_traffic(a.project, a.name, a.traffic, etag=a.etag, reason=a.reason)


def _update(c: Client, a: argparse.Namespace) -> Deployment:
    if a.state is None and a.env is None and a.description is None and not a.label:
        raise SystemExit("error: nothing to update: give --state, --env, --description or --label")
    return c.update_deployment(
        a.project,
        a.name,
        state=a.state,
        environment=a.env,
        description=a.description,
        labels=dict(a.label) if a.label else None,
        etag=a.etag,
        reason=a.reason,
    )


def _history(c: Client, a: argparse.Namespace) -> list[DeploymentEvent]:
    return c.deployment_history(a.project, a.name)


# The parser


def _reason(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--reason", default="", help="why (kept in the deployment's history)")
    return p


def _etag(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--etag", help="only if the deployment has not changed since this etag")
    return p


def _shown(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.set_defaults(render=show)
    return p


def add_group(group: Callable[[str, str], Any], cmd: Cmd) -> None:
    """The ``deployments`` group."""
    sub = group("deployments", "deploy models with a traffic split; show what was deployed when")
    pn = "project name"
    p = _shown(cmd(sub, "create", "deploy a model with its first traffic split", _create, pn))
    add = p.add_argument
    add("--model", required=True, help="the model id, of the same project")
    add(
        "--traffic",
        required=True,
        type=traffic,
        metavar="V=P[,V=P...]",
        help="version=percent pairs summing to 100, e.g. 2=90,3=10",
    )
    add("--env", default="", help="where it runs, e.g. prod, staging, eu-west")
    add("--description", help="free text")
    add("--label", action="append", type=fmt.key_value, metavar="K=V", help="a label; repeat")
    _reason(p)

    p = cmd(sub, "list", "list a project's deployments", _list, "project", DEPLOYMENT_COLUMNS)
    p.add_argument("--model", help="only the deployments of this model")

    p = _shown(cmd(sub, "show", "show a deployment, now or at a past time", _show, pn))
    p.add_argument(
        "--at",
        type=when,
        metavar="TIME",
        help="what was deployed at this ISO 8601 time (UTC unless it says otherwise)",
    )

    p = _shown(cmd(sub, "set-traffic", "replace the traffic split", _set_traffic, pn))
    p.add_argument("traffic", type=traffic, metavar="V=P[,V=P...]", help="e.g. 2=50,3=50")
    _etag(_reason(p))

    p = _shown(cmd(sub, "update", "change state, environment, description or labels", _update, pn))
    p.add_argument("--state", choices=STATES, type=str.lower, help="active, paused or retired")
    p.add_argument("--env", help="the new environment")
    p.add_argument("--description", help="free text")
    p.add_argument(
        "--label", action="append", type=fmt.key_value, metavar="K=V", help="replaces all labels"
    )
    _etag(_reason(p))

    cmd(
        sub,
        "history",
        "every change of a deployment, newest first",
        _history,
        pn,
        HISTORY_COLUMNS,
    )
