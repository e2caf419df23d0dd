"""Batch learning and lineage: which versions learned from a batch, which batches are
behind a version, a metric from batch to batch, and the lineage graph (skeleton:
filled in by its owner)."""

from __future__ import annotations

from modelreg._async._rpc import AsyncRPC


class AsyncLineage:
    """The batch and lineage methods of AsyncClient."""

    _rpc: AsyncRPC
