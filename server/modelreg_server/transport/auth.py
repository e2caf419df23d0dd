"""Authentication, authorization and rate limits: the pipeline's step between the
request's arrival and the servicer (transport/handlers.py calls each method's
``Guard``).

- **Authentication** (auth on): the ``authorization: Bearer mrk_...`` metadata
  names a key by its id; the row is read once and then trusted for
  ``MODELREG_AUTH_CACHE_S`` in this process (a revocation here drops it at once,
  ``forget``; other processes notice within that time). The token's SHA-256 is
  compared in constant time. Missing, malformed, unknown, revoked or expired:
  UNAUTHENTICATED.
- **Authorization**: the method's rule (permissions.py) names the permission and
  the request field that holds the project. Decided from the request alone,
  before the servicer runs, so PERMISSION_DENIED comes before NOT_FOUND. Every
  other resource name the request refers to (``Rule.refs``: training data, run
  inputs, pipeline step inputs and outputs, ...) must be in a project the key may
  read. A request stream is checked message by message.
- **Rate limit**: a token bucket per key and process (``MODELREG_RATE_LIMIT_RPS``,
  burst ``MODELREG_RATE_LIMIT_BURST``; a key's own ``rate_limit`` wins, with a
  burst of one second's worth): over it, RESOURCE_EXHAUSTED naming the limit,
  with the delay to retry after (RetryInfo). A call counts once, a stream too.

A method without a rule is refused to everyone, auth on or off. Every refusal is
an audit line and a metric (audit.py).
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import grpc
from google.protobuf import duration_pb2
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_status import rpc_status

from modelreg_server import audit
from modelreg_server.domain import access, errors
from modelreg_server.domain.access import Permission, Principal, Role
from modelreg_server.permissions import Rule, project_of
from modelreg_server.transport.errors import DOMAIN, _pack
from modelreg_server.transport.handlers import Call, Rejection

AUTHORIZATION = "authorization"
RATE_LIMIT_ENV = "MODELREG_RATE_LIMIT_RPS"
KEY_RATE_LIMIT = "api_key.rate_limit"
# Keys (and refusals) this process remembers at most; beyond, it starts afresh.
MAX_CACHED = 10_000
# Key lookups in the database at once: a flood of unknown tokens cannot take
# more of the pool than this.
MAX_LOOKUPS = 4

_LIVE: weakref.WeakSet[Authenticator] = weakref.WeakSet()


class KeyRow(Protocol):
    """What authentication reads of a key (storage/api_keys.KeyRecord)."""

    @property
    def key_id(self) -> str: ...
    @property
    def secret_hash(self) -> bytes: ...
    @property
    def project(self) -> str | None: ...
    @property
    def role(self) -> access.Role: ...
    @property
    def owner(self) -> str: ...
    @property
    def rate_limit(self) -> float: ...
    @property
    def expire_time(self) -> datetime | None: ...
    @property
    def revoke_time(self) -> datetime | None: ...


# Reads a key by its id (app.py hands in storage/api_keys.find on the server's store).
KeyLookup = Callable[[str], Awaitable[KeyRow | None]]


def forget(key_id: str) -> None:
    """Drop ``key_id`` from this process's caches (it was just revoked)."""
    for auth in list(_LIVE):
        auth.forget(key_id)


@dataclass(frozen=True)
class _Known:
    """A verified key (``principal``), or why a token was refused (``reason``),
    until ``until`` (monotonic)."""

    principal: Principal | None
    reason: str
    message: str
    until: float


class _Bucket:
    __slots__ = ("burst", "rate", "stamp", "tokens")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self.tokens = burst
        self.stamp = now

    def take(self, now: float) -> float:
        """0 if a token was taken; else the seconds until one is there."""
        tokens = min(self.burst, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if tokens >= 1.0:
            self.tokens = tokens - 1.0
            return 0.0
        self.tokens = tokens
        return (1.0 - tokens) / self.rate


class Authenticator:
    """The keys of one server process: verification, cache, buckets."""

    def __init__(
        self,
        lookup: KeyLookup | None,
        *,
        enabled: bool,
        cache_s: float = 5.0,
        rate_limit_rps: float = 0.0,
        rate_limit_burst: int = 1,
        clock: Callable[[], float] = time.monotonic,
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.enabled = enabled
        self._lookup = lookup
        self._cache_s = cache_s
        self._rate = rate_limit_rps
        self._burst = float(rate_limit_burst)
        self._clock = clock
        self._wall = wall
        self._known: dict[str, _Known] = {}
        self._buckets: dict[str, _Bucket] = {}
        self._lookups = asyncio.Semaphore(MAX_LOOKUPS)
        _LIVE.add(self)

    def forget(self, key_id: str) -> None:
        for token in [t for t, k in self._known.items() if access.key_id_of(t) == key_id]:
            del self._known[token]
        self._buckets.pop(key_id, None)

    async def authenticate(self, context: grpc.aio.ServicerContext) -> Principal:
        """The call's key, or UNAUTHENTICATED (errors.Unauthenticated)."""
        token = _bearer(context)
        if token is None:
            raise errors.Unauthenticated(
                "this server needs an API key: send metadata 'authorization: Bearer mrk_...' "
                "(SDK api_key=, CLI --api-key, or $MODELREG_API_KEY)",
                reason="API_KEY_MISSING",
            )
        now = self._clock()
        known = self._known.get(token)
        if known is None or known.until <= now:
            known = await self._verify(token, now)
        principal = known.principal
        if principal is None:
            raise errors.Unauthenticated(known.message, reason=known.reason)
        expire = principal.expire_time
        if expire is not None and expire.timestamp() <= self._wall():
            raise errors.Unauthenticated(
                f"API key {principal.prefix} expired at {expire.isoformat()}",
                reason="API_KEY_EXPIRED",
            )
        return principal

    async def _verify(self, token: str, now: float) -> _Known:
        key_id = access.key_id_of(token)
        record = None
        if key_id is not None and self._lookup is not None:
            async with self._lookups:
                record = await self._lookup(key_id)
        if record is None or not access.matches(token, record.secret_hash):
            shown = f"mrk_{key_id}" if key_id is not None else "a malformed token"
            known = _Known(None, "API_KEY_UNKNOWN", f"API key not recognized ({shown})", 0.0)
        elif record.revoke_time is not None:
            known = _Known(
                None,
                "API_KEY_REVOKED",
                f"API key mrk_{record.key_id} was revoked at {record.revoke_time.isoformat()}",
                0.0,
            )
        else:
            principal = Principal(
                key_id=record.key_id,
                owner=record.owner,
                role=record.role,
                project=record.project,
                rate_limit=record.rate_limit,
                expire_time=record.expire_time,
            )
            known = _Known(principal, "", "", 0.0)
        if self._cache_s > 0:
            if len(self._known) >= MAX_CACHED:
                self._known.clear()
            known = _Known(known.principal, known.reason, known.message, now + self._cache_s)
            self._known[token] = known
        return known

    def throttle(self, principal: Principal, method: str) -> None:
        """Take a token from the key's bucket, or refuse the call."""
        rate = principal.rate_limit or self._rate
        if rate <= 0:
            return
        now = self._clock()
        bucket = self._buckets.get(principal.key_id)
        if bucket is None or bucket.rate != rate:
            if len(self._buckets) >= MAX_CACHED:
                self._buckets.clear()
            # A key's own rate holds one second's worth; the server's, its burst setting.
            burst = max(1.0, principal.rate_limit) if principal.rate_limit else self._burst
            bucket = _Bucket(rate, max(burst, 1.0), now)
            self._buckets[principal.key_id] = bucket
        wait = bucket.take(now)
        if wait > 0:
            limit = KEY_RATE_LIMIT if principal.rate_limit else RATE_LIMIT_ENV
            message = (
                f"API key {principal.prefix} is over its rate limit ({limit}: {rate:g} "
                f"requests/s, burst {bucket.burst:g}); retry in {wait:.3f} s"
            )
            audit.denied(principal.prefix, method, "", "RATE_LIMITED", message)
            raise Rejection(
                rate_limited_status(message, limit, rate, wait),
                grpc.StatusCode.RESOURCE_EXHAUSTED,
            )


def rate_limited_status(message: str, limit: str, rate: float, wait: float) -> grpc.Status:
    info = error_details_pb2.ErrorInfo(
        reason="RATE_LIMITED", domain=DOMAIN, metadata={"limit": limit, "value": f"{rate:g}"}
    )
    delay = duration_pb2.Duration()
    delay.FromNanoseconds(max(1, round(wait * 1e9)))
    retry = error_details_pb2.RetryInfo(retry_delay=delay)
    status = status_pb2.Status(
        code=code_pb2.RESOURCE_EXHAUSTED, message=message, details=[_pack(info), _pack(retry)]
    )
    return rpc_status.to_status(status)


def _bearer(context: grpc.aio.ServicerContext) -> str | None:
    for key, value in context.invocation_metadata() or ():
        if key == AUTHORIZATION and isinstance(value, str):
            scheme, _, token = value.strip().partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


# The request fields a rule reads: compiled once per method.


def _getter(descriptor: Descriptor, path: str) -> Callable[[Any], Iterator[str]]:
    """Reads the strings at ``path`` (``a.b``, ``a[].b``) of a request; checks
    the path against the message type at startup."""
    steps: list[tuple[str, bool]] = []
    message: Descriptor | None = descriptor
    for part in path.split("."):
        name, repeated = (part[:-2], True) if part.endswith("[]") else (part, False)
        if message is None or name not in message.fields_by_name:
            raise ValueError(f"{descriptor.full_name}: no field {path!r}")
        field = message.fields_by_name[name]
        if field.is_repeated != repeated:
            raise ValueError(f"{descriptor.full_name}.{path}: '[]' must mark repeated fields")
        steps.append((name, repeated))
        message = field.message_type if field.type == FieldDescriptor.TYPE_MESSAGE else None
        last = field
    if last.type != FieldDescriptor.TYPE_STRING:
        raise ValueError(f"{descriptor.full_name}.{path}: not a string field")

    def read(request: Any) -> Iterator[str]:
        values = [request]
        for name, repeated in steps:
            if repeated:
                values = [item for v in values for item in getattr(v, name)]
            else:
                values = [getattr(v, name) for v in values]
        return iter(values)

    return read


class Guard:
    """One method's authentication, rule and rate limit, run before its servicer."""

    def __init__(
        self,
        auth: Authenticator,
        label: str,
        rule: Rule | None,
        request_type: Descriptor,
        client_streaming: bool,
    ) -> None:
        self.auth = auth
        self.label = label
        self.rule = rule
        self.client_streaming = client_streaming
        self._field = None
        self._refs: tuple[Callable[[Any], Iterator[str]], ...] = ()
        if rule is not None:
            if rule.field is not None:
                self._field = _getter(request_type, rule.field)
            self._refs = tuple(_getter(request_type, ref) for ref in rule.refs)

    async def __call__(self, call: Call, request: Any, context: grpc.aio.ServicerContext) -> Any:
        if self.rule is None:
            message = f"{self.label} has no entry in the permission table: refused"
            audit.denied("", self.label, "", "NO_PERMISSION_RULE", message)
            raise errors.PermissionDenied(message, reason="NO_PERMISSION_RULE")
        if not self.auth.enabled:
            return request
        try:
            principal = await self.auth.authenticate(context)
        except errors.Unauthenticated as exc:
            resource = "" if self.client_streaming else self._resource(request)
            audit.denied(_prefix_of(context), self.label, resource, exc.reason, exc.message)
            raise
        call.principal = principal
        self.auth.throttle(principal, self.label)
        if self.client_streaming:
            return self._each(principal, request)
        self.check(principal, request)
        return request

    def _resource(self, request: Any) -> str:
        if self._field is None:
            return ""
        return next(self._field(request), "")

    def check(self, principal: Principal, request: Any) -> None:
        """PERMISSION_DENIED unless ``principal`` may make this request."""
        rule = self.rule
        assert rule is not None
        resource = self._resource(request)
        project = project_of(resource) if self._field is not None else None
        if not principal.allows(rule.permission, project):
            self._deny(principal, rule.permission, resource, project)
        if principal.project is None:
            return  # a server admin reads everything
        for read in self._refs:
            for name in read(request):
                other = project_of(name)
                if other is not None and other != principal.project:
                    self._deny(principal, Permission.READ, name, other)

    def _deny(
        self, principal: Principal, permission: Permission, resource: str, project: str | None
    ) -> None:
        if permission is Permission.SERVER:
            need = "a server admin key"
        elif project is None:
            field = self.rule.field if self.rule is not None else None
            need = (
                f"a project in {field} (projects/{{project}}/...), or a server admin key"
                if field
                else "a server admin key"
            )
        else:
            role: Role = permission.value
            need = f"role {role.name.lower()} on project {project}"
        message = f"{principal.describe()} may not call {self.label}"
        if resource:
            message += f" on {audit.clip(resource)}"
        message += f": it needs {need}"
        audit.denied(principal.prefix, self.label, resource, "PERMISSION_DENIED", message)
        raise errors.PermissionDenied(message, metadata={"key": principal.prefix})

    async def _each(self, principal: Principal, requests: AsyncIterator[Any]) -> AsyncIterator[Any]:
        async for request in requests:
            self.check(principal, request)
            yield request


def _prefix_of(context: grpc.aio.ServicerContext) -> str:
    token = _bearer(context)
    key_id = access.key_id_of(token) if token is not None else None
    return f"{access.TOKEN_PREFIX}{key_id}" if key_id is not None else ""
