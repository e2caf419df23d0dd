"""API keys as AccessService sees them: what a create asks for, what is stored
(never the token), the names keys go by and the state a key is in at a given time.

Roles, tokens and the caller are domain/access.py's."""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import datetime

from modelreg_server.domain.access import TOKEN_PREFIX, Role

KIND = "api key"
# What owner and created_by default to for the key made at first start or by
# `modelreg keys bootstrap`.
BOOTSTRAP_OWNER = "bootstrap"


class KeyState(enum.Enum):
    ACTIVE = "ACTIVE"
    REVOKED = "REVOKED"
    EXPIRED = "EXPIRED"


@dataclass(frozen=True)
class NewApiKey:
    """What CreateApiKey asks for; ``owner`` empty: the creator's actor."""

    role: Role
    owner: str = ""
    description: str = ""
    expire_time: datetime | None = None
    rate_limit: float = 0.0


@dataclass(frozen=True)
class ApiKey:
    """A stored key, without its hash."""

    key_id: str
    project: str | None
    role: Role
    owner: str
    description: str
    expire_time: datetime | None
    rate_limit: float
    create_time: datetime
    created_by: str
    revoke_time: datetime | None
    revoked_by: str

    @property
    def prefix(self) -> str:
        return f"{TOKEN_PREFIX}{self.key_id}"

    @property
    def name(self) -> str:
        return key_name(self.project, self.key_id)

    def state(self, now: datetime) -> KeyState:
        if self.revoke_time is not None:
            return KeyState.REVOKED
        if self.expire_time is not None and self.expire_time <= now:
            return KeyState.EXPIRED
        return KeyState.ACTIVE


@dataclass(frozen=True)
class CreatedKey:
    """A new key and its token: the only time the token is seen."""

    key: ApiKey
    token: str


def key_name(project: str | None, key_id: str) -> str:
    """``projects/{p}/apiKeys/{id}``, or ``apiKeys/{id}`` for a server admin key."""
    return f"apiKeys/{key_id}" if project is None else f"projects/{project}/apiKeys/{key_id}"
