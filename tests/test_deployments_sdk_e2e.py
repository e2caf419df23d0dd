"""Deployments through the SDK (AsyncClient awaited directly; Client and AsyncClient
side by side run in test_deployments_e2e.py) and through the ``modelreg deployments``
command, against the real server."""

from __future__ import annotations

import argparse
import json
from datetime import timedelta, timezone
from typing import Any

import pytest

import modelreg
from modelreg import Deployment, DeploymentEvent, DeploymentEventKind, DeploymentState
from modelreg._cli_deployments import split_text, traffic, when
from tests.support import register

# The SDK


async def test_async_client(aclient: modelreg.AsyncClient, project: str) -> None:
    for i in range(3):
        await aclient.register_model_version(project, "m", artifact_uri=f"s3://b/{i}.pt")
    d = await aclient.create_deployment(
        project, "prod", model="m", traffic={1: 100}, environment="prod", reason="launch"
    )
    assert isinstance(d, Deployment)
    assert (d.deployment_id, d.model, d.traffic, d.state) == (
        "prod", "m", {1: 100}, DeploymentState.ACTIVE,
    )  # fmt: skip
    assert d.create_time.tzinfo is not None
    moved = await aclient.set_traffic(
        project, "prod", {1: 80, 3: 20}, etag=d.etag, reason="canary", request_id="c-1"
    )
    assert moved.traffic == {1: 80, 3: 20}
    with pytest.raises(modelreg.ConflictError):
        await aclient.set_traffic(project, "prod", {3: 100}, etag=d.etag)
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        await aclient.set_traffic(project, "prod", {1: 80, 3: 30})
    assert info.value.field == "traffic"
    with pytest.raises(modelreg.InvalidArgumentError) as info:
        await aclient.set_traffic(project, "prod", {1: 80, 4: 20})
    assert (info.value.field, info.value.reason) == ("traffic[1].version", "VERSION_NOT_FOUND")
    retired = await aclient.update_deployment(
        project, "prod", state=DeploymentState.RETIRED, reason="sunset"
    )
    assert retired.state is DeploymentState.RETIRED
    assert await aclient.get_deployment(project, "prod") == retired
    then = await aclient.get_deployment(project, "prod", at=moved.update_time)
    assert (then.traffic, then.state, then.etag) == ({1: 80, 3: 20}, DeploymentState.ACTIVE, "")
    # Any timezone: the same instant.
    east = moved.update_time.astimezone(timezone(timedelta(hours=9)))
    assert await aclient.get_deployment(project, "prod", at=east) == then
    assert [x.deployment_id for x in await aclient.list_deployments(project)] == ["prod"]
    assert await aclient.list_deployments(project, model="other") == []
    history = await aclient.deployment_history(project, "prod")
    assert all(isinstance(e, DeploymentEvent) for e in history)
    assert [(e.kind, e.reason) for e in history] == [
        (DeploymentEventKind.STATE, "sunset"),
        (DeploymentEventKind.TRAFFIC, "canary"),
        (DeploymentEventKind.CREATE, "launch"),
    ]
    assert history[1].event_time == moved.update_time


def test_sdk_rejects_what_it_can_tell_is_wrong_before_calling(
    sync_client: modelreg.Client, project: str
) -> None:
    with pytest.raises(ValueError, match="nothing to update"):
        sync_client.update_deployment(project, "prod", reason="no change given")
    with pytest.raises(ValueError):
        sync_client.update_deployment(project, "prod", state="GONE")


# The command


def test_cli_story(cli: Any, sync_client: modelreg.Client, project: str) -> None:
    register(sync_client, project, "m", 3)
    code, out, err = cli(
        "deployments", "create", project, "prod", "--model", "m", "--traffic", "2=90,3=10",
        "--env", "prod", "--label", "team=nlp", "--reason", "launch",
    )  # fmt: skip
    assert (code, err) == (0, ""), err
    shown = dict(line.split(": ", 1) for line in out.splitlines())
    assert shown["deployment_id"] == "prod"
    assert shown["traffic"] == "2=90,3=10"
    assert (shown["state"], shown["environment"], shown["model"]) == ("ACTIVE", "prod", "m")
    assert shown["labels"] == "team=nlp"
    created = sync_client.get_deployment(project, "prod")

    code, out, err = cli("deployments", "set-traffic", project, "prod", "2=50,3=50",
                         "--reason", "canary ok")  # fmt: skip
    assert (code, err) == (0, ""), err
    assert "traffic: 2=50,3=50" in out.splitlines()
    cli("deployments", "create", project, "canary", "--model", "m", "--traffic", "1=100")

    code, out, err = cli("deployments", "list", project)
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["NAME", "MODEL", "ENV", "STATE", "TRAFFIC", "UPDATED"]
    assert [r.split()[:5] for r in rows] == [
        ["canary", "m", "-", "ACTIVE", "1=100"],
        ["prod", "m", "prod", "ACTIVE", "2=50,3=50"],
    ]

    code, out, err = cli("deployments", "history", project, "prod")
    assert (code, err) == (0, "")
    header, *rows = out.splitlines()
    assert header.split() == ["SEQ", "KIND", "TRAFFIC", "STATE", "ENV", "ACTOR", "TIME", "REASON"]
    assert [r.split()[1:5] for r in rows] == [
        ["TRAFFIC", "2=50,3=50", "ACTIVE", "prod"],
        ["CREATE", "2=90,3=10", "ACTIVE", "prod"],
    ]
    assert rows[0].split()[-2:] == ["canary", "ok"]

    # What was deployed at a time: the creation's, given in UTC, or as a naive UTC time.
    at = created.create_time.isoformat()
    code, out, err = cli("deployments", "show", project, "prod", "--at", at)
    assert (code, err) == (0, ""), err
    assert "traffic: 2=90,3=10" in out.splitlines()
    assert not any(line.startswith("etag:") for line in out.splitlines())
    naive = created.create_time.replace(tzinfo=None).isoformat()
    code, out, _ = cli("deployments", "show", project, "prod", "--at", naive)
    assert "traffic: 2=90,3=10" in out.splitlines()
    code, out, _ = cli("deployments", "show", project, "prod")
    assert "traffic: 2=50,3=50" in out.splitlines()
    early = (created.create_time - timedelta(seconds=1)).isoformat()
    code, out, err = cli("deployments", "show", project, "prod", "--at", early)
    assert code == 1 and err.startswith("error: NOT_FOUND: ") and out == ""

    code, out, err = cli("deployments", "update", project, "prod", "--state", "paused",
                         "--env", "eu", "--reason", "incident")  # fmt: skip
    assert (code, err) == (0, ""), err
    assert {"state: PAUSED", "environment: eu"} <= set(out.splitlines())

    code, out, err = cli("--json", "deployments", "show", project, "prod")
    assert (code, err) == (0, "")
    data = json.loads(out)
    assert (data["traffic"], data["state"], data["environment"]) == (
        {"2": 50, "3": 50}, "PAUSED", "eu",
    )  # fmt: skip


def test_cli_errors(cli: Any, sync_client: modelreg.Client, project: str) -> None:
    register(sync_client, project, "m", 2)
    code, _, err = cli(
        "deployments", "create", project, "prod", "--model", "m", "--traffic", "1=60,2=50"
    )
    assert code == 1
    assert err.strip() == (
        "error: INVALID_ARGUMENT: deployment.traffic: the percents sum to 110; they must sum to 100"
    )
    code, _, err = cli(
        "deployments", "create", project, "prod", "--model", "m", "--traffic", "1=50,5=50"
    )
    assert code == 1 and "deployment.traffic[1].version" in err
    sync_client.create_deployment(project, "prod", model="m", traffic={1: 100})
    code, _, err = cli("deployments", "set-traffic", project, "prod", "1=50,2=0,3=50")
    assert code == 1 and err.startswith("error: INVALID_ARGUMENT: traffic[1].percent:")
    code, _, err = cli("deployments", "set-traffic", project, "prod", "2=100", "--etag", 'W/"99"')
    assert code == 1 and err.startswith("error: ABORTED: ")
    with pytest.raises(SystemExit) as usage:
        cli("deployments", "set-traffic", project, "prod", "2:100")
    assert usage.value.code == 2
    with pytest.raises(SystemExit, match="nothing to update"):
        cli("deployments", "update", project, "prod")
    assert sync_client.get_deployment(project, "prod").traffic == {1: 100}


def test_cli_parsers() -> None:
    assert traffic("2=90, 3=10") == {2: 90, 3: 10}
    assert split_text({3: 10, 2: 90}) == "2=90,3=10"
    for bad in ("2", "2=x", "=5", "2=50,2=50", ""):
        with pytest.raises(argparse.ArgumentTypeError):
            traffic(bad)
    assert when("2026-11-27T10:00:00Z").tzinfo is not None
    assert when("2026-11-27T10:00:00").utcoffset() == timedelta(0)
    with pytest.raises(argparse.ArgumentTypeError):
        when("yesterday")
