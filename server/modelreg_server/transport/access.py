"""AccessService's servicer: parse names, convert, call the access service
object (service/access.py), fill the response. The token of a new key is in
CreateApiKey's response and nowhere else."""

from __future__ import annotations

from grpc.aio import ServicerContext as Context

from modelreg.api.v1 import access_service_pb2 as rpc
from modelreg.api.v1 import access_service_pb2_grpc as rpc_grpc
from modelreg_server.domain.types import ListQuery
from modelreg_server.service.access import AccessService
from modelreg_server.transport import access_convert as ac
from modelreg_server.transport import auth
from modelreg_server.transport.metadata import actor, caller


class AccessServicer(rpc_grpc.AccessServiceServicer):
    def __init__(self, access: AccessService) -> None:
        self._access = access

    async def CreateApiKey(
        self, request: rpc.CreateApiKeyRequest, context: Context
    ) -> rpc.CreateApiKeyResponse:
        project = ac.parent(request.parent)
        made = await self._access.create_api_key(
            project, ac.new_key(request.api_key), actor=actor(context)
        )
        response = rpc.CreateApiKeyResponse(token=made.token)
        ac.fill_key(response.api_key, made.key, self._access.now)
        return response

    async def GetApiKey(self, request: rpc.GetApiKeyRequest, context: Context) -> rpc.ApiKey:
        key = await self._access.get_api_key(*ac.key(request.name))
        return ac.fill_key(rpc.ApiKey(), key, self._access.now)

    async def ListApiKeys(
        self, request: rpc.ListApiKeysRequest, context: Context
    ) -> rpc.ListApiKeysResponse:
        project = ac.parent(request.parent)
        query = ListQuery(page_size=request.page_size, page_token=request.page_token)
        page = await self._access.list_api_keys(project, query, show_inactive=request.show_inactive)
        response = rpc.ListApiKeysResponse(next_page_token=page.next_page_token)
        now = self._access.now
        for key in page.items:
            ac.fill_key(response.api_keys.add(), key, now)
        return response

    async def RevokeApiKey(self, request: rpc.RevokeApiKeyRequest, context: Context) -> rpc.ApiKey:
        project, key_id = ac.key(request.name)
        key = await self._access.revoke_api_key(project, key_id, actor=actor(context))
        # This process refuses it at once; others within MODELREG_AUTH_CACHE_S.
        auth.forget(key_id)
        return ac.fill_key(rpc.ApiKey(), key, self._access.now)

    async def GetCallerKey(self, request: rpc.GetCallerKeyRequest, context: Context) -> rpc.ApiKey:
        key = await self._access.caller_key(caller())
        return ac.fill_key(rpc.ApiKey(), key, self._access.now)
