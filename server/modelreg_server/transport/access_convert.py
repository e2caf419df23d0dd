"""Pure conversions of AccessService's messages: key names and parents parsed
(bad ones name the field), a create's ApiKey to a domain NewApiKey, and stored
keys filling ApiKey messages in place (never a token: only CreateApiKey's
response carries one, set by the servicer)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp

from modelreg.api.v1 import access_service_pb2 as pb
from modelreg_server.domain.access import KEY_ID_RE, Role
from modelreg_server.domain.api_keys import ApiKey, KeyState, NewApiKey
from modelreg_server.domain.errors import InvalidArgument
from modelreg_server.service import validation
from modelreg_server.transport import names
from modelreg_server.transport.convert import (
    EPOCH,
    FIRST_TIME,
    TIME_RANGE,
    EnumMap,
    set_time,
    storable,
)

ROLES = EnumMap(Role, pb.ApiKeyRole.DESCRIPTOR, "API_KEY_ROLE_")
STATES = EnumMap(KeyState, pb.ApiKeyState.DESCRIPTOR, "API_KEY_STATE_")
_ROLE_NUMBER: dict[Any, Any] = dict(ROLES.to_pb)
_STATE_NUMBER: dict[Any, Any] = dict(STATES.to_pb)
_KEY_NAMES = "projects/{project}/apiKeys/{key_id} or apiKeys/{key_id}"


def parent(value: str, field: str = "parent") -> str | None:
    """``projects/{p}`` -> p; empty -> None (the server admin keys)."""
    return None if not value else names.project(value, field)


def key(name: str, field: str = "name") -> tuple[str | None, str]:
    """A key's name -> (project or None, key_id)."""
    parts = name.split("/")
    if len(parts) == 4 and parts[0] == "projects" and parts[2] == "apiKeys":
        project: str | None = validation.name(parts[1], field, "project")
        key_id = parts[3]
    elif len(parts) == 2 and parts[0] == "apiKeys":
        project, key_id = None, parts[1]
    else:
        raise InvalidArgument(field, f"expected {_KEY_NAMES}, got {validation.shown(name)}")
    if not KEY_ID_RE.fullmatch(key_id):
        raise InvalidArgument(
            field, f"invalid key id {validation.shown(key_id)}: 12 characters of a-z and 2-7"
        )
    return project, key_id


def _time(ts: Timestamp, field: str) -> datetime:
    try:
        when = EPOCH + timedelta(seconds=ts.seconds, microseconds=ts.nanos // 1_000)
    except OverflowError:
        when = FIRST_TIME
    if not storable(when):
        raise InvalidArgument(field, TIME_RANGE)
    return when


def new_key(msg: pb.ApiKey, field: str = "api_key") -> NewApiKey:
    """What a create asks for; output-only fields are ignored."""
    if msg.role == pb.API_KEY_ROLE_UNSPECIFIED:
        raise InvalidArgument(f"{field}.role", "required: READER, WRITER, ADMIN or SERVER_ADMIN")
    return NewApiKey(
        role=ROLES.parse(msg.role, f"{field}.role"),
        owner=msg.owner,
        description=msg.description,
        expire_time=_time(msg.expire_time, f"{field}.expire_time")
        if msg.HasField("expire_time")
        else None,
        rate_limit=msg.rate_limit,
    )


def fill_key(msg: pb.ApiKey, k: ApiKey, now: datetime) -> pb.ApiKey:
    msg.name = k.name
    msg.key_id = k.key_id
    msg.prefix = k.prefix
    msg.project = k.project or ""
    msg.role = _ROLE_NUMBER[k.role]
    msg.owner = k.owner
    msg.description = k.description
    if k.expire_time is not None:
        set_time(msg.expire_time, k.expire_time)
    msg.rate_limit = k.rate_limit
    msg.state = _STATE_NUMBER[k.state(now)]
    set_time(msg.create_time, k.create_time)
    msg.created_by = k.created_by
    if k.revoke_time is not None:
        set_time(msg.revoke_time, k.revoke_time)
    msg.revoked_by = k.revoked_by
    return msg
