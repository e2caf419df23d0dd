"""The first server admin key, on databases of their own: ``modelreg keys
bootstrap`` (on the database directly: the token alone on stdout, refused while an
active server admin key exists unless --force), and MODELREG_BOOTSTRAP_KEY_FILE at
start (no file: one written, 0600, whose token is a server admin key; a file: its
token registered; keys exist already: nothing touched; a malformed file or a
missing directory: the server refuses to start, without echoing the file)."""

from __future__ import annotations

import asyncio
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import modelreg
from modelreg_server.config import Settings
from modelreg_server.domain.access import Role, key_id_of, matches, new_token
from modelreg_server.service.access import BootstrapRefused
from modelreg_server.storage import api_keys
from modelreg_server.storage.database import create_engine
from modelreg_server.storage.store import Store
from modelreg_server.testing import ServerThread, fresh_database
from tests.support import sql

CLEAN_ENV = {k: v for k, v in os.environ.items() if not k.startswith("MODELREG_")}


@pytest.fixture
def empty_db(pg_server_url: str) -> Iterator[str]:
    """A migrated database with no key at all."""
    with fresh_database(pg_server_url) as url:
        yield url


def _keys(url: str) -> list[dict[str, object]]:
    return [dict(r) for r in sql(url, "SELECT * FROM api_keys ORDER BY create_time")]


def _is_server_admin_key(url: str, token: str) -> bool:
    """What authentication would find for ``token``: a server admin key it matches."""
    key_id = key_id_of(token)
    assert key_id is not None

    async def find() -> api_keys.KeyRecord | None:
        store = Store(create_engine(url, pool_size=3))
        try:
            return await api_keys.find(store, key_id)
        finally:
            await store.close()

    found = asyncio.run(find())
    return (
        found is not None
        and found.role is Role.SERVER_ADMIN
        and found.project is None
        and found.revoke_time is None
        and matches(token, found.secret_hash)
    )


def _bootstrap(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "modelreg.cli", "keys", "bootstrap", *argv],
        capture_output=True,
        text=True,
        timeout=120,
        env=CLEAN_ENV,
    )


# modelreg keys bootstrap


def test_the_bootstrap_command(empty_db: str) -> None:
    done = _bootstrap("--database-url", empty_db)
    assert done.returncode == 0, done.stderr
    token = done.stdout.strip()
    assert done.stdout == f"{token}\n" and key_id_of(token) is not None
    assert f"made server admin key {token[:16]} (owner bootstrap)" in done.stderr
    assert token not in done.stderr
    assert _is_server_admin_key(empty_db, token)
    [row] = _keys(empty_db)
    assert (row["owner"], row["created_by"], row["role"]) == (
        "bootstrap",
        "bootstrap",
        "server_admin",
    )

    again = _bootstrap("--database-url", empty_db, "--owner", "ops")
    assert (again.returncode, again.stdout) == (1, "")
    assert "an active server admin key exists already" in again.stderr
    assert len(_keys(empty_db)) == 1

    forced = _bootstrap("--database-url", empty_db, "--owner", "ops", "--force")
    assert forced.returncode == 0, forced.stderr
    second = forced.stdout.strip()
    assert second != token and _is_server_admin_key(empty_db, second)
    assert [r["owner"] for r in _keys(empty_db)] == ["bootstrap", "ops"]


def test_the_bootstrap_command_after_revoking_every_server_admin_key(empty_db: str) -> None:
    first = _bootstrap("--database-url", empty_db).stdout.strip()
    sql(empty_db, "UPDATE api_keys SET revoke_time = now(), revoked_by = 'ops'")
    done = _bootstrap("--database-url", empty_db)
    assert done.returncode == 0, done.stderr
    assert _is_server_admin_key(empty_db, done.stdout.strip())
    assert not _is_server_admin_key(empty_db, first)


def test_the_bootstrap_command_refuses_an_outdated_schema(pg_server_url: str) -> None:
    with fresh_database(pg_server_url, migrated=False) as url:
        done = _bootstrap("--database-url", url)
    assert (done.returncode, done.stdout) == (1, "")
    assert "run `modelreg db upgrade` first" in done.stderr


def test_the_bootstrap_command_refuses_a_bad_owner(empty_db: str) -> None:
    done = _bootstrap("--database-url", empty_db, "--owner", "x" * 300)
    assert (done.returncode, done.stdout) == (1, "")
    assert "owner: longer than 256 characters" in done.stderr
    assert _keys(empty_db) == []


# The bootstrap key file at start


def _serve(url: str, path: Path) -> ServerThread:
    settings = Settings(listen="127.0.0.1:0", database_url=url, bootstrap_key_file=path)
    server = ServerThread(settings)
    try:
        return server.start()
    except BaseException:
        server.stop()  # its event loop and thread
        raise


def test_no_file_and_no_keys_a_new_key_is_written_there(empty_db: str, tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    server = _serve(empty_db, path)
    try:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        token = path.read_text()
        assert token.endswith("\n") and token.count("\n") == 1
        token = token.strip()
        assert _is_server_admin_key(empty_db, token)
        with modelreg.Client(server.target) as client:
            key = client.get_api_key(token[:16])
        assert (key.role, key.owner) == (modelreg.ApiKeyRole.SERVER_ADMIN, "bootstrap")
    finally:
        server.stop()
    # The next start finds a key: the file stays as it is, no key is added.
    server = _serve(empty_db, path)
    server.stop()
    assert len(_keys(empty_db)) == 1 and path.read_text().strip() == token


def test_a_file_with_a_token_is_registered(empty_db: str, tmp_path: Path) -> None:
    _, token = new_token()
    path = tmp_path / "admin.token"
    path.write_text(f"  {token}\n")
    _serve(empty_db, path).stop()
    assert _is_server_admin_key(empty_db, token)
    assert path.read_text() == f"  {token}\n"
    [row] = _keys(empty_db)
    assert row["owner"] == "bootstrap"


def test_when_keys_exist_nothing_is_touched(empty_db: str, tmp_path: Path) -> None:
    done = _bootstrap("--database-url", empty_db)
    assert done.returncode == 0, done.stderr
    before = _keys(empty_db)
    absent = tmp_path / "absent.token"
    _serve(empty_db, absent).stop()
    assert not absent.exists()
    _, other = new_token()
    present = tmp_path / "present.token"
    present.write_text(other)
    _serve(empty_db, present).stop()
    assert present.read_text() == other
    # Not even read: a file that would be refused does not matter once keys exist.
    junk = tmp_path / "junk.token"
    junk.write_text("not a token")
    _serve(empty_db, junk).stop()
    assert _keys(empty_db) == before
    assert not _is_server_admin_key(empty_db, other)


@pytest.mark.parametrize(
    "content",
    ["hunter2-secret\n", "", "mrk_abcdefghijkl_short\n", "x" * 10_000, "mrk_a\nmrk_b\n"],
    ids=["junk", "empty", "short", "huge", "two-lines"],
)
def test_a_malformed_file_refuses_the_start(empty_db: str, tmp_path: Path, content: str) -> None:
    path = tmp_path / "admin.token"
    path.write_text(content)
    with pytest.raises(BootstrapRefused) as refused:
        _serve(empty_db, path)
    message = str(refused.value)
    assert "does not hold an API key token" in message and str(path) in message
    assert "hunter2" not in message
    assert _keys(empty_db) == []


def test_the_server_command_refuses_a_malformed_file(empty_db: str, tmp_path: Path) -> None:
    path = tmp_path / "admin.token"
    path.write_text("hunter2-secret\n")
    env = {**CLEAN_ENV, "MODELREG_BOOTSTRAP_KEY_FILE": str(path)}
    done = subprocess.run(
        [sys.executable, "-m", "modelreg_server", "--listen", "127.0.0.1:0",
         "--database-url", empty_db],
        capture_output=True, text=True, timeout=120, env=env,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    assert "does not hold an API key token" in done.stderr and "hunter2" not in done.stderr
    assert "modelreg serving" not in done.stdout


def test_a_missing_directory_refuses_the_start_and_leaves_no_key(
    empty_db: str, tmp_path: Path
) -> None:
    path = tmp_path / "no" / "such" / "dir" / "admin.token"
    with pytest.raises(BootstrapRefused) as refused:
        _serve(empty_db, path)
    assert "cannot create it" in str(refused.value)
    assert _keys(empty_db) == []
    assert not path.exists()
