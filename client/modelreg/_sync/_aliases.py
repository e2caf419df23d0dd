# Generated from client/modelreg/_async/_aliases.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Aliases: movable pointers to versions (``production``), with an append-only history."""

from __future__ import annotations

from modelreg import _convert
from modelreg import _requests as req
from modelreg._settings import DEFAULT_PAGE_SIZE
from modelreg._sync._rpc import RPC
from modelreg._types import Alias, AliasEvent
from modelreg.api.v1 import registry_service_pb2 as rpc


class Aliases:
    """The alias methods of Client."""

    _rpc: RPC

    def set_alias(
        self,
        project: str,
        model: str,
        alias: str,
        version: int | str,
        *,
        reason: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> Alias:
        """Point ``alias`` (e.g. ``production``) at a version number or another alias."""
        request = req.set_alias(project, model, alias, version, reason, etag, request_id)
        return _convert.alias(self._rpc.call("SetAlias", request))

    def get_alias(self, project: str, model: str, alias: str) -> Alias:
        request = rpc.GetAliasRequest(name=req.alias_name(project, model, alias))
        return _convert.alias(self._rpc.call("GetAlias", request))

    def list_aliases(self, project: str, model: str) -> list[Alias]:
        request = rpc.ListAliasesRequest(
            parent=req.model_name(project, model), page_size=DEFAULT_PAGE_SIZE
        )
        return self._rpc.collect("ListAliases", request, "aliases", _convert.alias)

    def delete_alias(
        self,
        project: str,
        model: str,
        alias: str,
        *,
        reason: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> None:
        request = rpc.DeleteAliasRequest(
            name=req.alias_name(project, model, alias),
            reason=reason,
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        self._rpc.call("DeleteAlias", request)

    def alias_history(self, project: str, model: str, alias: str) -> list[AliasEvent]:
        """Every move of the alias, newest first."""
        request = rpc.ListAliasHistoryRequest(name=req.alias_name(project, model, alias))
        return self._rpc.collect("ListAliasHistory", request, "events", _convert.alias_event)

    def rollback_alias(
        self,
        project: str,
        model: str,
        alias: str,
        *,
        reason: str = "",
        etag: str = "",
        request_id: str | None = None,
    ) -> Alias:
        """Move the alias back to the version it pointed at before its last move."""
        request = rpc.RollbackAliasRequest(
            name=req.alias_name(project, model, alias),
            reason=reason,
            etag=etag,
            request_id=request_id or req.new_request_id(),
        )
        return _convert.alias(self._rpc.call("RollbackAlias", request))
