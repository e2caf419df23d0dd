"""Settings from MODELREG_* variables and flags (flags win), and database URLs.

Pure unit tests: an injected environment mapping, no server, no database."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from modelreg_server import config
from modelreg_server.config import ConfigError, Settings
from modelreg_server.storage.database import async_url, with_database


def parse(*argv: str, **env: str) -> Settings:
    return config.parse(list(argv), env)


# Defaults and precedence


def test_defaults_with_an_empty_environment() -> None:
    s = parse()
    assert s == Settings()
    assert s.listen == "127.0.0.1:50051" == config.DEFAULT_LISTEN
    assert s.database_url is None  # the embedded PostgreSQL
    assert s.data_dir == Path(".modelreg")
    assert (s.migrate, s.db_pool_size, s.shutdown_grace_s, s.log_level) == (
        False,
        10,
        10.0,
        "INFO",
    )


def test_load_without_flags_reads_the_environment() -> None:
    s = config.load(
        {
            "MODELREG_LISTEN": "127.0.0.1:6000",
            "MODELREG_DATABASE_URL": "postgresql://u@db/registry",
            "MODELREG_DATA_DIR": "/srv/modelreg",
            "MODELREG_MIGRATE": "yes",
            "MODELREG_DB_POOL_SIZE": "3",
            "MODELREG_SHUTDOWN_GRACE": "2.5",
            "MODELREG_LOG_LEVEL": "debug",
        }
    )
    assert s == Settings(
        listen="127.0.0.1:6000",
        database_url="postgresql://u@db/registry",
        data_dir=Path("/srv/modelreg"),
        migrate=True,
        db_pool_size=3,
        shutdown_grace_s=2.5,
        log_level="DEBUG",
    )


def test_flags_win_over_the_environment() -> None:
    env = {
        "MODELREG_LISTEN": "127.0.0.1:6000",
        "MODELREG_DATABASE_URL": "postgresql://env@db/env",
        "MODELREG_DATA_DIR": "/env",
        "MODELREG_LOG_LEVEL": "ERROR",
    }
    s = parse(
        "--listen",
        "127.0.0.1:7000",
        "--database-url",
        "postgresql://flag@db/flag",
        "--data-dir",
        "/flag",
        "--log-level",
        "warning",
        "--migrate",
        **env,
    )
    assert (s.listen, s.database_url, s.data_dir, s.log_level, s.migrate) == (
        "127.0.0.1:7000",
        "postgresql://flag@db/flag",
        Path("/flag"),
        "WARNING",
        True,
    )


def test_each_flag_overrides_only_its_own_variable() -> None:
    env = {"MODELREG_LISTEN": "127.0.0.1:6000", "MODELREG_DATA_DIR": "/env"}
    s = parse("--data-dir", "/flag", **env)
    assert (s.listen, s.data_dir) == ("127.0.0.1:6000", Path("/flag"))


def test_empty_variables_count_as_unset() -> None:
    s = parse(MODELREG_LISTEN="", MODELREG_DATABASE_URL="", MODELREG_MIGRATE="")
    assert (s.listen, s.database_url, s.migrate) == (config.DEFAULT_LISTEN, None, False)


def test_migrate_from_the_environment_without_the_flag() -> None:
    assert parse(MODELREG_MIGRATE="true").migrate is True
    assert parse(MODELREG_MIGRATE="0").migrate is False
    assert parse("--migrate", MODELREG_MIGRATE="false").migrate is True


@pytest.mark.parametrize("value", ["1", "true", "TRUE", "yes", "on", " On "])
def test_migrate_true_spellings(value: str) -> None:
    assert parse(MODELREG_MIGRATE=value).migrate is True


@pytest.mark.parametrize("value", ["0", "false", "no", "off", "", "  "])
def test_migrate_false_spellings(value: str) -> None:
    assert parse(MODELREG_MIGRATE=value).migrate is False


@pytest.mark.parametrize("value", ["maybe", "2", "enabled", "tru"])
def test_bad_migrate_value(value: str) -> None:
    with pytest.raises(ConfigError, match="MODELREG_MIGRATE"):
        parse(MODELREG_MIGRATE=value)


def test_settings_are_frozen() -> None:
    s = parse()
    with pytest.raises(dataclasses.FrozenInstanceError):
        s.listen = "0.0.0.0:1"  # type: ignore[misc]


# Listen address: loopback, unless auth is on or --insecure says so


@pytest.mark.parametrize(
    "listen",
    [
        "127.0.0.1:50051",
        "127.0.0.1:0",
        "127.9.9.9:1",
        "localhost:50051",
        "localhost:0",
        "[::1]:0",
        "[::1]:50051",
        "127.0.0.1:65535",
    ],
)
def test_loopback_listen_addresses_are_accepted(listen: str) -> None:
    assert parse("--listen", listen).listen == listen
    assert parse(MODELREG_LISTEN=listen).listen == listen


@pytest.mark.parametrize(
    "listen",
    [
        "0.0.0.0:50051",
        "[::]:50051",
        "10.0.0.5:50051",
        "192.168.1.2:0",
        "example.com:50051",
        "localhost.example.com:50051",
        ":50051",  # all interfaces
    ],
)
def test_non_loopback_listen_is_refused(listen: str) -> None:
    with pytest.raises(ConfigError, match="refusing to listen"):
        parse("--listen", listen)
    with pytest.raises(ConfigError, match="refusing to listen"):
        parse(MODELREG_LISTEN=listen)


@pytest.mark.parametrize("listen", ["0.0.0.0:50051", "[::]:0", "10.0.0.5:50051"])
def test_non_loopback_listen_is_allowed_with_auth_or_insecure(listen: str) -> None:
    assert parse("--listen", listen, "--auth").auth
    assert parse(MODELREG_LISTEN=listen, MODELREG_AUTH="1").listen == listen
    insecure = parse("--listen", listen, "--insecure")
    assert insecure.insecure and not insecure.auth
    assert parse(MODELREG_LISTEN=listen, MODELREG_INSECURE="true").insecure
    with pytest.raises(ConfigError, match="--auth"):
        parse(MODELREG_LISTEN=listen, MODELREG_AUTH="0")


def test_security_settings() -> None:
    s = parse()
    assert (s.auth, s.insecure, s.tls_cert, s.tls_client_ca) == (False, False, None, None)
    assert s.rate_limit_rps == 500.0 and s.rate_limit_burst == 1000 and s.auth_cache_s == 5.0
    s = parse(
        "--tls-cert", "c.pem", "--tls-key", "k.pem", "--tls-client-ca", "ca.pem",
        MODELREG_RATE_LIMIT_RPS="0", MODELREG_RATE_LIMIT_BURST="7", MODELREG_AUTH_CACHE_S="0",
        MODELREG_BOOTSTRAP_KEY_FILE="/tmp/key",
    )  # fmt: skip
    assert (str(s.tls_cert), str(s.tls_key), str(s.tls_client_ca)) == ("c.pem", "k.pem", "ca.pem")
    assert (s.rate_limit_rps, s.rate_limit_burst, s.auth_cache_s) == (0.0, 7, 0.0)
    assert str(s.bootstrap_key_file) == "/tmp/key"
    with pytest.raises(ConfigError, match="go together"):
        parse("--tls-cert", "c.pem")
    with pytest.raises(ConfigError, match="needs --tls-cert"):
        parse(MODELREG_TLS_CLIENT_CA="ca.pem")
    with pytest.raises(ConfigError, match="MODELREG_RATE_LIMIT_RPS"):
        parse(MODELREG_RATE_LIMIT_RPS="-1")
    with pytest.raises(ConfigError, match="MODELREG_AUTH"):
        parse(MODELREG_AUTH="maybe")


def test_a_loopback_flag_does_not_rescue_a_bad_variable_and_vice_versa() -> None:
    # Flags win: the variable is never looked at when the flag is given.
    assert parse("--listen", "127.0.0.1:1", MODELREG_LISTEN="0.0.0.0:1").listen == "127.0.0.1:1"
    with pytest.raises(ConfigError):
        parse("--listen", "0.0.0.0:1", MODELREG_LISTEN="127.0.0.1:1")


@pytest.mark.parametrize(
    "listen",
    [
        "127.0.0.1",  # no port
        "127.0.0.1:",
        "127.0.0.1:http",
        "127.0.0.1:-1",
        "127.0.0.1:65536",
        "127.0.0.1:99999",
        "127.0.0.1:\u0665",  # a non-ASCII digit
        "[::1]",
    ],
)
def test_malformed_listen_address(listen: str) -> None:
    with pytest.raises(ConfigError, match="host:port"):
        parse("--listen", listen)


def test_loopback_helpers() -> None:
    assert config.listen_host("[::1]:5") == "::1"
    assert config.listen_host("localhost:5") == "localhost"
    assert config.is_loopback("127.0.0.2:5")
    assert not config.is_loopback("0.0.0.0:5")
    assert not config.is_loopback("db.internal:5")


# Numbers and names


@pytest.mark.parametrize("value", ["0", "-1", "1", "2", "abc", "", "1.5", "nan"])
def test_bad_pool_size(value: str) -> None:
    with pytest.raises(ConfigError, match="MODELREG_DB_POOL_SIZE"):
        parse(MODELREG_DB_POOL_SIZE=value)


def test_pool_size() -> None:
    assert parse(MODELREG_DB_POOL_SIZE="25").db_pool_size == 25
    assert parse(MODELREG_DB_POOL_SIZE=" 4 ").db_pool_size == 4


def test_inference_retention_days() -> None:
    assert parse().inference_retention_days == 0  # forever
    assert parse(MODELREG_INFERENCE_RETENTION_DAYS="").inference_retention_days == 0
    assert parse(MODELREG_INFERENCE_RETENTION_DAYS="0").inference_retention_days == 0
    assert parse(MODELREG_INFERENCE_RETENTION_DAYS=" 30 ").inference_retention_days == 30


@pytest.mark.parametrize("value", ["-1", "1.5", "a week", "nan", "36601", "٣"])
def test_bad_inference_retention_days(value: str) -> None:
    with pytest.raises(ConfigError, match="MODELREG_INFERENCE_RETENTION_DAYS"):
        parse(MODELREG_INFERENCE_RETENTION_DAYS=value)


@pytest.mark.parametrize("value", ["0", "-3", "soon", "nan", "inf", "-inf"])
def test_bad_shutdown_grace(value: str) -> None:
    with pytest.raises(ConfigError, match="MODELREG_SHUTDOWN_GRACE"):
        parse(MODELREG_SHUTDOWN_GRACE=value)


def test_shutdown_grace() -> None:
    assert parse(MODELREG_SHUTDOWN_GRACE="0.25").shutdown_grace_s == 0.25


@pytest.mark.parametrize("level", ["debug", "Info", "WARNING", "error", "CRITICAL"])
def test_log_levels(level: str) -> None:
    assert parse("--log-level", level).log_level == level.upper()


@pytest.mark.parametrize("level", ["chatty", "verbose", "10"])
def test_bad_log_level_is_refused_at_parse_time(level: str) -> None:
    with pytest.raises(ConfigError, match="log level"):
        parse(MODELREG_LOG_LEVEL=level)


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u@h/db",
        "postgres://u@h/db",
        "postgresql+asyncpg://u:p@h:5433/db",
        "postgresql:///db?host=/run/postgresql",
    ],
)
def test_postgres_database_urls_are_accepted(url: str) -> None:
    assert parse("--database-url", url).database_url == url


@pytest.mark.parametrize("url", ["mysql://u:secret@h/db", "sqlite:///x.db", "h:5432/db", "db"])
def test_other_database_urls_are_refused_without_echoing_them(url: str) -> None:
    with pytest.raises(ConfigError, match="postgresql://") as info:
        parse(MODELREG_DATABASE_URL=url)
    assert "secret" not in str(info.value)


def test_unknown_flag_is_a_usage_error() -> None:
    with pytest.raises(SystemExit):
        parse("--bogus")


# storage.database.async_url


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:p@h:5433/db",
        "postgres://u:p@h:5433/db",
        "postgresql+asyncpg://u:p@h:5433/db",
        "postgres+asyncpg://u:p@h:5433/db",
        "postgresql+psycopg://u:p@h:5433/db",
    ],
)
def test_async_url_accepts_postgres(url: str) -> None:
    parsed = async_url(url)
    assert parsed.drivername == "postgresql+asyncpg"
    assert (parsed.username, parsed.password, parsed.host, parsed.port, parsed.database) == (
        "u",
        "p",
        "h",
        5433,
        "db",
    )


def test_async_url_keeps_query_and_socket_dir() -> None:
    parsed = async_url("postgresql://postgres@/db?host=/tmp/pg")
    assert parsed.drivername == "postgresql+asyncpg"
    assert parsed.query == {"host": "/tmp/pg"}


def test_async_url_rewrites_only_the_scheme() -> None:
    # A password that happens to contain "postgres://" is left alone.
    parsed = async_url("postgres://u:postgres%3A%2F%2Fx@h/db")
    assert parsed.password == "postgres://x"


@pytest.mark.parametrize(
    "url", ["mysql://u@h/db", "mysql+aiomysql://u@h/db", "sqlite:///x.db", "not a url", ""]
)
def test_async_url_rejects_everything_else(url: str) -> None:
    with pytest.raises(ValueError):
        async_url(url)


def test_with_database_swaps_only_the_database() -> None:
    url = with_database("postgresql://u:p%40ss@h:5433/postgres?sslmode=require", "other")
    parsed = async_url(url)
    assert (parsed.password, parsed.host, parsed.port, parsed.database) == (
        "p@ss",
        "h",
        5433,
        "other",
    )
    assert parsed.query == {"sslmode": "require"}
