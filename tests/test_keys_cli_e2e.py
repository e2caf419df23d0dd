"""``modelreg keys`` against the test server, in process: create prints the token
alone on stdout (so ``TOKEN=$(modelreg keys create ...)`` works) and a summary on
stderr; list, show (by name or by prefix), revoke, whoami; --expires forms; errors
exit 1 naming the field. ``keys bootstrap`` is test_keys_bootstrap_e2e.py's."""

from __future__ import annotations

import argparse
import json
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

import modelreg
from modelreg._cli_keys import expires
from modelreg_server.domain.access import TOKEN_RE


def _create(cli: Any, *argv: str) -> tuple[str, str]:
    code, out, err = cli("keys", "create", *argv)
    assert code == 0, err
    return out, err


def test_create_prints_only_the_token(cli: Any, sync_client: modelreg.Client, project: str) -> None:
    out, err = _create(
        cli, "--project", project, "--role", "writer", "--expires", "30d",
        "--description", "ci", "--owner", "trainer", "--rate-limit", "2.5",
    )  # fmt: skip
    token = out.strip()
    assert out == f"{token}\n" and TOKEN_RE.fullmatch(token)
    prefix = token[:16]
    assert f"writer key {prefix} of project {project} for trainer, expires " in err
    assert token not in err
    key = sync_client.get_api_key(prefix, project)
    assert (key.role, key.owner, key.description, key.rate_limit) == (
        modelreg.ApiKeyRole.WRITER, "trainer", "ci", 2.5,
    )  # fmt: skip
    assert key.expire_time is not None
    assert timedelta(days=29) < key.expire_time - datetime.now(timezone.utc) <= timedelta(days=30)


def test_list_show_revoke_whoami(cli: Any, project: str) -> None:
    token = _create(cli, "--project", project, "--role", "reader")[0].strip()
    prefix = token[:16]
    name = f"projects/{project}/apiKeys/{prefix[4:]}"
    code, out, err = cli("keys", "list", "--project", project)
    assert (code, err) == (0, "")
    header, row = out.splitlines()
    assert header.split() == [
        "PREFIX", "PROJECT", "ROLE", "OWNER", "STATE", "EXPIRES", "CREATED", "DESCRIPTION",
    ]  # fmt: skip
    cells = row.split()
    # OWNER: the CLI's actor, the OS user.
    assert cells[:3] + cells[4:6] == [prefix, project, "READER", "ACTIVE", "-"]
    for ref in ([name], [prefix, "--project", project]):
        code, out, err = cli("keys", "show", *ref)
        assert (code, err) == (0, "")
        assert f"name: {name}\n" in out and "state: ACTIVE" in out and token not in out
    code, out, err = cli("keys", "show", name, "--json")
    assert code == 0 and json.loads(out)["prefix"] == prefix
    code, out, err = cli("keys", "revoke", prefix, "--project", project)
    assert (code, err) == (0, "") and "state: REVOKED" in out
    code, out, err = cli("keys", "revoke", name)
    assert (code, err) == (0, "") and "state: REVOKED" in out
    code, out, _ = cli("keys", "list", "--project", project)
    assert out.splitlines()[1:] == []
    code, out, _ = cli("keys", "list", "--project", project, "--all")
    assert out.splitlines()[1].split()[4] == "REVOKED"
    code, out, err = cli("keys", "whoami")
    assert code == 1 and "NOT_FOUND" in err and "without an API key" in err


def test_server_admin_keys(cli: Any) -> None:
    token = _create(cli, "--role", "server-admin", "--owner", "ops")[0].strip()
    prefix = token[:16]
    code, out, _ = cli("keys", "list")
    assert code == 0 and prefix in out
    code, out, _ = cli("keys", "show", prefix)
    assert code == 0 and f"name: apiKeys/{prefix[4:]}" in out and "role: SERVER_ADMIN" in out
    assert cli("keys", "revoke", prefix)[0] == 0


def test_errors_name_the_field(cli: Any, project: str) -> None:
    code, out, err = cli("keys", "create", "--role", "writer")
    assert (code, out) == (1, "")
    assert err.startswith("error: INVALID_ARGUMENT: api_key.role: ")
    code, out, err = cli("keys", "create", "--project", project, "--role", "server-admin")
    assert code == 1 and "api_key.role" in err
    code, out, err = cli("keys", "create", "--project", project, "--role", "reader",
                         "--expires", "2001-01-01")  # fmt: skip
    assert code == 1 and "api_key.expire_time: must be in the future" in err
    code, out, err = cli("keys", "show", "mrk_nope", "--project", project)
    assert code == 1 and "INVALID_ARGUMENT: name" in err
    with pytest.raises(SystemExit) as bad_usage:
        cli("keys", "create", "--project", project, "--role", "owner")
    assert bad_usage.value.code == 2


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90m", timedelta(minutes=90)),
        ("12h", timedelta(hours=12)),
        ("30d", timedelta(days=30)),
        ("2w", timedelta(weeks=2)),
        ("2026-12-31", datetime(2026, 12, 31, tzinfo=timezone.utc)),
        ("2026-12-31T10:00:00+02:00", datetime(2026, 12, 31, 8, tzinfo=timezone.utc)),
    ],
)
def test_expires_forms(text: str, expected: Any) -> None:
    assert expires(text) == expected


def test_expires_refuses_other_text() -> None:
    for text in ("soon", "30", "3y", "-1d"):
        with pytest.raises(argparse.ArgumentTypeError):
            expires(text)
