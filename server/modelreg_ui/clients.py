"""One ``AsyncClient`` per API key: each visitor's calls carry the key they gave."""

from __future__ import annotations

import asyncio
from collections import OrderedDict

import modelreg
from modelreg_ui.settings import UiSettings

# An evicted client may still be serving a page: it is closed this much later.
_CLOSE_DELAY_S = 60.0


class ClientPool:
    """``AsyncClient``s by API key (None: the dashboard's default), least recently
    used closed past ``settings.max_clients``. Made and used on the server's loop."""

    def __init__(self, settings: UiSettings) -> None:
        self.settings = settings
        self._clients: OrderedDict[str | None, modelreg.AsyncClient] = OrderedDict()
        self._closing: set[asyncio.Task[None]] = set()

    def client(self, api_key: str | None) -> modelreg.AsyncClient:
        """The client for ``api_key``; a malformed key raises ValueError."""
        found = self._clients.get(api_key)
        if found is not None:
            self._clients.move_to_end(api_key)
            return found
        made = self.make(api_key)
        self._clients[api_key] = made
        while len(self._clients) > self.settings.max_clients:
            _, old = self._clients.popitem(last=False)
            self._close_later(old)
        return made

    def make(self, api_key: str | None) -> modelreg.AsyncClient:
        """A new client for ``api_key``, not kept (the key page checks a key with one,
        so keys that are refused never take a place in the pool)."""
        s = self.settings
        return modelreg.AsyncClient(
            s.target,
            timeout=s.timeout_s,
            retry=modelreg.RetryPolicy(total_timeout_s=s.retry_s),
            api_key=api_key or s.api_key,
            tls=s.tls,
            tls_ca=s.tls_ca,
            tls_cert=s.tls_cert,
            tls_key=s.tls_key,
        )

    def forget(self, api_key: str | None) -> None:
        """Drop the client of a key the API refused (revoked, expired, unknown)."""
        client = self._clients.pop(api_key, None)
        if client is not None:
            self._close_later(client)

    def __len__(self) -> int:
        return len(self._clients)

    def _close_later(self, client: modelreg.AsyncClient) -> None:
        async def close() -> None:
            await asyncio.sleep(_CLOSE_DELAY_S)
            await client.close()

        task = asyncio.get_running_loop().create_task(close())
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    async def close(self) -> None:
        for task in list(self._closing):
            task.cancel()
        for client in self._clients.values():
            await client.close()
        self._clients.clear()
