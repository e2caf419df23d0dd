"""Settings of the per-call pipeline: limits, log format, metrics endpoint.

Pure unit tests: an injected environment mapping, no server, no database."""

from __future__ import annotations

import pytest

from modelreg_server import config
from modelreg_server.config import ConfigError, Settings
from modelreg_server.transport import calls


def parse(*argv: str, **env: str) -> Settings:
    return config.parse(list(argv), env)


def test_defaults() -> None:
    s = parse()
    assert (s.max_request_bytes, s.max_concurrent_rpcs, s.request_memory_quota) == (
        (),
        200,
        32 * 1024 * 1024,
    )
    assert (s.log_format, s.metrics_listen) == ("text", None)


def test_limits_from_the_environment() -> None:
    s = parse(
        MODELREG_MAX_REQUEST_BYTES_REGISTRY="1048576",
        MODELREG_MAX_CONCURRENT_RPCS="16",
        MODELREG_REQUEST_MEMORY_QUOTA="8388608",
    )
    assert s.max_request_bytes == (("registry", 1048576),)
    assert (s.max_concurrent_rpcs, s.request_memory_quota) == (16, 8388608)


@pytest.mark.parametrize(
    "var", ["MODELREG_MAX_REQUEST_BYTES_REGISTRY", "MODELREG_MAX_CONCURRENT_RPCS"]
)
@pytest.mark.parametrize("bad", ["0", "-1", "4MiB", "1.5"])
def test_a_limit_must_be_a_positive_integer(var: str, bad: str) -> None:
    with pytest.raises(ConfigError, match=var):
        parse(**{var: bad})


def test_a_limit_for_an_unknown_family_is_refused_at_start() -> None:
    limits = calls.Limits(10, 1000, {"registyr": 5})
    with pytest.raises(ConfigError, match="MODELREG_MAX_REQUEST_BYTES_REGISTYR: no such"):
        calls.Pipeline(limits, {"registry": 4096})


def test_log_format_and_metrics_listen_flags_win_over_the_environment() -> None:
    s = parse(
        "--log-format",
        "json",
        "--metrics-listen",
        "[::1]:9464",
        MODELREG_LOG_FORMAT="text",
        MODELREG_METRICS_LISTEN="127.0.0.1:1",
    )
    assert (s.log_format, s.metrics_listen) == ("json", "[::1]:9464")
    assert parse(MODELREG_LOG_FORMAT="JSON").log_format == "json"


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--log-format", "xml"], "log format must be one of text, json"),
        (["--metrics-listen", "0.0.0.0:9464"], "refusing to serve metrics on 0.0.0.0:9464"),
        (["--metrics-listen", "localhost"], "host:port"),
    ],
)
def test_bad_log_format_and_metrics_address_are_refused(argv: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse(*argv)


def test_a_request_limit_over_the_memory_quota_is_refused_at_start() -> None:
    limits = calls.Limits(10, 1000, {"registry": 2000})
    with pytest.raises(
        ConfigError, match=r"MODELREG_MAX_REQUEST_BYTES_REGISTRY \(2000\) is larger"
    ):
        calls.Pipeline(limits, {"registry": 500})
