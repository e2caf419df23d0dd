"""Deployments: a model's traffic split over versions, and its history."""

from __future__ import annotations

from modelreg._async._rpc import AsyncRPC


class AsyncDeployments:
    _rpc: AsyncRPC
