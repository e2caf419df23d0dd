"""Result types of API keys. Frozen, protobuf-free; times are timezone-aware UTC
datetimes. A key's token is shown once, in the CreatedApiKey a create returns."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class ApiKeyRole(str, enum.Enum):
    """What a key may do: READER (every read of its project), WRITER (reads, and
    writes of versions, runs, datasets, evaluations, pipeline runs, inference records
    and feedback), ADMIN (everything on its project: aliases, deployments, deletes,
    keys), SERVER_ADMIN (everything on every project, projects and every key)."""

    READER = "READER"
    WRITER = "WRITER"
    ADMIN = "ADMIN"
    SERVER_ADMIN = "SERVER_ADMIN"


class ApiKeyState(str, enum.Enum):
    """Whether a key is accepted now."""

    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class ApiKey:
    """An API key, without its token. ``name`` is ``projects/{p}/apiKeys/{key_id}``, or
    ``apiKeys/{key_id}`` for a server admin key (whose ``project`` is None); ``prefix``,
    ``mrk_{key_id}``, is how its token starts and names it in lists and logs."""

    name: str
    key_id: str
    prefix: str
    project: str | None
    role: ApiKeyRole
    owner: str
    description: str
    expire_time: datetime | None
    rate_limit: float  # requests per second; 0: the server's limit
    state: ApiKeyState
    create_time: datetime
    created_by: str
    revoke_time: datetime | None
    revoked_by: str

    @property
    def resource_name(self) -> str:
        return self.name


@dataclass(frozen=True)
class CreatedApiKey:
    """A new key and its secret ``token`` (``mrk_{key_id}_{secret}``): the server keeps
    only its hash, so this is the only time it is seen. Send it as the client's
    ``api_key``. The token is left out of ``repr``."""

    key: ApiKey
    token: str = field(repr=False)
