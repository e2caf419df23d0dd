# Generated from client/modelreg/_async/_lineage.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Batch learning and lineage: which versions learned from a batch, which batches are
behind a version, a metric from batch to batch, and the lineage graph (skeleton:
filled in by its owner)."""

from __future__ import annotations

from modelreg._sync._rpc import RPC


class Lineage:
    """The batch and lineage methods of Client."""

    _rpc: RPC
