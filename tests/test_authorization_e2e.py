"""The authorization matrix: every RPC of every service of the service table x
every role x its own project, another project, no key, a revoked key and an
expired key, against a real server with auth on.

The cases are generated from the service descriptors and the permission table
(permissions.py): an RPC added without a table entry fails
``test_every_rpc_has_a_permission``, and the role semantics of the issue are
checked against the table itself (``test_the_table_says_what_the_roles_mean``).
A call that is allowed may still fail for its content (NOT_FOUND,
INVALID_ARGUMENT): the matrix asserts only what authorization decides."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import grpc
import pytest
from google.protobuf.descriptor import MethodDescriptor
from google.protobuf.message_factory import GetMessageClass

import modelreg
from modelreg_server import app, permissions
from modelreg_server.domain.access import Permission, Role
from modelreg_server.testing import ServerThread
from tests.auth_support import auth_server, bearer, make_key

OWN, OTHER = f"own_{uuid.uuid4().hex[:8]}", f"other_{uuid.uuid4().hex[:8]}"
TABLE = app.services(None)  # type: ignore[arg-type]
METHODS: list[tuple[MethodDescriptor, permissions.Rule | None]] = [
    (method, entry.permissions.get(method.name))
    for entry in TABLE
    for method in entry.descriptor.methods
]


def _id(item: tuple[MethodDescriptor, Any]) -> str:
    return f"{item[0].containing_service.name}.{item[0].name}"


@dataclass(frozen=True)
class Caller:
    label: str
    token: str | None
    role: Role | None  # None: not a valid key
    project: str | None


@pytest.fixture(scope="module")
def secured(database_url: str, target: str) -> Iterator[ServerThread]:
    with modelreg.Client(target) as open_client:  # the session's server, without auth
        for name in (OWN, OTHER):
            open_client.create_project(name)
            open_client.create_model(name, "m")
    with auth_server(database_url) as server:
        yield server


@pytest.fixture(scope="module")
def callers(database_url: str, secured: ServerThread) -> list[Caller]:
    past = datetime.now(timezone.utc) - timedelta(minutes=1)
    made = [
        Caller(f"{role.name.lower()}", make_key(database_url, OWN, role), role, OWN)
        for role in (Role.READER, Role.WRITER, Role.ADMIN)
    ]
    made.append(
        Caller(
            "server_admin", make_key(database_url, None, Role.SERVER_ADMIN), Role.SERVER_ADMIN, None
        )
    )
    made += [
        Caller("no key", None, None, None),
        Caller("revoked", make_key(database_url, OWN, Role.ADMIN, revoked=True), None, None),
        Caller("expired", make_key(database_url, OWN, Role.ADMIN, expire_time=past), None, None),
        Caller("unknown", "mrk_aaaaaaaaaaaa_" + "A" * 43, None, None),
        Caller("malformed", "not-a-key", None, None),
    ]
    return made


def _set(request: Any, path: str, value: str) -> None:
    *parents, last = path.split(".")
    target = request
    for part in parents:
        target = getattr(target, part)
    setattr(target, last, value)


def _call(
    target: str, method: MethodDescriptor, request: Any, token: str | None
) -> grpc.StatusCode:
    path = f"/{method.containing_service.full_name}/{method.name}"
    metadata = bearer(token) if token is not None else None
    with grpc.insecure_channel(target) as channel:
        if method.client_streaming:
            stream = channel.stream_stream(
                path, request_serializer=type(request).SerializeToString, response_deserializer=None
            )
            try:
                for _ in stream(iter([request]), timeout=10, metadata=metadata):
                    pass
            except grpc.RpcError as err:
                return err.code()
            return grpc.StatusCode.OK
        unary = channel.unary_unary(
            path, request_serializer=type(request).SerializeToString, response_deserializer=None
        )
        try:
            unary(request, timeout=10, metadata=metadata)
        except grpc.RpcError as err:
            return err.code()
        return grpc.StatusCode.OK


def _expected(rule: permissions.Rule, caller: Caller, project: str) -> str:
    if caller.role is None:
        return "UNAUTHENTICATED"
    if caller.role is Role.SERVER_ADMIN:
        return "allowed"
    if rule.permission is Permission.CALLER:
        return "allowed"
    if rule.permission is Permission.SERVER or rule.field is None or project != caller.project:
        return "PERMISSION_DENIED"
    return "allowed" if caller.role >= rule.permission.value else "PERMISSION_DENIED"


def _request(method: MethodDescriptor, rule: permissions.Rule, project: str) -> Any:
    request = GetMessageClass(method.input_type)()
    if rule.field is not None:
        value = (
            f"projects/{project}"
            if rule.field.endswith("parent")
            else f"projects/{project}/models/m"
        )
        _set(request, rule.field, value)
    return request


def test_every_rpc_has_a_permission() -> None:
    missing = [_id(item) for item in METHODS if item[1] is None]
    assert not missing, f"RPCs with no entry in the permission table (permissions.py): {missing}"
    families = {entry.name for entry in TABLE}
    assert {"modelreg.api.v1.RegistryService", "modelreg.api.v1.TrackingService"} <= families
    assert {"modelreg.api.v1.ProductionService", "modelreg.api.v1.LineageService"} <= families


READS = re.compile(r"^(Get|List|Compare|Rank)")
ADMIN_ONLY = re.compile(
    r"^(Delete|Archive|Restore|SetAlias|RollbackAlias|CreateDeployment|SetTraffic|"
    r"UpdateDeployment|UpdateProject|CreateApiKey|GetApiKey|ListApiKeys|RevokeApiKey)"
)


@pytest.mark.parametrize("item", METHODS, ids=_id)
def test_the_table_says_what_the_roles_mean(item: tuple[MethodDescriptor, Any]) -> None:
    """reader: every read; writer: + the records of training and serving; admin:
    + aliases, deployments, deletes, keys; server admin: projects themselves."""
    method, rule = item
    assert rule is not None
    name = method.name
    if name in ("CreateProject", "DeleteProject"):
        assert rule.permission is Permission.SERVER
    elif name in ("ListProjects", "GetCallerKey"):
        assert rule.permission is Permission.CALLER
    elif ADMIN_ONLY.match(name):
        assert rule.permission is Permission.ADMIN
    elif READS.match(name):
        assert rule.permission is Permission.READ
    else:
        assert rule.permission is Permission.WRITE, name
    if rule.permission in (Permission.READ, Permission.WRITE):
        assert rule.field is not None


@pytest.mark.parametrize("item", METHODS, ids=_id)
def test_authorization_matrix(
    item: tuple[MethodDescriptor, Any], secured: ServerThread, callers: list[Caller]
) -> None:
    method, rule = item
    assert rule is not None
    wrong = []
    for caller in callers:
        for project in (OWN, OTHER):
            expected = _expected(rule, caller, project)
            code = _call(secured.target, method, _request(method, rule, project), caller.token)
            got = code.name if code.name in ("UNAUTHENTICATED", "PERMISSION_DENIED") else "allowed"
            if code is grpc.StatusCode.INTERNAL or got != expected:
                wrong.append(f"{caller.label} on {project}: expected {expected}, got {code.name}")
    assert not wrong, "\n".join(wrong)
