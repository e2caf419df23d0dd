"""Service and storage against the real PostgreSQL: version allocation under
concurrency, no gaps after failures, one transaction per call."""

from __future__ import annotations

import asyncio
import contextlib
import json

import asyncpg
import pytest

from modelreg_server.domain import errors
from modelreg_server.domain.types import Artifact, ListQuery, NewModelVersion, VersionRef
from modelreg_server.service.aliases import AliasesService
from modelreg_server.service.idempotency import Idempotency
from modelreg_server.service.models import ModelsService
from modelreg_server.service.projects import ProjectsService
from modelreg_server.service.registry import Registry
from modelreg_server.service.versions import VersionsService
from modelreg_server.storage import store as store_module
from modelreg_server.storage.store import Store
from modelreg_server.testing import asyncpg_dsn
from tests.conftest import unique


def spec(uri: str = "s3://bucket/model.pt", **params: float) -> NewModelVersion:
    return NewModelVersion(artifact=Artifact(uri), params=params)


def registry(store: Store) -> Registry:
    requests = Idempotency(store)
    return Registry(
        projects=ProjectsService(store, requests),
        models=ModelsService(store, requests),
        versions=VersionsService(store, requests),
        aliases=AliasesService(store, requests),
    )


async def all_versions(svc: Registry, project: str, model: str) -> list[int]:
    q = ListQuery(page_size=1000)
    page = await svc.versions.list_model_versions(project, model, q, show_deleted=True)
    return [v["version"] for v in page.items]


async def test_concurrent_registrations_get_gapless_unique_numbers(store: Store) -> None:
    svc = registry(store)
    project = unique()
    await svc.projects.create_project(project, "", {})
    results = await asyncio.gather(
        *(svc.versions.create_model_version(project, "m", spec(lr=i), actor="t") for i in range(60))
    )
    assert sorted(v["version"] for v in results) == list(range(1, 61))
    assert await all_versions(svc, project, "m") == list(range(1, 61))
    assert (await svc.models.get_model(project, "m"))["version_count"] == 60


async def test_failed_registration_leaves_no_gap_and_no_row(store: Store) -> None:
    svc = registry(store)
    project = unique()
    await svc.projects.create_project(project, "", {})
    await svc.versions.create_model_version(project, "m", spec(), actor="t", request_id="first")
    # Same request_id, other payload: the statement bumps the counter, hits the
    # unique key and is rolled back as a whole.
    with pytest.raises(errors.InvalidArgument) as info:
        await svc.versions.create_model_version(
            project, "m", spec(lr=1.0), actor="t", request_id="first"
        )
    assert info.value.violations[0].field == "request_id"
    # A parent that does not exist fails before anything is written.
    bad_parent = NewModelVersion(artifact=Artifact("x"), parent=VersionRef(project, "m", "99"))
    with pytest.raises(errors.InvalidArgument):
        await svc.versions.create_model_version(project, "m", bad_parent, actor="t")
    second = await svc.versions.create_model_version(project, "m", spec(), actor="t")
    assert second["version"] == 2
    assert await all_versions(svc, project, "m") == [1, 2]


async def test_unknown_project_creates_nothing(store: Store) -> None:
    svc = registry(store)
    missing = unique()
    with pytest.raises(errors.NotFound) as info:
        await svc.versions.create_model_version(missing, "m", spec(), actor="t")
    assert info.value.kind == "project"
    with pytest.raises(errors.NotFound):
        await svc.projects.get_project(missing)


async def test_replayed_request_id_returns_the_first_result(store: Store) -> None:
    svc = registry(store)
    project = unique()
    await svc.projects.create_project(project, "", {}, request_id="cp-1")
    # The retry is a replay, not an AlreadyExists error.
    again = await svc.projects.create_project(project, "", {}, request_id="cp-1")
    assert again["name"] == project
    first = await svc.versions.create_model_version(
        project, "m", spec(lr=0.1), actor="t", request_id="r"
    )
    retries = await asyncio.gather(
        *(
            svc.versions.create_model_version(project, "m", spec(lr=0.1), actor="t", request_id="r")
            for _ in range(8)
        )
    )
    assert {v["version"] for v in retries} == {first["version"]}
    assert await all_versions(svc, project, "m") == [1]


async def test_rollback_alias_is_idempotent_per_request_id(store: Store) -> None:
    svc = registry(store)
    project = unique()
    await svc.projects.create_project(project, "", {})
    for _ in range(3):
        await svc.versions.create_model_version(project, "m", spec(), actor="t")
    for n in ("1", "2", "3"):
        await svc.aliases.set_alias(project, "m", "production", n, actor="t")
    first = await svc.aliases.rollback_alias(project, "m", "production", actor="t", request_id="rb")
    replay = await svc.aliases.rollback_alias(
        project, "m", "production", actor="t", request_id="rb"
    )
    assert first["version"] == replay["version"] == 2
    history = await svc.aliases.alias_history(project, "m", "production", ListQuery())
    assert [(e["from_version"], e["to_version"]) for e in history.items] == [
        (3, 2),
        (2, 3),
        (1, 2),
        (None, 1),
    ]


async def test_hot_path_survives_terminated_backends(store: Store, database_url: str) -> None:
    """Leased connections whose backends were killed (a database restart looks the
    same) are replaced, not handed to the next call."""
    svc = registry(store)
    project = unique()
    await svc.projects.create_project(project, "", {})
    await svc.versions.create_model_version(project, "m", spec(), actor="t")
    ref = VersionRef(project, "m", "1")
    # Lease both of this store's hot connections at once, to learn their backends;
    # only those are killed (other servers share the database and its app name).
    async with contextlib.AsyncExitStack() as held:
        leased = [await held.enter_async_context(store.hot()) for _ in range(2)]
        pids = [conn.get_server_pid() for conn in leased]
    admin = await asyncpg.connect(asyncpg_dsn(database_url))
    try:
        killed = await admin.fetchval(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE pid = ANY($1::int[])",
            pids,
        )
    finally:
        await admin.close()
    assert killed == 2
    await asyncio.sleep(0.2)  # let the client side see the sockets close
    for _ in range(8):
        assert (await svc.versions.get_model_version(ref))["version"] == 1


@pytest.mark.parametrize(
    ("text", "value"),
    [("{}", {}), ("[]", []), ('[["lr", "float", "0.1"]]', [["lr", "float", "0.1"]]),
     ('{"a": {"b": [1, 2.5, null, true]}}', {"a": {"b": [1, 2.5, None, True]}}), ('"x"', "x"),
     (" [1] ", [1])],
)  # fmt: skip
def test_jsonb_text_decodes_like_json_loads(text: str, value: object) -> None:
    assert store_module._decode_json(text) == value == json.loads(text)


@pytest.mark.parametrize("text", ["", "[1] x", "{'a': 1}", "[1"])
def test_malformed_json_still_raises(text: str) -> None:
    with pytest.raises(ValueError):
        store_module._decode_json(text)
