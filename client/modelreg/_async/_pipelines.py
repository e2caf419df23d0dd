"""Pipeline runs: ``projects/{p}/pipelines/{pl}/runs/{r}``, each step recorded with what it
read and made (skeleton: filled in by its owner)."""

from __future__ import annotations

from modelreg._async._rpc import AsyncRPC


class AsyncPipelines:
    """The pipeline methods of AsyncClient."""

    _rpc: AsyncRPC
