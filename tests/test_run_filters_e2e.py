"""ListRuns filters end to end: every operator on every field kind, bad filters
INVALID_ARGUMENT naming `filter`, and injection attempts that either are refused
or match nothing, writing no row either way (a digest of every table of this
module's own database, before and after)."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from modelreg.api.v1 import registry_service_pb2 as reg
from modelreg.api.v1 import registry_service_pb2_grpc as reg_grpc
from modelreg.api.v1 import resources_pb2 as pb
from modelreg.api.v1 import tracking_service_pb2 as rpc
from tests.bad_input import bad_fields
from tests.hostile import TableDigest, outcome
from tests.run_support import Sql, end, list_ids, log, param, sql, tracking
from tests.support import own_database_and_server

__all__ = ["sql", "tracking"]  # fixtures

database_url, server, target = own_database_and_server()
P = "filtered"


@pytest.fixture(scope="module")
def runs(target: str, tracking: Any, sql: Sql) -> str:
    """Project ``filtered`` with runs r1..r4 (see the table below); returns its name."""
    with grpc.insecure_channel(target) as channel:
        reg_grpc.RegistryServiceStub(channel).CreateProject(reg.CreateProjectRequest(project_id=P))
    v1 = sql.dataset_version(P, "corpus", "v1", batch_id="b1")
    v2 = sql.dataset_version(P, "corpus", "v2", batch_id="b2")
    x = sql.dataset_version(P, "other", "x")

    def create(run_id: str, actor: str = "tester", **fields: Any) -> str:
        request = rpc.CreateRunRequest(parent=f"projects/{P}", run_id=run_id, run=pb.Run(**fields))
        name: str = tracking.CreateRun(request, metadata=(("modelreg-actor", actor),)).name
        return name

    r1 = create(
        "r1",
        experiment="sweep",
        params={"lr": param(0.01), "epochs": param(10), "opt": param("adam"), "warm": param(True)},
        labels={"team": "nlp", "tier": "1"},
        code_version=pb.CodeVersion(commit="abc"),
        inputs=[pb.DataRef(dataset_version=v1)],
    )
    log(tracking, r1, ("bleu", 20.0, 1), ("bleu", 31.2, 2), ("loss", 0.4, 2))
    end(tracking, r1, pb.Run.SUCCEEDED)
    r2 = create(
        "r2",
        experiment="sweep",
        params={"lr": param(0.1), "epochs": param(5), "opt": param("sgd"), "warm": param(False)},
        labels={"team": "vision"},
        code_version=pb.CodeVersion(commit="def"),
        inputs=[pb.DataRef(dataset_version=v2), pb.DataRef(dataset_version=x)],
    )
    log(tracking, r2, ("bleu", 25.0, 1), ("loss", 0.5, 1), ("loss", math.nan, 2))
    r3 = create("r3", "alice", experiment="other", params={"lr": param(0.03), "epochs": param(20)})
    log(tracking, r3, ("bleu", 40.0, 1), ("bleu", math.inf, 0))
    end(tracking, r3, pb.Run.FAILED)
    r4 = create("r4", labels={"tier": "한국어"})
    log(tracking, r4, ("bleu", -math.inf, 3))
    end(tracking, r4, pb.Run.CANCELLED)
    return P


DV = f"projects/{P}/datasets/corpus/versions/v2"
MATCHES: dict[str, list[str]] = {
    # params: typed, numeric across int and float, != also matches a missing key
    "params.lr < 0.05": ["r1", "r3"],
    "params.lr <= 0.03": ["r1", "r3"],
    "params.lr > 0.05": ["r2"],
    "params.lr >= 0.1": ["r2"],
    "params.lr = 0.01": ["r1"],
    "params.lr != 0.01": ["r2", "r3", "r4"],
    "params.epochs = 10": ["r1"],
    "params.epochs > 5.5": ["r1", "r3"],
    "params.epochs <= -9223372036854775808": [],
    'params.opt = "adam"': ["r1"],
    'params.opt != "adam"': ["r2", "r3", "r4"],
    'params.opt < "b"': ["r1"],
    "params.warm = true": ["r1"],
    "params.warm = false": ["r2"],
    "params.warm != true": ["r2", "r3", "r4"],
    'params.lr = "0.01"': [],  # a string is not the float
    # metrics: the latest value; NaN never matches, infinities compare
    "metrics.bleu >= 30": ["r1", "r3"],
    "metrics.bleu = 31.2": ["r1"],
    "metrics.bleu < 0": ["r4"],
    "metrics.bleu != 31.2": ["r2", "r3", "r4"],
    "metrics.bleu > 1.7976931348623157e308": [],  # r3's latest is step 1, 40
    "metrics.loss > 0": ["r1"],
    "metrics.loss != 1": ["r1"],
    "metrics.loss < 1e308": ["r1"],
    "metrics.nope > 0": [],
    # labels
    'labels.team = "nlp"': ["r1"],
    'labels.team != "nlp"': ["r2", "r3", "r4"],
    'labels.team > "o"': ["r2"],
    'labels.tier = "한국어"': ["r4"],
    'labels.tier = "\\ud55c\\uad6d\\uc5b4"': ["r4"],
    # columns
    'run_id = "r2"': ["r2"],
    'run_id >= "r3"': ["r3", "r4"],
    'experiment = "sweep"': ["r1", "r2"],
    'experiment != "sweep"': ["r3", "r4"],
    'state = "RUNNING"': ["r2"],
    'state != "RUNNING"': ["r1", "r3", "r4"],
    'start_time > "2000-01-01T00:00:00Z"': ["r1", "r2", "r3", "r4"],
    'start_time <= "2000-01-01T00:00:00Z"': [],
    'end_time >= "2000-01-01T00:00:00+09:00"': ["r1", "r3", "r4"],
    'created_by = "alice"': ["r3"],
    'created_by != "alice"': ["r1", "r2", "r4"],
    'code_commit = "abc"': ["r1"],
    'code_commit < "b"': ["r1", "r3", "r4"],  # "" sorts first
    # inputs: some input matches
    'input.dataset = "corpus"': ["r1", "r2"],
    'input.dataset = "other"': ["r2"],
    'input.dataset != "corpus"': ["r2"],
    'input.batch_id = "b1"': ["r1"],
    'input.batch_id > "b1"': ["r2"],
    f'input.dataset_version = "{DV}"': ["r2"],
    f'input.dataset_version != "{DV}"': ["r1", "r2"],
    # together
    'params.lr < 0.05 AND metrics.bleu >= 30 AND labels.team = "nlp"': ["r1"],
    'experiment = "sweep" AND state != "RUNNING"': ["r1"],
    # injection attempts that are just values: they match nothing
    'params.lr = "x\' OR 1=1 --"': [],
    'labels.team = "nlp\\" OR \\"1\\"=\\"1"': [],
    'run_id = "r1; DROP TABLE runs"': [],
    'experiment = "\'; DELETE FROM runs; --"': [],
    'labels.team = "한국어"': [],
    "params.lr = 1e308": [],
    "params.lr = 9223372036854775807": [],
    "params.lr > -1e308 AND params.lr < -1e307": [],
}

REFUSED = [
    'state > "RUNNING"',
    'state = "DONE"',
    "unknown = 1",
    "params. = 1",
    "input.other = 1",
    'metrics.bleu = "x"',
    "metrics.bleu = true",
    "params.lr = 1e999",
    "params.lr = 99999999999999999999999",
    "labels.a; DROP TABLE runs",
    "labels.team = nlp",
    "params.lr < 0.05 OR 1=1",
    "params.lr < 0.05 AND AND",
    'experiment = "x" AND',
    '"x" = experiment',
    "run_id = 1",
    'start_time > "yesterday"',
    'end_time < "2024-01-01T00:00:00"',
    'input.dataset_version = "corpus"',
    f'input.dataset_version > "{DV}"',
    'labels.team = "x\\u0000"',
    'labels.team = "\\ud800"',
    'run_id = "r1" -- comment',
    "experiment = 'single'",
    "params.lr < 0.05 AND " * 200 + "params.lr < 1",
]


@pytest.fixture(scope="module")
def digest(database_url: str) -> Iterator[TableDigest]:
    d = TableDigest(database_url)
    yield d
    d.close()


@pytest.mark.parametrize("filter_", list(MATCHES))
def test_filter_matches(tracking: Any, runs: str, digest: TableDigest, filter_: str) -> None:
    before = digest()
    assert list_ids(tracking, runs, filter_) == MATCHES[filter_]
    assert digest() == before


@pytest.mark.parametrize("filter_", REFUSED)
def test_bad_filters_are_invalid_argument_naming_filter(
    tracking: Any, runs: str, digest: TableDigest, filter_: str
) -> None:
    before = digest()
    request = rpc.ListRunsRequest(parent=f"projects/{runs}", filter=filter_)
    code, status = outcome(tracking.ListRuns, request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == ["filter"], status.message
    assert len(status.message) < 500
    assert digest() == before
    assert list_ids(tracking, runs) == ["r1", "r2", "r3", "r4"]


def test_filtered_pages_keep_their_filter(tracking: Any, runs: str) -> None:
    parent = f"projects/{runs}"
    query = 'experiment = "sweep" OR 1'
    code, _ = outcome(tracking.ListRuns, rpc.ListRunsRequest(parent=parent, filter=query))
    assert code == grpc.StatusCode.INVALID_ARGUMENT
    first = tracking.ListRuns(
        rpc.ListRunsRequest(parent=parent, filter="params.lr > 0", page_size=2)
    )
    assert [r.run_id for r in first.runs] == ["r1", "r2"]
    rest = tracking.ListRuns(
        rpc.ListRunsRequest(
            parent=parent, filter="params.lr > 0", page_size=2, page_token=first.next_page_token
        )
    )
    assert ([r.run_id for r in rest.runs], rest.next_page_token) == (["r3"], "")
    other = rpc.ListRunsRequest(
        parent=parent, filter="params.lr > 1", page_token=first.next_page_token
    )
    code, status = outcome(tracking.ListRuns, other)
    assert (code, bad_fields(status)) == (grpc.StatusCode.INVALID_ARGUMENT, ["page_token"])
