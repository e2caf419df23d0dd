"""Data for the production pages' tests: a project with a classifier of three versions
served by deployment ``prod`` (its split changed three times), a few hundred inference
records over the last 18 hours (most through ``prod``, tagged with a ``country``, a
``tier`` and a ``user``, with latencies), ground truth for 60% of them, and a regression model with
numeric predictions. Built through the SDK only."""

from __future__ import annotations

import json
import random
import re
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from html import unescape
from typing import Any

import modelreg
from tests.conftest import unique
from tests.support import register

COUNTRIES = ("kr", "us", "de")
TIERS = ("free", "paid")
LABELS = ("churn", "stay")
# The split after each change, oldest first, and why.
SPLITS: list[tuple[dict[int, int], str]] = [
    ({1: 100}, "first release"),
    ({1: 80, 2: 20}, "canary v2"),
    ({1: 50, 2: 50}, "v2 holds up"),
    ({2: 70, 3: 30}, "retire v1, canary v3"),
]
RECORDS = 360
USERS = 60  # values of the attribute "user": more than a breakdown shows
HOURS = 18  # the records' event times: over the last 18 hours
COVERAGE = 0.6


@dataclass
class Rec:
    version: int
    deployed: bool
    country: str
    event_time: datetime
    feedback: bool


@dataclass
class ProdData:
    project: str
    model: str  # the classifier
    regression: str  # the regression model
    deployment: str
    records: list[Rec] = field(default_factory=list)


def build(client: modelreg.Client) -> ProdData:
    rng = random.Random(11)
    data = ProdData(unique("uiprod"), "churn", "eta", "prod")
    client.create_project(data.project)
    register(client, data.project, data.model, 3)
    register(client, data.project, data.regression, 1)
    first, why = SPLITS[0]
    client.create_deployment(
        data.project,
        data.deployment,
        model=data.model,
        traffic=first,
        environment="production",
        reason=why,
    )
    for traffic, why in SPLITS[1:]:
        client.set_traffic(data.project, data.deployment, traffic, reason=why)
    now = datetime.now(timezone.utc)
    records: list[modelreg.InferenceRecord] = []
    feedback: list[modelreg.Feedback] = []
    for i in range(RECORDS):
        ago = rng.uniform(60, HOURS * 3600)
        # Older traffic is mostly v1, the newest mostly v2 and v3.
        hours = ago / 3600
        version = rng.choices((1, 2, 3), weights=(hours, 8 * (hours < 12), 6 * (hours < 3)))[0]
        deployed = rng.random() < 0.9
        country = rng.choice(COUNTRIES) if rng.random() > 0.05 else ""
        attributes = {"tier": rng.choice(TIERS), "user": f"u{i % USERS}"}
        if country:
            attributes["country"] = country
        label = rng.choice(LABELS)
        rec = modelreg.InferenceRecord(
            record_id=str(uuid.uuid4()),
            model=data.model,
            version=version,
            event_time=now - timedelta(seconds=ago),
            deployment=data.deployment if deployed else "",
            request_id=f"req-{i}",
            prediction=label,
            latency_ms=rng.lognormvariate(3 - 0.3 * version, 0.5),
            attributes=attributes,
        )
        records.append(rec)
        has_feedback = i % 10 < COVERAGE * 10
        if has_feedback:
            right = rng.random() < 0.7 + 0.08 * version
            truth = label if right else next(x for x in LABELS if x != label)
            feedback.append(modelreg.Feedback(ground_truth=truth, record_id=rec.record_id))
        data.records.append(Rec(version, deployed, country, rec.event_time, has_feedback))
    written = client.write_inference_records(data.project, records)
    assert written.accepted == RECORDS, written.errors
    applied = client.log_feedback_batch(data.project, feedback)
    assert applied.matched == len(feedback), applied.errors
    numeric = [
        modelreg.InferenceRecord(
            record_id=str(uuid.uuid4()),
            model=data.regression,
            version=1,
            event_time=now - timedelta(minutes=5 + i),
            prediction=float(10 + i % 7),
            latency_ms=5.0 + i,
        )
        for i in range(40)
    ]
    assert client.write_inference_records(data.project, numeric).accepted == len(numeric)
    applied = client.log_feedback_batch(
        data.project,
        [
            modelreg.Feedback(ground_truth=float(11 + i % 5), record_id=r.record_id)
            for i, r in enumerate(numeric[:30])
        ],
    )
    assert applied.matched == 30
    return data


def charts(html: str) -> dict[str, dict[str, Any]]:
    """The chart specs of a page, by chart id."""
    found = re.findall(r'<div class="chart" id="chart-([\w-]+)" data-chart=\'([^\']*)\'', html)
    return {name: json.loads(unescape(spec)) for name, spec in found}


def series(spec: dict[str, Any]) -> dict[str, dict[float, Any]]:
    """A line chart's points: label -> {x: y} (nulls left out)."""
    return {
        s["label"]: {x: y for x, y in zip(spec["x"], s["values"], strict=True) if y is not None}
        for s in spec["series"]
    }


def window_of(html: str) -> tuple[datetime, datetime, str]:
    """The window the page shows (as the API rounded it) and its bucket."""
    found = re.search(
        r'id="window" data-start="([^"]+)" data-end="([^"]+)" data-bucket="(\w+)"', html
    )
    assert found, "the window"
    start, end, bucket = found.groups()
    return datetime.fromisoformat(start), datetime.fromisoformat(end), bucket
