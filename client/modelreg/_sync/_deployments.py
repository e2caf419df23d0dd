# Generated from client/modelreg/_async/_deployments.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Deployments: a model's traffic split over versions, and its history."""

from __future__ import annotations

from modelreg._sync._rpc import RPC


class Deployments:
    _rpc: RPC
