"""Settings: read once at start from ``MODELREG_*`` variables and command-line flags
(flags win) into a frozen dataclass."""

from __future__ import annotations

import argparse
import ipaddress
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from modelreg_server import limits

DEFAULT_LISTEN = "127.0.0.1:50051"
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
LOG_FORMATS = ("text", "json")
MAX_REQUEST_BYTES_ENV = "MODELREG_MAX_REQUEST_BYTES_"
_POSTGRES = ("postgresql", "postgres")


@dataclass(frozen=True)
class Settings:
    listen: str = DEFAULT_LISTEN
    # None: run the embedded PostgreSQL under data_dir.
    database_url: str | None = None
    data_dir: Path = Path(".modelreg")
    # Upgrade an external database's schema on start (the embedded one always is).
    migrate: bool = False
    # Every database connection one server process opens, all pools together: the
    # SQLAlchemy pool, the hot-path asyncpg pool and one kept for the health probe
    # (storage/database.split_pool; values below 3 count as 3).
    db_pool_size: int = 10
    shutdown_grace_s: float = 10.0
    max_message_bytes: int = 16 * 1024 * 1024
    log_level: str = "INFO"
    # Lifecycle: how long to wait for the database at start; how long health says
    # NOT_SERVING with the listener still open after SIGTERM (SIGINT skips it); how
    # often and how patiently the database is probed for the health status.
    db_wait_s: float = 30.0
    shutdown_drain_s: float = 5.0
    health_interval_s: float = 1.0
    health_timeout_s: float = 0.6
    # Processes serving one port (SO_REUSEPORT); 1 serves in this process.
    workers: int = 1
    # The per-call pipeline (transport/calls.py, metrics.py, logs.py).
    # Request size limits by family ("registry" -> bytes), overriding the service
    # table's defaults: MODELREG_MAX_REQUEST_BYTES_<FAMILY>.
    max_request_bytes: tuple[tuple[str, int], ...] = ()
    # Calls admitted at once by one process; more are refused before being read.
    max_concurrent_rpcs: int = 200
    # Request bytes held by the calls of one process at once.
    request_memory_quota: int = 32 * 1024 * 1024
    log_format: str = "text"
    # host:port of the Prometheus text endpoint; None: no endpoint.
    metrics_listen: str | None = None
    # Days inference records are kept (whole daily partitions are dropped once all
    # their records are older, with the hourly rollups); 0 keeps them forever.
    inference_retention_days: int = 0
    # Security (transport/auth.py, transport/tls.py). With auth on, every call of
    # the service table needs an API key (health and reflection stay open).
    auth: bool = False
    # Listen on a non-loopback address without auth: a warning at start and in the
    # health check's trailing metadata.
    insecure: bool = False
    # TLS from PEM files (reloaded on SIGHUP); a client CA turns on mutual TLS.
    tls_cert: Path | None = None
    tls_key: Path | None = None
    tls_client_ca: Path | None = None
    # The first server admin key's token: read at start when no key exists yet
    # (written there, new, when the file does not exist).
    bootstrap_key_file: Path | None = None
    # Requests per second per key (token bucket per process; 0: no limit), its
    # burst, and how long a verified key is trusted before it is read again (how
    # late another process notices a revocation).
    rate_limit_rps: float = 500.0
    rate_limit_burst: int = 1000
    auth_cache_s: float = 5.0
    # Counts and lengths of params, labels, metrics, inference JSON (limits.py).
    field_limits: limits.FieldLimits = limits.DEFAULT_LIMITS


class ConfigError(ValueError):
    pass


def _bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(f"{name}: expected true/false, got {value!r}")


def _positive(value: str, name: str, kind: type[int] | type[float] = int) -> int | float:
    try:
        number = kind(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: expected a number, got {value!r}") from exc
    if not math.isfinite(number) or number <= 0:
        raise ConfigError(f"{name}: must be positive, got {value!r}")
    return number


def listen_host(listen: str) -> str:
    host, sep, port = listen.rpartition(":")
    if not sep or not (port.isascii() and port.isdigit()) or int(port) > 65535:
        raise ConfigError(f"listen address must be host:port (port 0-65535), got {listen!r}")
    return host.strip("[]")


def is_loopback(listen: str) -> bool:
    host = listen_host(listen)
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--listen", help=f"host:port to serve on (default {DEFAULT_LISTEN})")
    parser.add_argument(
        "--database-url", help="postgresql:// URL; default: embedded PostgreSQL in --data-dir"
    )
    parser.add_argument("--data-dir", help="where the embedded PostgreSQL keeps its data")
    parser.add_argument(
        "--migrate",
        action="store_true",
        default=None,
        help="upgrade an outdated schema on start",
    )
    parser.add_argument("--log-level", help=", ".join(LOG_LEVELS))
    parser.add_argument(
        "--workers", type=int, help="server processes sharing the port (SO_REUSEPORT; default 1)"
    )
    parser.add_argument("--log-format", help="text (default) or json: one object per line")
    parser.add_argument(
        "--metrics-listen", help="host:port to serve Prometheus metrics on (default: none)"
    )
    parser.add_argument(
        "--auth",
        action="store_true",
        default=None,
        help="require an API key on every call (MODELREG_AUTH)",
    )
    parser.add_argument(
        "--insecure",
        action="store_true",
        default=None,
        help="allow a non-loopback --listen without --auth (logs a warning)",
    )
    parser.add_argument("--tls-cert", help="PEM certificate chain: serve TLS (MODELREG_TLS_CERT)")
    parser.add_argument("--tls-key", help="PEM private key of --tls-cert (MODELREG_TLS_KEY)")
    parser.add_argument(
        "--tls-client-ca",
        help="PEM CA bundle: require client certificates it signed, mutual TLS "
        "(MODELREG_TLS_CLIENT_CA)",
    )


def load(
    env: Mapping[str, str], args: argparse.Namespace | None = None, *, serving: bool = True
) -> Settings:
    """Settings from the environment, overridden by parsed flags.

    ``serving=False`` (``modelreg db ...``) skips the checks of the listen address.
    """
    flags = vars(args) if args is not None else {}

    def pick(flag: str, var: str) -> str | None:
        value = flags.get(flag)
        if value is not None:
            return str(value)
        return env.get(var) or None

    def flag(name: str, var: str) -> bool:
        value = flags.get(name)
        return bool(value) if value is not None else _bool(env.get(var, ""), var)

    def path(name: str, var: str) -> Path | None:
        value = pick(name, var)
        return Path(value) if value is not None else None

    base = Settings()
    listen = pick("listen", "MODELREG_LISTEN") or base.listen
    listen_host(listen)
    auth = flag("auth", "MODELREG_AUTH")
    insecure = flag("insecure", "MODELREG_INSECURE")
    if serving and not is_loopback(listen) and not auth and not insecure:
        raise ConfigError(
            f"refusing to listen on {listen} without API keys: start with --auth "
            "(MODELREG_AUTH=1), or with --insecure (MODELREG_INSECURE=1) to accept "
            "unauthenticated calls from the network"
        )
    tls_cert = path("tls_cert", "MODELREG_TLS_CERT")
    tls_key = path("tls_key", "MODELREG_TLS_KEY")
    tls_client_ca = path("tls_client_ca", "MODELREG_TLS_CLIENT_CA")
    if (tls_cert is None) != (tls_key is None):
        raise ConfigError(
            "--tls-cert and --tls-key (MODELREG_TLS_CERT, MODELREG_TLS_KEY) go together"
        )
    if tls_client_ca is not None and tls_cert is None:
        raise ConfigError("--tls-client-ca (mutual TLS) needs --tls-cert and --tls-key")
    database_url = pick("database_url", "MODELREG_DATABASE_URL")
    scheme, sep, _ = (database_url or "").partition("://")
    if database_url is not None and (not sep or scheme.partition("+")[0] not in _POSTGRES):
        # Not echoed: a URL may carry a password.
        raise ConfigError("database URL must be a postgresql:// (or postgres://) URL")
    log_level = (pick("log_level", "MODELREG_LOG_LEVEL") or base.log_level).upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(f"log level must be one of {', '.join(LOG_LEVELS)}, got {log_level!r}")
    migrate_flag = flags.get("migrate")
    log_format = (pick("log_format", "MODELREG_LOG_FORMAT") or base.log_format).lower()
    if log_format not in LOG_FORMATS:
        raise ConfigError(f"log format must be one of {', '.join(LOG_FORMATS)}, got {log_format!r}")
    metrics_listen = pick("metrics_listen", "MODELREG_METRICS_LISTEN")
    if metrics_listen is not None:
        listen_host(metrics_listen)
        if serving and not is_loopback(metrics_listen):
            raise ConfigError(
                f"refusing to serve metrics on {metrics_listen}: only loopback addresses are "
                "allowed for now"
            )

    def count(var: str, default: int) -> int:
        return int(_positive(env.get(var, str(default)), var))

    return Settings(
        listen=listen,
        database_url=database_url,
        data_dir=Path(pick("data_dir", "MODELREG_DATA_DIR") or base.data_dir),
        migrate=bool(migrate_flag)
        if migrate_flag is not None
        else _bool(env.get("MODELREG_MIGRATE", ""), "MODELREG_MIGRATE"),
        db_pool_size=_pool_size(env.get("MODELREG_DB_POOL_SIZE", str(base.db_pool_size))),
        shutdown_grace_s=float(
            _positive(
                env.get("MODELREG_SHUTDOWN_GRACE", str(base.shutdown_grace_s)),
                "MODELREG_SHUTDOWN_GRACE",
                float,
            )
        ),
        log_level=log_level,
        db_wait_s=_seconds(env, "MODELREG_DB_WAIT", base.db_wait_s, allow_zero=True),
        shutdown_drain_s=_seconds(
            env, "MODELREG_SHUTDOWN_DRAIN", base.shutdown_drain_s, allow_zero=True
        ),
        health_interval_s=_seconds(env, "MODELREG_HEALTH_INTERVAL", base.health_interval_s),
        health_timeout_s=_seconds(env, "MODELREG_HEALTH_TIMEOUT", base.health_timeout_s),
        workers=_workers(pick("workers", "MODELREG_WORKERS")),
        max_request_bytes=tuple(
            sorted(
                (var[len(MAX_REQUEST_BYTES_ENV) :].lower(), count(var, 0))
                for var in env
                if var.startswith(MAX_REQUEST_BYTES_ENV) and len(var) > len(MAX_REQUEST_BYTES_ENV)
            )
        ),
        max_concurrent_rpcs=count("MODELREG_MAX_CONCURRENT_RPCS", base.max_concurrent_rpcs),
        request_memory_quota=count("MODELREG_REQUEST_MEMORY_QUOTA", base.request_memory_quota),
        log_format=log_format,
        metrics_listen=metrics_listen,
        inference_retention_days=_retention_days(env.get("MODELREG_INFERENCE_RETENTION_DAYS")),
        auth=auth,
        insecure=insecure,
        tls_cert=tls_cert,
        tls_key=tls_key,
        tls_client_ca=tls_client_ca,
        bootstrap_key_file=path("bootstrap_key_file", "MODELREG_BOOTSTRAP_KEY_FILE"),
        rate_limit_rps=_seconds(
            env, "MODELREG_RATE_LIMIT_RPS", base.rate_limit_rps, allow_zero=True
        ),
        rate_limit_burst=count("MODELREG_RATE_LIMIT_BURST", base.rate_limit_burst),
        auth_cache_s=_seconds(env, "MODELREG_AUTH_CACHE_S", base.auth_cache_s, allow_zero=True),
        field_limits=limits.load(env),
    )


def _seconds(
    env: Mapping[str, str], name: str, default: float, *, allow_zero: bool = False
) -> float:
    raw = env.get(name)
    if raw is None or raw == "":
        return default
    if allow_zero and raw.strip() in ("0", "0.0"):
        return 0.0
    return float(_positive(raw, name, float))


def _pool_size(raw: str) -> int:
    size = int(_positive(raw, "MODELREG_DB_POOL_SIZE"))
    if size < 3:
        # The engine's pool, the hot pool and the health probe need one each.
        raise ConfigError(f"MODELREG_DB_POOL_SIZE: at least 3, got {raw!r}")
    return size


MAX_RETENTION_DAYS = 36_600


def _retention_days(raw: str | None) -> int:
    name = "MODELREG_INFERENCE_RETENTION_DAYS"
    if raw is None or raw.strip() == "":
        return 0
    text = raw.strip()
    if not (text.isascii() and text.isdigit()):
        raise ConfigError(f"{name}: expected a whole number of days (0: forever), got {raw!r}")
    days = int(text)
    if days > MAX_RETENTION_DAYS:
        raise ConfigError(f"{name}: at most {MAX_RETENTION_DAYS}, got {raw!r}")
    return days


def _workers(raw: str | None) -> int:
    if raw is None:
        return 1
    count = int(_positive(raw, "workers (--workers, MODELREG_WORKERS)"))
    if count > 64:
        raise ConfigError(f"workers (--workers, MODELREG_WORKERS): at most 64, got {raw!r}")
    return count


def parse(argv: Sequence[str], env: Mapping[str, str]) -> Settings:
    parser = argparse.ArgumentParser(prog="modelreg serve", description="Run the modelreg server.")
    add_arguments(parser)
    return load(env, parser.parse_args(argv))
