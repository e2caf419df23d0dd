"""AccessService end to end over gRPC on a real database (a server without auth,
so the service itself answers): create, get, list with pages, revoke (twice);
bad input names its field and leaves no row; the token is returned once, only
its hash is stored, and no log line carries it; GetCallerKey without a key."""

from __future__ import annotations

import hashlib
import logging
import math
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest

import modelreg
from modelreg.api.v1 import access_service_pb2 as rpc
from modelreg_server.domain.access import TOKEN_RE
from tests.conftest import unique
from tests.pipeline_support import fails
from tests.support import ACTOR, sql

INVALID = grpc.StatusCode.INVALID_ARGUMENT
NOT_FOUND = grpc.StatusCode.NOT_FOUND
Key = rpc.ApiKey


@pytest.fixture
def access(sync_client: modelreg.Client) -> Any:
    return sync_client.access_stub


def _rows(database_url: str) -> int:
    return int(sql(database_url, "SELECT count(*) FROM api_keys")[0][0])


def _create(access: Any, parent: str, **fields: Any) -> rpc.CreateApiKeyResponse:
    request = rpc.CreateApiKeyRequest(parent=parent, api_key=Key(**fields))
    return access.CreateApiKey(request, timeout=10, metadata=ACTOR)


def test_create_get_list_revoke(client: modelreg.Client, project: str) -> None:
    made = client.create_api_key(
        project,
        role="writer",
        owner="trainer@ci",
        description="nightly training",
        expires=timedelta(days=30),
        rate_limit=5,
    )
    key = made.key
    assert TOKEN_RE.fullmatch(made.token) and made.token.startswith(f"{key.prefix}_")
    assert made.token not in repr(made)
    assert (key.name, key.project) == (f"projects/{project}/apiKeys/{key.key_id}", project)
    assert key.prefix == f"mrk_{key.key_id}"
    assert (key.role, key.state) == (modelreg.ApiKeyRole.WRITER, modelreg.ApiKeyState.ACTIVE)
    assert (key.owner, key.description, key.rate_limit) == ("trainer@ci", "nightly training", 5)
    assert (key.created_by, key.revoke_time, key.revoked_by) == ("tester", None, "")
    now = datetime.now(timezone.utc)
    assert key.expire_time is not None
    assert timedelta(days=29) < key.expire_time - now <= timedelta(days=30)
    assert client.get_api_key(key.prefix, project) == key
    assert client.get_api_key(key.name) == key
    assert client.get_api_key(key) == key
    # Owner defaults to the caller's actor.
    reader = client.create_api_key(project, role=modelreg.ApiKeyRole.READER).key
    assert (reader.owner, reader.expire_time, reader.rate_limit) == ("tester", None, 0)
    assert [k.key_id for k in client.list_api_keys(project)] == [reader.key_id, key.key_id]

    revoked = client.revoke_api_key(key.prefix, project)
    assert (revoked.state, revoked.revoked_by) == (modelreg.ApiKeyState.REVOKED, "tester")
    assert revoked.revoke_time is not None
    assert client.revoke_api_key(key) == revoked  # again: unchanged
    assert client.get_api_key(key) == revoked
    assert [k.key_id for k in client.list_api_keys(project)] == [reader.key_id]
    listed = list(client.list_api_keys(project, show_inactive=True))
    assert [k.key_id for k in listed] == [reader.key_id, key.key_id]
    assert listed[1] == revoked


def test_server_admin_keys(client: modelreg.Client, project: str) -> None:
    admin = client.create_api_key(role="server-admin", owner="ops").key
    assert (admin.name, admin.project) == (f"apiKeys/{admin.key_id}", None)
    assert admin.role is modelreg.ApiKeyRole.SERVER_ADMIN
    assert client.get_api_key(admin.prefix) == admin
    assert admin.key_id in [k.key_id for k in client.list_api_keys()]
    project_key = client.create_api_key(project, role="admin").key
    assert project_key.key_id not in [k.key_id for k in client.list_api_keys()]
    assert admin.key_id not in [k.key_id for k in client.list_api_keys(project)]
    # A key is found under its own name only.
    with pytest.raises(modelreg.NotFoundError):
        client.get_api_key(project_key.key_id)  # apiKeys/{id}: not a server admin key
    with pytest.raises(modelreg.NotFoundError):
        client.get_api_key(admin.key_id, project)
    other = unique("proj")
    client.create_project(other)
    with pytest.raises(modelreg.NotFoundError):
        client.get_api_key(project_key.key_id, other)
    with pytest.raises(modelreg.NotFoundError):
        client.revoke_api_key(project_key.key_id, other)
    assert client.get_api_key(project_key).state is modelreg.ApiKeyState.ACTIVE
    client.revoke_api_key(admin)


def test_caller_key_without_a_key_is_not_found(client: modelreg.Client) -> None:
    with pytest.raises(modelreg.NotFoundError) as caught:
        client.caller_key()
    assert "without an API key" in caught.value.details


def test_an_expired_key_is_listed_as_inactive(access: Any, project: str, database_url: str) -> None:
    made = _create(access, f"projects/{project}", role=rpc.API_KEY_ROLE_READER)
    sql(
        database_url,
        "UPDATE api_keys SET expire_time = now() - interval '1 minute' WHERE key_id = $1",
        made.api_key.key_id,
    )
    listing = access.ListApiKeys(rpc.ListApiKeysRequest(parent=f"projects/{project}"))
    assert list(listing.api_keys) == []
    listing = access.ListApiKeys(
        rpc.ListApiKeysRequest(parent=f"projects/{project}", show_inactive=True)
    )
    assert [k.state for k in listing.api_keys] == [rpc.API_KEY_STATE_EXPIRED]


def test_the_token_is_shown_once_and_only_its_hash_is_stored(
    access: Any, project: str, database_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    made = _create(access, f"projects/{project}", role=rpc.API_KEY_ROLE_ADMIN, owner="svc")
    token, key_id = made.token, made.api_key.key_id
    secret = token.rpartition("_")[2]
    # Nothing a later call returns carries it.
    for again in (
        access.GetApiKey(rpc.GetApiKeyRequest(name=made.api_key.name)),
        access.ListApiKeys(rpc.ListApiKeysRequest(parent=f"projects/{project}")),
        access.RevokeApiKey(rpc.RevokeApiKeyRequest(name=made.api_key.name), metadata=ACTOR),
    ):
        assert secret.encode() not in again.SerializeToString()
    rows = sql(database_url, "SELECT * FROM api_keys WHERE key_id = $1", key_id)
    assert len(rows) == 1
    row = dict(rows[0])
    assert bytes(row["secret_hash"]) == hashlib.sha256(token.encode()).digest()
    for column, value in row.items():
        if isinstance(value, str):
            assert secret not in value, column
        if isinstance(value, bytes | bytearray | memoryview):
            assert secret.encode() not in bytes(value), column
    # The audit lines name the key by its prefix; no log line has the token.
    audit = [r for r in caplog.records if r.name == "modelreg_server.audit"]
    assert [getattr(r, "audit", "") for r in audit] == ["key_created", "key_revoked"]
    assert all(getattr(r, "key", "") == made.api_key.prefix for r in audit)
    for record in caplog.records:
        assert secret not in record.getMessage()
        assert all(secret not in str(v) for v in vars(record).values())


def _bad_creates(project: str) -> list[tuple[str, dict[str, Any], str]]:
    p = f"projects/{project}"
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    reader = {"role": rpc.API_KEY_ROLE_READER}
    return [
        (p, {}, "api_key.role"),
        (p, {"role": 99}, "api_key.role"),
        (p, {"role": rpc.API_KEY_ROLE_SERVER_ADMIN}, "api_key.role"),
        ("", {"role": rpc.API_KEY_ROLE_WRITER}, "api_key.role"),
        (p, {**reader, "owner": "x" * 257}, "api_key.owner"),
        (p, {**reader, "owner": "two\nlines"}, "api_key.owner"),
        (p, {**reader, "owner": "nul\x00"}, "api_key.owner"),
        (p, {**reader, "description": "d" * 1001}, "api_key.description"),
        (p, {**reader, "description": "nul\x00"}, "api_key.description"),
        (p, {**reader, "expire_time": past}, "api_key.expire_time"),
        (p, {**reader, "rate_limit": -1.0}, "api_key.rate_limit"),
        (p, {**reader, "rate_limit": math.nan}, "api_key.rate_limit"),
        (p, {**reader, "rate_limit": math.inf}, "api_key.rate_limit"),
        ("nope", reader, "parent"),
        (f"{p}/models/m", reader, "parent"),
        ("projects/Bad Name", reader, "parent"),
    ]


def test_bad_creates_name_the_field_and_leave_no_row(
    access: Any, project: str, database_url: str
) -> None:
    before = _rows(database_url)
    for parent, fields, field in _bad_creates(project):
        when = fields.pop("expire_time", None)
        key = Key(**fields)
        if when is not None:
            key.expire_time.FromDatetime(when)
        request = rpc.CreateApiKeyRequest(parent=parent, api_key=key)
        fails(access.CreateApiKey, request, INVALID, "INVALID_ARGUMENT", field)
    missing = rpc.CreateApiKeyRequest(
        parent="projects/no_such_project", api_key=Key(role=rpc.API_KEY_ROLE_READER)
    )
    fails(access.CreateApiKey, missing, NOT_FOUND, "NOT_FOUND")
    assert _rows(database_url) == before
    # Just inside every limit is fine.
    ok = _create(
        access,
        f"projects/{project}",
        role=rpc.API_KEY_ROLE_READER,
        owner="o" * 256,
        description="d\n" * 500,
    )
    assert len(ok.api_key.owner) == 256 and _rows(database_url) == before + 1


def test_bad_names(access: Any, project: str) -> None:
    for name in (
        "",
        "apiKeys/",
        "apiKeys/UPPERCASE123",
        "apiKeys/abcdefghijk1",  # 1 is not base32
        f"projects/{project}/apiKeys",
        f"projects/{project}/keys/abcdefghijkl",
        "projects/Bad/apiKeys/abcdefghijkl",
        "apiKeys/abcdefghijkl/x",
    ):
        fails(
            access.GetApiKey, rpc.GetApiKeyRequest(name=name), INVALID, "INVALID_ARGUMENT", "name"
        )
        request = rpc.RevokeApiKeyRequest(name=name)
        fails(access.RevokeApiKey, request, INVALID, "INVALID_ARGUMENT", "name")
    for name in ("apiKeys/abcdefghijkl", f"projects/{project}/apiKeys/abcdefghijkl"):
        fails(access.GetApiKey, rpc.GetApiKeyRequest(name=name), NOT_FOUND, "NOT_FOUND")
    gone = "projects/no_such_project/apiKeys/abcdefghijkl"
    message = fails(access.GetApiKey, rpc.GetApiKeyRequest(name=gone), NOT_FOUND, "NOT_FOUND")
    assert "project not found" in message
    bad_parent = rpc.ListApiKeysRequest(parent="projects/")
    fails(access.ListApiKeys, bad_parent, INVALID, "INVALID_ARGUMENT", "parent")
    negative = rpc.ListApiKeysRequest(parent=f"projects/{project}", page_size=-1)
    fails(access.ListApiKeys, negative, INVALID, "INVALID_ARGUMENT", "page_size")


def test_pages_newest_first(client: modelreg.Client, access: Any, project: str) -> None:
    made = [client.create_api_key(project, role="reader").key.key_id for _ in range(5)]
    parent = f"projects/{project}"
    names, token, pages = [], "", 0
    while True:
        page = access.ListApiKeys(
            rpc.ListApiKeysRequest(parent=parent, page_size=2, page_token=token)
        )
        assert len(page.api_keys) <= 2
        names += [k.key_id for k in page.api_keys]
        pages += 1
        token = page.next_page_token
        if not token:
            break
    assert names == made[::-1] and pages == 3
    assert [k.key_id for k in client.list_api_keys(project, page_size=2)] == made[::-1]
    # A token continues only its own listing.
    first = access.ListApiKeys(rpc.ListApiKeysRequest(parent=parent, page_size=2))
    for other in (
        rpc.ListApiKeysRequest(parent="", page_size=2, page_token=first.next_page_token),
        rpc.ListApiKeysRequest(
            parent=parent, page_size=2, page_token=first.next_page_token, show_inactive=True
        ),
        rpc.ListApiKeysRequest(parent=parent, page_token=first.next_page_token + "x"),
    ):
        fails(access.ListApiKeys, other, INVALID, "INVALID_ARGUMENT", "page_token")


def test_revoking_twice_and_at_once(client: modelreg.Client, project: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    key = client.create_api_key(project, role="writer").key
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: client.revoke_api_key(key), range(4)))
    assert len({r.revoke_time for r in results}) == 1
    assert all(r.state is modelreg.ApiKeyState.REVOKED for r in results)
    assert client.revoke_api_key(key) == results[0]


def test_deleting_the_project_deletes_its_keys(client: modelreg.Client, database_url: str) -> None:
    name = unique("proj")
    client.create_project(name)
    key = client.create_api_key(name, role="admin").key
    client.delete_project(name, force=True)
    rows = sql(database_url, "SELECT count(*) FROM api_keys WHERE key_id = $1", key.key_id)
    assert rows[0][0] == 0
