# Generated from client/modelreg/_async/_pipelines.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Pipeline runs: ``projects/{p}/pipelines/{pl}/runs/{r}``, each step recorded with what it
read and made (skeleton: filled in by its owner)."""

from __future__ import annotations

from modelreg._sync._rpc import RPC


class Pipelines:
    """The pipeline methods of Client."""

    _rpc: RPC
