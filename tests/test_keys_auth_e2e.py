"""AccessService with authentication on, from the first key: the token the
bootstrap file was given is a server admin key; with it a project's admin key is
made, which makes the project's keys (and no other project's, nor server admin
keys); GetCallerKey answers who the caller is; a revoked key is refused by this
process at once; the creator's key owner is recorded as created_by and as the
default owner."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from modelreg.api.v1 import access_service_pb2 as rpc
from modelreg.api.v1 import access_service_pb2_grpc as rpc_grpc
from modelreg.api.v1 import registry_service_pb2 as registry
from modelreg.api.v1 import registry_service_pb2_grpc as registry_grpc
from modelreg_server.testing import fresh_database
from tests.auth_support import auth_server, bearer


@pytest.fixture(scope="module")
def served(pg_server_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    """(AccessService stub, RegistryService stub, the bootstrap token) of a server
    with auth on, started on an empty database with a bootstrap key file; the
    projects shop and other, made with the bootstrap token."""
    path = Path(tmp_path_factory.mktemp("boot")) / "admin.token"
    with (
        fresh_database(pg_server_url) as url,
        auth_server(url, bootstrap_key_file=path) as server,
        grpc.insecure_channel(server.target) as channel,
    ):
        boot = path.read_text().strip()
        reg = registry_grpc.RegistryServiceStub(channel)
        for name in ("shop", "other"):
            request = registry.CreateProjectRequest(project_id=name)
            reg.CreateProject(request, metadata=bearer(boot), timeout=10)
        yield rpc_grpc.AccessServiceStub(channel), reg, boot


def _code(call: Any, request: Any, token: str) -> grpc.StatusCode:
    try:
        call(request, metadata=bearer(token), timeout=10)
    except grpc.RpcError as exc:
        return exc.code()  # type: ignore[no-any-return]
    return grpc.StatusCode.OK


def _new(access: Any, token: str, parent: str, role: Any, **fields: Any) -> Any:
    request = rpc.CreateApiKeyRequest(parent=parent, api_key=rpc.ApiKey(role=role, **fields))
    return access.CreateApiKey(request, metadata=bearer(token), timeout=10)


def test_the_bootstrap_token_is_a_server_admin_key(served: Any) -> None:
    access, reg, boot = served
    me = access.GetCallerKey(rpc.GetCallerKeyRequest(), metadata=bearer(boot), timeout=10)
    assert (me.role, me.owner, me.name) == (
        rpc.API_KEY_ROLE_SERVER_ADMIN, "bootstrap", f"apiKeys/{me.key_id}",
    )  # fmt: skip
    assert boot.startswith(me.prefix)
    got = reg.GetProject(registry.GetProjectRequest(name="projects/shop"), metadata=bearer(boot))
    assert got.name == "projects/shop"
    missing = rpc.GetCallerKeyRequest()
    assert _code(access.GetCallerKey, missing, "") == grpc.StatusCode.UNAUTHENTICATED


def test_a_project_admin_manages_its_projects_keys_only(served: Any) -> None:
    access, _, boot = served
    admin = _new(access, boot, "projects/shop", rpc.API_KEY_ROLE_ADMIN, owner="shop-admin")
    assert admin.api_key.created_by == "bootstrap"
    writer = _new(access, admin.token, "projects/shop", rpc.API_KEY_ROLE_WRITER)
    # Made with a key: the key's owner is the creator and the default owner.
    assert (writer.api_key.owner, writer.api_key.created_by) == ("shop-admin", "shop-admin")
    me = access.GetCallerKey(rpc.GetCallerKeyRequest(), metadata=bearer(writer.token), timeout=10)
    assert (me.name, me.role) == (writer.api_key.name, rpc.API_KEY_ROLE_WRITER)
    denied = grpc.StatusCode.PERMISSION_DENIED
    for request in (
        rpc.CreateApiKeyRequest(parent="projects/other", api_key={"role": rpc.API_KEY_ROLE_READER}),
        rpc.CreateApiKeyRequest(parent="", api_key={"role": rpc.API_KEY_ROLE_SERVER_ADMIN}),
    ):
        assert _code(access.CreateApiKey, request, admin.token) == denied
    assert _code(access.ListApiKeys, rpc.ListApiKeysRequest(), admin.token) == denied
    listing = rpc.ListApiKeysRequest(parent="projects/shop")
    assert _code(access.ListApiKeys, listing, writer.token) == denied  # keys are the admin's
    keys = access.ListApiKeys(listing, metadata=bearer(admin.token), timeout=10)
    assert [k.key_id for k in keys.api_keys] == [writer.api_key.key_id, admin.api_key.key_id]


def test_a_revoked_key_is_refused_at_once(served: Any) -> None:
    access, _, boot = served
    made = _new(access, boot, "projects/shop", rpc.API_KEY_ROLE_READER)
    whoami = rpc.GetCallerKeyRequest()
    assert _code(access.GetCallerKey, whoami, made.token) == grpc.StatusCode.OK  # now cached
    revoke = rpc.RevokeApiKeyRequest(name=made.api_key.name)
    revoked = access.RevokeApiKey(revoke, metadata=bearer(boot), timeout=10)
    assert (revoked.state, revoked.revoked_by) == (rpc.API_KEY_STATE_REVOKED, "bootstrap")
    assert _code(access.GetCallerKey, whoami, made.token) == grpc.StatusCode.UNAUTHENTICATED
