"""Connection settings shared by Client and AsyncClient."""

from __future__ import annotations

import getpass
import os
import random
from collections.abc import Mapping
from dataclasses import dataclass, field

DEFAULT_TARGET = "127.0.0.1:50051"
ACTOR_METADATA = "modelreg-actor"
# Page size of the list iterators when the caller passes none (0); the server caps pages at 1000.
DEFAULT_PAGE_SIZE = 500


def default_target() -> str:
    return os.environ.get("MODELREG_TARGET") or DEFAULT_TARGET


def _printable_ascii(value: str) -> bool:
    return value.isascii() and value.isprintable() and 0 < len(value) <= 256


def default_actor() -> str:
    try:
        user = getpass.getuser()
    except (KeyError, OSError):
        return "unknown"
    return user if _printable_ascii(user) else "unknown"


def check_actor(actor: str | None) -> str:
    """The actor travels in gRPC metadata, which carries printable ASCII only."""
    if actor is None:
        return default_actor()
    if not _printable_ascii(actor):
        raise ValueError(f"actor must be 1-256 printable ASCII characters, got {actor!r}")
    return actor


@dataclass(frozen=True)
class RetryPolicy:
    """How a failed call is retried: UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED (by
    the server, e.g. as it shuts down), with jittered exponential backoff, until
    ``total_timeout_s`` is spent.

    The default budget (30 s) outlasts a restart of the server or of its database.
    Each attempt gets a fresh deadline, the client's ``timeout`` (cut short by what
    is left of the budget); no backoff sleeps past the budget. Reads (Get/List) are
    idempotent; mutations are safe to retry because the request, with its
    ``request_id``, is built once per logical call and sent again unchanged, so the
    server applies it at most once. When the budget (or ``max_attempts``) runs out
    the last error is raised; for a mutation it carries ``.request_id``: call again
    with that id (every mutating method takes ``request_id=err.request_id``) and a
    mutation that did land is returned instead of being applied twice.

    Attributes:
        max_attempts: attempts per call at most; None means as many as the budget allows.
        initial_backoff_s: sleep ceiling before the first retry.
        max_backoff_s: cap of the sleep between attempts.
        multiplier: growth of the sleep ceiling per attempt.
        total_timeout_s: budget of one logical call, attempts and sleeps together.
    """

    max_attempts: int | None = None
    initial_backoff_s: float = 0.05
    max_backoff_s: float = 1.0
    multiplier: float = 2.0
    total_timeout_s: float = 30.0

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_backoff_s, self.initial_backoff_s * self.multiplier**attempt)
        return random.uniform(ceiling / 2, ceiling)

    def may_retry(self, attempts_made: int) -> bool:
        return self.max_attempts is None or attempts_made < self.max_attempts


# Keepalive: a ping every DEFAULT_KEEPALIVE_S on an open connection, idle or not; no ack
# within KEEPALIVE_TIMEOUT_S (or the interval, if shorter) and the connection is
# dropped, so a silently dead one (a black-holed NAT entry, a frozen peer) fails the
# calls on it with UNAVAILABLE, which are retried on a new connection. The server
# permits pings this frequent (app.build_server).
DEFAULT_KEEPALIVE_S = 10.0
KEEPALIVE_TIMEOUT_S = 5.0


def channel_options(keepalive_s: float = DEFAULT_KEEPALIVE_S) -> tuple[tuple[str, int], ...]:
    """The options of every channel the SDK opens."""
    keepalive_ms = max(1, round(keepalive_s * 1000))
    timeout_ms = min(round(KEEPALIVE_TIMEOUT_S * 1000), keepalive_ms)
    return (
        ("grpc.max_receive_message_length", 16 * 1024 * 1024),
        ("grpc.max_send_message_length", 16 * 1024 * 1024),
        # The SDK retries, with its own budget; grpc's retries would multiply it.
        ("grpc.enable_retries", 0),
        ("grpc.keepalive_time_ms", keepalive_ms),
        ("grpc.keepalive_timeout_ms", timeout_ms),
        # Newer grpc cores time a keepalive ping out with the general ping timeout.
        ("grpc.http2.ping_timeout_ms", timeout_ms),
        ("grpc.keepalive_permit_without_calls", 1),
        ("grpc.http2.max_pings_without_data", 0),
        # Reconnect quickly after an outage: grpc's default backoff grows to 120 s,
        # during which every attempt fails at once without dialling.
        ("grpc.initial_reconnect_backoff_ms", 100),
        ("grpc.min_reconnect_backoff_ms", 100),
        ("grpc.max_reconnect_backoff_ms", 1000),
    )


CHANNEL_OPTIONS = channel_options()


# Who the client says it is, and how it protects the connection: every channel the
# SDK opens (Client, AsyncClient, the inference loggers) is built from one of these.
AUTHORIZATION_METADATA = "authorization"
API_KEY_ENV = "MODELREG_API_KEY"
TLS_CA_ENV = "MODELREG_TLS_CA"
TLS_CERT_ENV = "MODELREG_CLIENT_CERT"
TLS_KEY_ENV = "MODELREG_CLIENT_KEY"


@dataclass(frozen=True)
class Security:
    """The API key and the TLS material of a client, read once (a forked child's
    logger reuses it without touching the files again). ``repr`` shows neither the
    key nor the private key."""

    api_key: str | None = field(default=None, repr=False)
    tls: bool = False
    # PEM bytes: CA bundle (None: the system's roots), client certificate chain and key.
    root_certificates: bytes | None = None
    certificate_chain: bytes | None = None
    private_key: bytes | None = field(default=None, repr=False)

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """What every call carries: the bearer token, when there is a key."""
        if self.api_key is None:
            return ()
        return ((AUTHORIZATION_METADATA, f"Bearer {self.api_key}"),)


def _option_names(arg: str, env: str) -> str:
    return f"{arg} (--{arg.replace('_', '-')}, ${env})"


def _read_pem(path: str | os.PathLike[str], arg: str, env: str) -> bytes:
    try:
        with open(path, "rb") as file:
            data = file.read()
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise ValueError(
            f"{_option_names(arg, env)}: cannot read {str(path)!r}: {reason}"
        ) from None
    if b"-----BEGIN " not in data:
        raise ValueError(f"{_option_names(arg, env)}: {str(path)!r} is not a PEM file")
    return data


def _check_pair(cert: str | os.PathLike[str], key: str | os.PathLike[str]) -> None:
    """A client certificate and key that do not match fail here, not as an opaque
    handshake failure at the first call."""
    import ssl  # only clients with a certificate pay for it

    _read_pem(cert, "tls_cert", TLS_CERT_ENV)
    _read_pem(key, "tls_key", TLS_KEY_ENV)

    def no_password() -> bytes:
        raise ValueError("encrypted private keys are not supported")

    try:
        ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT).load_cert_chain(cert, key, password=no_password)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise ValueError(
            f"{_option_names('tls_cert', TLS_CERT_ENV)} {str(cert)!r} and "
            f"{_option_names('tls_key', TLS_KEY_ENV)} {str(key)!r}: not a certificate and "
            f"its matching private key ({exc})"
        ) from None


def check_api_key(api_key: str) -> str:
    """A key travels in gRPC metadata: printable ASCII without spaces. The message
    never quotes the key."""
    key = api_key.strip()
    if not key or not key.isascii() or not key.isprintable() or " " in key or len(key) > 1024:
        raise ValueError(
            f"api_key (--api-key, ${API_KEY_ENV}): an API key is printable ASCII without "
            "spaces, at most 1024 characters"
        )
    return key


def security(
    *,
    api_key: str | None = None,
    tls: bool = False,
    tls_ca: str | os.PathLike[str] | None = None,
    tls_cert: str | os.PathLike[str] | None = None,
    tls_key: str | os.PathLike[str] | None = None,
    env: Mapping[str, str] | None = None,
) -> Security:
    """The client's ``Security`` from its arguments, each falling back to its
    environment variable ($MODELREG_API_KEY, $MODELREG_TLS_CA, $MODELREG_CLIENT_CERT,
    $MODELREG_CLIENT_KEY). TLS is on when ``tls`` is true or any TLS file is given.
    Files are read now: a missing or unreadable one is a ValueError naming the option."""
    env = os.environ if env is None else env
    api_key = api_key or env.get(API_KEY_ENV) or None
    tls_ca = tls_ca or env.get(TLS_CA_ENV) or None
    tls_cert = tls_cert or env.get(TLS_CERT_ENV) or None
    tls_key = tls_key or env.get(TLS_KEY_ENV) or None
    if (tls_cert is None) != (tls_key is None):
        raise ValueError(
            f"{_option_names('tls_cert', TLS_CERT_ENV)} and "
            f"{_option_names('tls_key', TLS_KEY_ENV)} go together (a client certificate "
            "and its private key)"
        )
    if tls_cert is not None and tls_key is not None:
        _check_pair(tls_cert, tls_key)
    return Security(
        api_key=None if api_key is None else check_api_key(api_key),
        tls=bool(tls or tls_ca or tls_cert),
        root_certificates=None if tls_ca is None else _read_pem(tls_ca, "tls_ca", TLS_CA_ENV),
        certificate_chain=None
        if tls_cert is None
        else _read_pem(tls_cert, "tls_cert", TLS_CERT_ENV),
        private_key=None if tls_key is None else _read_pem(tls_key, "tls_key", TLS_KEY_ENV),
    )
