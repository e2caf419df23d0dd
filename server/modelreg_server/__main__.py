"""``python -m modelreg_server`` / ``modelreg serve`` / ``modelreg db upgrade`` /
``modelreg keys bootstrap``."""

from __future__ import annotations

import argparse
import asyncio
import atexit
import faulthandler
import os
import shutil
import signal
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

# Only what reads the settings is imported up front: with worker processes and
# metrics, PROMETHEUS_MULTIPROC_DIR must be set before prometheus_client is imported
# (through app), since it picks where values live at import.
from modelreg_server import config, logs

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


def serve(argv: Sequence[str]) -> int:
    # `kill -USR1 <pid>` prints every thread's stack to stderr: where a stuck server is stuck.
    faulthandler.register(signal.SIGUSR1, all_threads=True)
    try:
        settings = config.parse(argv, os.environ)
    except config.ConfigError as exc:
        print(f"modelreg serve: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level, settings.log_format)
    if settings.workers > 1 and settings.metrics_listen is not None:
        multiproc_dir = os.environ.get(MULTIPROC_ENV)
        if multiproc_dir:
            # Values of earlier runs would be summed in: the directory must start empty.
            for stale in Path(multiproc_dir).glob("*.db"):
                stale.unlink()
        else:
            made = tempfile.mkdtemp(prefix="modelreg-metrics-")
            os.environ[MULTIPROC_ENV] = made
            atexit.register(shutil.rmtree, made, ignore_errors=True)
    from modelreg_server import app, workers

    def ready(port: int) -> None:
        host = settings.listen.rpartition(":")[0]
        print(f"modelreg serving on {host}:{port}", flush=True)

    try:
        if settings.workers > 1:
            return workers.serve(
                settings, lambda listen: print(f"modelreg serving on {listen}", flush=True)
            )
        asyncio.run(app.serve(settings, ready))
    except (app.SchemaOutdated, RuntimeError, OSError, ValueError) as exc:
        print(f"modelreg serve: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:  # Ctrl-C before the server was up
        return 130
    return 0


async def _upgrade(settings: config.Settings) -> tuple[str | None, str | None]:
    from modelreg_server.storage import migrate
    from modelreg_server.storage.database import create_engine
    from modelreg_server.storage.embedded import start_embedded

    embedded = None
    url = settings.database_url
    if url is None:
        embedded = await asyncio.to_thread(start_embedded, settings.data_dir)
        url = embedded.url
    engine = create_engine(url, pool_size=3, command_timeout=None)
    try:
        return await migrate.upgrade(engine)
    finally:
        await engine.dispose()
        if embedded is not None:
            await asyncio.to_thread(embedded.stop)


def db(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="modelreg db", description="Database administration.")
    sub = parser.add_subparsers(dest="command", required=True)
    up = sub.add_parser("upgrade", help="upgrade the schema to this version's head")
    up.add_argument("--database-url", help="postgresql:// URL; default: the embedded database")
    up.add_argument("--data-dir", help="the embedded PostgreSQL's data directory")
    sub.add_parser("head", help="print the schema revision this version needs")
    args = parser.parse_args(argv)
    if args.command == "head":
        from modelreg_server.storage import migrate

        print(migrate.head_revision())
        return 0
    try:
        settings = config.load(os.environ, args, serving=False)
    except config.ConfigError as exc:
        print(f"modelreg db: {exc}", file=sys.stderr)
        return 2
    logs.configure(settings.log_level)
    try:
        before, after = asyncio.run(_upgrade(settings))
    except (RuntimeError, OSError, ValueError) as exc:
        print(f"modelreg db upgrade: {exc}", file=sys.stderr)
        return 1
    print(f"schema: {before or '(empty)'} -> {after}")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "db":
        return db(args[1:])
    if args and args[0] == "keys":
        from modelreg_server import bootstrap

        return bootstrap.main(args[1:])
    if args and args[0] == "serve":
        args = args[1:]
    return serve(args)


if __name__ == "__main__":
    sys.exit(main())
