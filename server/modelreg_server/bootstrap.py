"""The first server admin key: from the bootstrap file at start
(MODELREG_BOOTSTRAP_KEY_FILE), or made by ``modelreg keys bootstrap``.

At start, only while the api_keys table holds no row at all:
- the file exists: it holds a token (one line), registered as a server admin key
  (owner ``bootstrap``); a file that holds anything else stops the start, without
  its content being shown;
- it does not: a new key is made and its token written there (mode 0600; the
  directory must exist), inside the key's transaction, so a key is never left
  whose token nobody was given.
Once a key exists the file is not read.

``modelreg keys bootstrap`` talks to the database directly (as ``modelreg db
upgrade`` does): it makes a server admin key, prints its token (only it) on
stdout and its prefix on stderr, and refuses while an active server admin key
exists, unless --force."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from modelreg_server import config, logs
from modelreg_server.domain.access import key_id_of
from modelreg_server.domain.api_keys import BOOTSTRAP_OWNER, CreatedKey
from modelreg_server.domain.errors import RegistryError
from modelreg_server.service import access
from modelreg_server.service.access import BootstrapRefused
from modelreg_server.storage.store import Store

log = logging.getLogger("modelreg_server.bootstrap")
# A token is 72 characters; a bootstrap file much larger than that is not one.
MAX_FILE_BYTES = 4096


def read_token(path: Path) -> str:
    """The token the file holds; BootstrapRefused (never quoting the file) if it
    holds anything else."""
    try:
        with path.open("rb") as f:
            raw = f.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        raise BootstrapRefused(
            f"bootstrap key file {path}: cannot read it: {exc.strerror}"
        ) from None
    text = raw.decode("ascii", "replace").strip()
    if len(raw) > MAX_FILE_BYTES or key_id_of(text) is None:
        raise BootstrapRefused(
            f"bootstrap key file {path} does not hold an API key token (one line, "
            "mrk_{key_id}_{secret}); fix or remove it (a new key is then written there)"
        )
    return text


def _token_in(path: Path) -> str | None:
    """The file's token; None when there is no file."""
    return read_token(path) if path.exists() else None


def write_token(path: Path, token: str) -> None:
    """Write ``token`` to a new file readable by its owner only."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except OSError as exc:
        raise BootstrapRefused(
            f"bootstrap key file {path}: cannot create it: {exc.strerror} "
            "(its directory must exist)"
        ) from None
    try:
        os.fchmod(fd, 0o600)
        os.write(fd, f"{token}\n".encode("ascii"))
        os.fsync(fd)
    except OSError as exc:
        os.close(fd)
        path.unlink(missing_ok=True)
        raise BootstrapRefused(
            f"bootstrap key file {path}: cannot write it: {exc.strerror}"
        ) from None
    os.close(fd)


async def from_file(store: Store, path: Path) -> CreatedKey | None:
    """The bootstrap at start (see the module's docstring); the key it registered
    or made, None when keys existed."""
    if await access.has_keys(store):
        log.info("api keys exist: bootstrap key file %s not used", path)
        return None
    token = _token_in(path)

    def save(made: CreatedKey) -> None:
        if token is None:
            write_token(path, made.token)

    made = await access.bootstrap(store, token, when_empty=True, before_commit=save)
    if made is None:
        log.info("api keys exist: bootstrap key file %s not used", path)
    elif token is None:
        log.info(
            "bootstrap: made server admin key %s, its token written to %s", made.key.prefix, path
        )
    else:
        log.info("bootstrap: registered the server admin key %s of %s", made.key.prefix, path)
    return made


async def _create(settings: config.Settings, owner: str, force: bool) -> CreatedKey:
    from modelreg_server.storage import migrate
    from modelreg_server.storage.database import create_engine
    from modelreg_server.storage.embedded import start_embedded

    embedded = None
    url = settings.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
        url = embedded.url
    engine = create_engine(url, pool_size=3)
    store = Store(engine)
    try:
        if embedded is not None:
            await migrate.upgrade(engine)  # the embedded database migrates itself
        elif not await migrate.is_current(engine):
            current = await migrate.current_revision(engine) or "(empty)"
            raise BootstrapRefused(
                f"database schema is at {current}, this version needs "
                f"{migrate.head_revision()}: run `modelreg db upgrade` first"
            )
        made = await access.bootstrap(store, None, owner=owner, force=force)
        assert made is not None
        return made
    finally:
        await store.close()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def main(argv: Sequence[str]) -> int:
    """``modelreg keys bootstrap``."""
    parser = argparse.ArgumentParser(
        prog="modelreg keys", description="API keys, on the database directly."
    )
    sub = parser.add_subparsers(dest="command", required=True)
    boot = sub.add_parser(
        "bootstrap",
        help="make a server admin key; prints its token (only it) on stdout",
    )
    where = boot.add_mutually_exclusive_group()
    where.add_argument("--database-url", help="postgresql:// URL; default: the embedded database")
    where.add_argument("--data-dir", help="the embedded PostgreSQL's data directory")
    boot.add_argument("--owner", default=BOOTSTRAP_OWNER, help="who holds the key")
    boot.add_argument(
        "--force", action="store_true", help="even when an active server admin key exists"
    )
    args = parser.parse_args(argv)
    try:
        settings = config.load(os.environ, args, serving=False)
    except config.ConfigError as exc:
        print(f"modelreg keys: {exc}", file=sys.stderr)
        return 2
    logs.configure("WARNING")
    try:
        made = asyncio.run(_create(settings, args.owner, args.force))
    except (RegistryError, RuntimeError, OSError, ValueError) as exc:
        print(f"modelreg keys bootstrap: {exc}", file=sys.stderr)
        return 1
    print(made.token, flush=True)
    print(f"made server admin key {made.key.prefix} (owner {made.key.owner})", file=sys.stderr)
    return 0
