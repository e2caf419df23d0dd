"""Pure conversions between AccessService's messages and the SDK's key types, and the
names keys go by."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

from modelreg._convert import EnumMap, optional_time, time, time_to_pb
from modelreg._key_types import ApiKey, ApiKeyRole, ApiKeyState
from modelreg.api.v1 import access_service_pb2 as pb

ROLE = EnumMap(pb.ApiKey.DESCRIPTOR.fields_by_name["role"], ApiKeyRole, prefix="API_KEY_ROLE_")
STATE = EnumMap(pb.ApiKey.DESCRIPTOR.fields_by_name["state"], ApiKeyState, prefix="API_KEY_STATE_")
TOKEN_PREFIX = "mrk_"


def api_key(msg: pb.ApiKey) -> ApiKey:
    return ApiKey(
        name=msg.name,
        key_id=msg.key_id,
        prefix=msg.prefix,
        project=msg.project or None,
        role=ROLE.decode(msg.role),
        owner=msg.owner,
        description=msg.description,
        expire_time=optional_time(msg, "expire_time"),
        rate_limit=msg.rate_limit,
        state=STATE.decode(msg.state),
        create_time=time(msg.create_time),
        created_by=msg.created_by,
        revoke_time=optional_time(msg, "revoke_time"),
        revoked_by=msg.revoked_by,
    )


def role(value: ApiKeyRole | str) -> ApiKeyRole:
    """``ApiKeyRole.ADMIN``, ``"admin"``, ``"server-admin"`` or ``"SERVER_ADMIN"``."""
    if isinstance(value, ApiKeyRole):
        return value
    try:
        return ApiKeyRole(value.strip().upper().replace("-", "_"))
    except ValueError:
        raise ValueError(
            f"role: expected reader, writer, admin or server-admin, got {value!r}"
        ) from None


def parent(project: str | None) -> str:
    return "" if project is None else f"projects/{project}"


def key_name(key: ApiKey | str, project: str | None = None) -> str:
    """A key's resource name from an ApiKey, its name, its prefix (``mrk_...``) or its
    id; a prefix or id names a key of ``project`` (None: a server admin key)."""
    if isinstance(key, ApiKey):
        return key.name
    if key.startswith(("projects/", "apiKeys/")):
        return key
    key_id = key.removeprefix(TOKEN_PREFIX)
    return f"apiKeys/{key_id}" if project is None else f"projects/{project}/apiKeys/{key_id}"


def expire_time(expires: datetime | timedelta | None) -> datetime | None:
    """When a key given ``expires`` (a time, or a duration from now) stops working."""
    if expires is None or isinstance(expires, datetime):
        return expires
    return datetime.now(timezone.utc) + expires


def new_key(
    role_: ApiKeyRole | str,
    owner: str | None,
    description: str,
    expires: datetime | timedelta | None,
    rate_limit: float,
) -> pb.ApiKey:
    msg = pb.ApiKey(
        role=pb.ApiKeyRole.ValueType(ROLE.encode(role(role_))),
        owner=owner or "",
        description=description,
        rate_limit=rate_limit,
    )
    when = expire_time(expires)
    if when is not None:
        msg.expire_time.CopyFrom(time_to_pb(when))
    return msg
