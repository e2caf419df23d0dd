"""Production tracking: inference records, feedback, production metrics, and the
inference logger."""

from __future__ import annotations

from modelreg._async._rpc import AsyncRPC


class AsyncInference:
    _rpc: AsyncRPC
