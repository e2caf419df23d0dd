"""The few places where the sync and asyncio clients differ, as hand-written pairs.

``client/tools/unasync.py`` renames ``open_async_channel`` to ``open_channel`` and
``async_sleep`` to ``sleep`` when it generates the sync client from ``_async/``.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from modelreg._settings import DEFAULT_KEEPALIVE_S, channel_options


def open_async_channel(target: str, keepalive_s: float = DEFAULT_KEEPALIVE_S) -> grpc.aio.Channel:
    return grpc.aio.insecure_channel(target, options=channel_options(keepalive_s))


def open_channel(target: str, keepalive_s: float = DEFAULT_KEEPALIVE_S) -> grpc.Channel:
    return grpc.insecure_channel(target, options=channel_options(keepalive_s))


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    time.sleep(seconds)
