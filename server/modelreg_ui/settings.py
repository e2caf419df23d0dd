"""What the dashboard is started with: the API it reads and how it listens."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_LISTEN = "127.0.0.1:8080"
# Rows of a table page, unless the URL asks for another size (1 to MAX_PAGE_SIZE).
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500


@dataclass(frozen=True)
class UiSettings:
    """The dashboard's settings.

    Attributes:
        target: ``host:port`` of the modelreg API server.
        api_key: the key used for visitors who have not given one (None: they use
            none, and a server with API keys sends them to the key page). It falls
            back to ``$MODELREG_API_KEY``, as every client does.
        tls / tls_ca / tls_cert / tls_key: how to reach the API, as for ``AsyncClient``.
        timeout_s: deadline of each API call.
        retry_s: how long an unreachable API is retried before the page says so.
        max_clients: API keys with an open channel at once (least recently used closed).
    """

    target: str = "127.0.0.1:50051"
    api_key: str | None = None
    tls: bool = False
    tls_ca: str | None = None
    tls_cert: str | None = None
    tls_key: str | None = None
    timeout_s: float = 10.0
    retry_s: float = 3.0
    max_clients: int = 64
