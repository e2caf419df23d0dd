"""Hostile input that used to escape validation: lone surrogates in filter
strings, version numbers of 5,000 digits, filter times whose offset moves them
out of the calendar, digits that are not ASCII. Each is INVALID_ARGUMENT naming
the field, writes nothing, and logs at most one short line (it used to be
INTERNAL with a traceback of up to ~10 KB)."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg.api.v1 import resources_pb2 as pb
from tests.bad_input import bad_fields, error_info
from tests.hostile import HUGE_NUMBER, TableDigest, outcome
from tests.support import call_lines, own_database_and_server, register

# What a rejected call may log: one line, short, no traceback.
MAX_LOG_LINE = 300

Build = Callable[[str], tuple[str, Any, str]]


def _model(project: str) -> str:
    return f"projects/{project}/models/m"


def _list_versions(filter_: str) -> Build:
    return lambda p: (
        "ListModelVersions",
        rpc.ListModelVersionsRequest(parent=_model(p), filter=filter_),
        "filter",
    )


def _list_models(filter_: str) -> Build:
    return lambda p: (
        "ListModels",
        rpc.ListModelsRequest(parent=f"projects/{p}", filter=filter_),
        "filter",
    )


def _list_projects(filter_: str) -> Build:
    return lambda p: ("ListProjects", rpc.ListProjectsRequest(filter=filter_), "filter")


CASES: dict[str, Build] = {
    # A JSON escape of half a surrogate pair decodes to a str no database accepts.
    "surrogate-in-version-filter": _list_versions('labels.team = "x\\ud800"'),
    "surrogate-in-model-filter": _list_models('labels.team = "\\udfff"'),
    "surrogate-in-project-filter": _list_projects('name = "\\ud83d"'),
    "surrogate-in-param-filter": _list_versions('params.opt = "\\ud800"'),
    # In UTC these are before year 1 and after year 9999.
    "time-before-year-1": _list_versions('create_time > "0001-01-01T00:00:00+14:00"'),
    "time-after-year-9999": _list_models('update_time < "9999-12-31T23:59:59-14:00"'),
    "project-time-before-year-1": _list_projects('create_time >= "0001-01-01T10:00:00+10:01"'),
    # Long input is named, not echoed back whole (the message travels in trailers).
    "long-value-echoed": _list_versions('version = "' + "x" * 1900 + '"'),
    "long-field-echoed": _list_models("f" * 1990 + " = 1"),
    "long-label-key-echoed": _list_versions("labels." + "k" * 1900 + " = 1"),
    # Arabic-Indic digits are \d to Python's re and int(): not numbers of the grammar.
    "non-ascii-digits-in-filter": _list_versions("version > \u0661\u0662"),
    "version-of-5000-digits": lambda p: (
        "GetModelVersion",
        rpc.GetModelVersionRequest(name=f"{_model(p)}/versions/{HUGE_NUMBER}"),
        "name",
    ),
    "archive-version-of-5000-digits": lambda p: (
        "ArchiveModelVersion",
        rpc.ArchiveModelVersionRequest(name=f"{_model(p)}/versions/{HUGE_NUMBER}"),
        "name",
    ),
    "update-version-of-5000-digits": lambda p: (
        "UpdateModelVersion",
        rpc.UpdateModelVersionRequest(
            model_version=pb.ModelVersion(
                name=f"{_model(p)}/versions/{HUGE_NUMBER}", description="x"
            ),
            update_mask={"paths": ["description"]},
        ),
        "model_version.name",
    ),
    "alias-to-version-of-5000-digits": lambda p: (
        "SetAlias",
        rpc.SetAliasRequest(parent=_model(p), alias="prod", version=HUGE_NUMBER),
        "version",
    ),
    "parent-version-of-5000-digits": lambda p: (
        "CreateModelVersion",
        rpc.CreateModelVersionRequest(
            parent=_model(p),
            model_version=pb.ModelVersion(
                artifact=pb.Artifact(uri="s3://b/x.pt"),
                parent_version=f"{_model(p)}/versions/{HUGE_NUMBER}",
            ),
        ),
        "model_version.parent_version",
    ),
}


# This module's own database and server: the table digest reads every row, so it
# stays cheap only on a database that holds this module's data alone.
database_url, server, target = own_database_and_server()


@pytest.fixture(scope="module")
def digest(database_url: str) -> Iterator[TableDigest]:
    d = TableDigest(database_url)
    yield d
    d.close()


@pytest.fixture
def filled(sync_client: modelreg.Client, project: str) -> str:
    """``project`` with model m at versions 1 and 2, and alias prod on 1."""
    register(sync_client, project, "m", 2)
    sync_client.set_alias(project, "m", "prod", 1)
    return project


@pytest.mark.parametrize("case", list(CASES))
def test_hostile_input_is_invalid_argument_naming_the_field_and_writes_nothing(
    sync_client: modelreg.Client, filled: str, digest: TableDigest, case: str
) -> None:
    method, request, field = CASES[case](filled)
    before = digest()
    code, status = outcome(getattr(sync_client.stub, method), request)
    assert code == grpc.StatusCode.INVALID_ARGUMENT, status.message
    assert bad_fields(status) == [field], status.message
    assert error_info(status).metadata["field"] == field
    assert len(status.message) < 500  # the input is not echoed in full
    assert digest() == before
    # The same call made sane works: nothing was left broken.
    assert [v.version for v in sync_client.list_model_versions(filled, "m")] == [1, 2]


def test_rejected_hostile_calls_log_at_most_one_short_line_each(
    sync_client: modelreg.Client, filled: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for case, build in CASES.items():
        method, request, _ = build(filled)
        caplog.clear()
        started = time.time()
        code, _ = outcome(getattr(sync_client.stub, method), request)
        assert code == grpc.StatusCode.INVALID_ARGUMENT, case
        # Waits for the call's own line, so that it is not counted in the next case.
        call_lines(caplog.records, f"RegistryService/{method}", started)
        records = caplog.records
        assert len(records) <= 1, (case, [r.getMessage()[:200] for r in records])
        for r in records:
            assert r.exc_info is None, (case, r.getMessage()[:200])
            assert len(r.getMessage()) <= MAX_LOG_LINE and "\n" not in r.getMessage(), case
