"""API keys: ``projects/{p}/apiKeys/{key_id}`` (a role on one project) and
``apiKeys/{key_id}`` (server admin keys); who the server takes the caller to be."""

from __future__ import annotations

from datetime import datetime, timedelta

from modelreg import _key_convert as kc
from modelreg import _requests as req
from modelreg._async._rpc import ACCESS, AsyncPager, AsyncRPC
from modelreg._key_types import ApiKey, ApiKeyRole, CreatedApiKey
from modelreg.api.v1 import access_service_pb2 as access


class AsyncKeys:
    """The API key methods of AsyncClient."""

    _rpc: AsyncRPC

    async def create_api_key(
        self,
        project: str | None = None,
        *,
        role: ApiKeyRole | str,
        owner: str | None = None,
        description: str = "",
        expires: datetime | timedelta | None = None,
        rate_limit: float = 0,
    ) -> CreatedApiKey:
        """Make a key and return it with its token, which is never shown again.

        Not idempotent: a call retried after a lost answer may make a second key
        (revoke the one whose token you did not get).

        Args:
            project: the project the key acts on; None for a server admin key.
            role: reader, writer or admin on a project; server-admin without one.
            owner: who or what uses it, recorded as the actor of its writes;
                defaults to the caller.
            expires: when it stops working: a timezone-aware time, or a duration
                from now; None: never.
            rate_limit: requests per second it may make; 0: the server's limit.

        Example:
            >>> made = client.create_api_key("shop", role="writer", owner="trainer",
            ...                              expires=timedelta(days=30))
            >>> made.token  # mrk_...: store it now
        """
        request = access.CreateApiKeyRequest(
            parent=kc.parent(project),
            api_key=kc.new_key(role, owner, description, expires, rate_limit),
        )
        response = await self._rpc.call("CreateApiKey", request, service=ACCESS)
        return CreatedApiKey(key=kc.api_key(response.api_key), token=response.token)

    async def get_api_key(self, key: ApiKey | str, project: str | None = None) -> ApiKey:
        """One key (never its token), by name, or by prefix (``mrk_...``) or id with its
        ``project`` (None: a server admin key)."""
        request = access.GetApiKeyRequest(name=kc.key_name(key, project))
        return kc.api_key(await self._rpc.call("GetApiKey", request, service=ACCESS))

    def list_api_keys(
        self, project: str | None = None, *, show_inactive: bool = False, page_size: int = 0
    ) -> AsyncPager[ApiKey]:
        """Iterate over a project's keys, or the server admin keys (None), newest first;
        revoked and expired ones too with ``show_inactive``."""
        request = access.ListApiKeysRequest(
            parent=kc.parent(project),
            show_inactive=show_inactive,
            page_size=req.page_size(page_size),
        )
        return self._rpc.pages("ListApiKeys", request, "api_keys", kc.api_key, service=ACCESS)

    async def revoke_api_key(self, key: ApiKey | str, project: str | None = None) -> ApiKey:
        """Revoke a key (named as for ``get_api_key``): calls with it are refused from now
        on. Revoking a revoked key returns it unchanged."""
        request = access.RevokeApiKeyRequest(name=kc.key_name(key, project))
        return kc.api_key(await self._rpc.call("RevokeApiKey", request, service=ACCESS))

    async def caller_key(self) -> ApiKey:
        """The key this client calls with: who the server takes it to be. NotFoundError
        when the client sends no key (a server without authentication)."""
        request = access.GetCallerKeyRequest()
        return kc.api_key(await self._rpc.call("GetCallerKey", request, service=ACCESS))
