"""Who may call what: roles, permissions, API key tokens and the caller.

A key's token is ``mrk_{key_id}_{secret}``: ``key_id`` (the lookup id, not secret)
finds its row; the whole token's SHA-256, compared in constant time, proves it.
Only the hash is stored."""

from __future__ import annotations

import enum
import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import datetime

TOKEN_PREFIX = "mrk_"
KEY_ID_CHARS = 12  # lowercase base32: 60 random bits, unique enough to look up by
SECRET_BYTES = 32  # 256 random bits
_BASE32 = "abcdefghijklmnopqrstuvwxyz234567"
KEY_ID_RE = re.compile(r"^[a-z2-7]{12}$")
TOKEN_RE = re.compile(r"^mrk_([a-z2-7]{12})_([A-Za-z0-9_-]{43})$")
MAX_OWNER = 256
MAX_DESCRIPTION = 1_000


class Role(enum.IntEnum):
    """A key's role, in order of what it grants: each grants what those below do."""

    READER = 1
    WRITER = 2
    ADMIN = 3
    SERVER_ADMIN = 4

    @property
    def stored(self) -> str:
        return self.name.lower()

    @classmethod
    def from_stored(cls, value: str) -> Role:
        return cls[value.upper()]


class Permission(enum.Enum):
    """What an RPC needs. READ, WRITE and ADMIN are on the project the request
    names; SERVER on the whole server; CALLER only a valid key (the RPC itself
    narrows what it answers to the key's project, e.g. ListProjects)."""

    READ = Role.READER
    WRITE = Role.WRITER
    ADMIN = Role.ADMIN
    SERVER = Role.SERVER_ADMIN
    CALLER = 0


@dataclass(frozen=True)
class Principal:
    """The caller, as its key says: the key's id, owner, role and project (None
    for a server admin), and its own rate limit (0: the server's)."""

    key_id: str
    owner: str
    role: Role
    project: str | None
    rate_limit: float = 0.0
    expire_time: datetime | None = None

    @property
    def prefix(self) -> str:
        return f"{TOKEN_PREFIX}{self.key_id}"

    def allows(self, permission: Permission, project: str | None) -> bool:
        """Whether this key may make a call that needs ``permission`` on ``project``
        (None: the request names no project, which only a server admin may do)."""
        if self.role is Role.SERVER_ADMIN:
            return True
        if permission is Permission.CALLER:
            return True
        if permission is Permission.SERVER or project is None or project != self.project:
            return False
        needed: Role = permission.value
        return self.role >= needed

    def describe(self) -> str:
        where = "the server" if self.project is None else f"project {self.project}"
        return f"key {self.prefix} ({self.role.name.lower()} of {where})"


def new_token() -> tuple[str, str]:
    """A fresh (key_id, token)."""
    key_id = "".join(secrets.choice(_BASE32) for _ in range(KEY_ID_CHARS))
    secret = secrets.token_urlsafe(SECRET_BYTES)
    return key_id, f"{TOKEN_PREFIX}{key_id}_{secret}"


def token_hash(token: str) -> bytes:
    return hashlib.sha256(token.encode("ascii", "replace")).digest()


def key_id_of(token: str) -> str | None:
    """The key id a well-formed token names; None for anything else."""
    match = TOKEN_RE.match(token)
    return match.group(1) if match else None


def matches(token: str, stored_hash: bytes) -> bool:
    """Constant time in the token's content."""
    return hmac.compare_digest(token_hash(token), stored_hash)
