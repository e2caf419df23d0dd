# Generated from client/modelreg/_async/_inference.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Production tracking: inference records, feedback, production metrics, and the
inference logger."""

from __future__ import annotations

from modelreg._sync._rpc import RPC


class Inference:
    _rpc: RPC
