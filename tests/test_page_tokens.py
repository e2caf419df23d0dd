"""Page tokens are authenticated: the server signs them (HMAC-SHA256 under a key
kept in the database), so a token made or edited by hand is INVALID_ARGUMENT
naming page_token, whatever it holds; a replica on the same database continues a
listing another one started; another deployment's token is refused."""

from __future__ import annotations

import base64
import json
from typing import Any

import modelreg
from modelreg.api.v1 import registry_service_pb2 as rpc
from modelreg_server.storage import pagination
from modelreg_server.testing import fresh_database, running_server
from tests.bad_input import assert_raw_invalid
from tests.support import register


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _unb64(token: str) -> bytes:
    return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))


def _hand_made(query: str, key: list[Any]) -> str:
    """A token as this server made them before they were signed: base64url JSON
    holding the listing's fingerprint (anyone can compute it) and a sort key."""
    return _b64(json.dumps({"q": query, "k": key}).encode())


def _versions(project: str, page_token: str, page_size: int = 1) -> rpc.ListModelVersionsRequest:
    return rpc.ListModelVersionsRequest(
        parent=f"projects/{project}/models/m", page_size=page_size, page_token=page_token
    )


def _first_token(sync_client: modelreg.Client, project: str) -> str:
    page = sync_client.stub.ListModelVersions(_versions(project, ""), timeout=10)
    assert [v.version for v in page.model_versions] == [1]
    return str(page.next_page_token)


def test_a_hand_made_token_is_refused(sync_client: modelreg.Client, project: str) -> None:
    register(sync_client, project, "m", 3)
    fp = pagination.fingerprint("", "", project, "m", False)
    # It would skip version 2: the server must not take a client's word for where it was.
    forged = _hand_made(fp, [2, 2])
    assert_raw_invalid(sync_client.stub.ListModelVersions, _versions(project, forged), "page_token")


def test_every_single_bit_flip_of_a_token_is_refused(
    sync_client: modelreg.Client, project: str
) -> None:
    register(sync_client, project, "m", 3)
    token = _first_token(sync_client, project)
    raw = _unb64(token)
    for i in range(len(raw)):
        edited = _b64(raw[:i] + bytes([raw[i] ^ 1]) + raw[i + 1 :])
        assert_raw_invalid(
            sync_client.stub.ListModelVersions, _versions(project, edited), "page_token"
        )
    # The genuine token still continues the listing.
    page = sync_client.stub.ListModelVersions(_versions(project, token), timeout=10)
    assert [v.version for v in page.model_versions] == [2]


def test_hand_made_tokens_with_hostile_keys_are_invalid_argument(
    sync_client: modelreg.Client, project: str
) -> None:
    sync_client.create_model(project, "a")
    sync_client.create_model(project, "b")
    models_fp = pagination.fingerprint("", "", project)
    projects_fp = pagination.fingerprint("", "create_time")
    cases = [
        # A lone surrogate as the model name to continue after.
        rpc.ListModelsRequest(
            parent=f"projects/{project}", page_token=_hand_made(models_fp, ["\ud800", 1])
        ),
        # A time before year 1 once in UTC.
        rpc.ListProjectsRequest(
            order_by="create_time",
            page_token=_hand_made(projects_fp, [{"t": "0001-01-01T00:00:00+14:00"}, 1]),
        ),
        rpc.ListProjectsRequest(
            order_by="create_time", page_token=_hand_made(projects_fp, [{"t": "never"}, 1])
        ),
    ]
    for request in cases:
        call = (
            sync_client.stub.ListModels
            if isinstance(request, rpc.ListModelsRequest)
            else sync_client.stub.ListProjects
        )
        assert_raw_invalid(call, request, "page_token")
    # A 5,000-digit id, hand-made in JSON.
    huge = _b64(b'{"q":"' + models_fp.encode() + b'","k":["a",' + b"9" * 5000 + b"]}")
    request = rpc.ListModelsRequest(parent=f"projects/{project}", page_token=huge)
    assert_raw_invalid(sync_client.stub.ListModels, request, "page_token")


def test_a_replica_continues_a_listing_and_another_deployment_refuses_its_token(
    sync_client: modelreg.Client, project: str, database_url: str, pg_server_url: str
) -> None:
    register(sync_client, project, "m", 3)
    token = _first_token(sync_client, project)
    # Another server process on the same database shares the key.
    with running_server(database_url) as replica, modelreg.Client(replica.target) as other:
        page = other.stub.ListModelVersions(_versions(project, token), timeout=10)
        assert [v.version for v in page.model_versions] == [2]
        assert page.next_page_token
    # Another deployment (its own database) with the same names has its own key.
    with (
        fresh_database(pg_server_url) as other_url,
        running_server(other_url) as elsewhere,
        modelreg.Client(elsewhere.target, actor="tester") as other,
    ):
        other.create_project(project)
        register(other, project, "m", 3)
        request = _versions(project, token)
        assert_raw_invalid(other.stub.ListModelVersions, request, "page_token")
        # Its own tokens work there.
        page = other.stub.ListModelVersions(_versions(project, ""), timeout=10)
        again = other.stub.ListModelVersions(_versions(project, page.next_page_token))
        assert [v.version for v in again.model_versions] == [2]
