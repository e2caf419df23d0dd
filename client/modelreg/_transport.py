"""The few places where the sync and asyncio clients differ, as hand-written pairs,
and the one place channels are made (Client, AsyncClient and the inference loggers).

``client/tools/unasync.py`` renames ``open_async_channel`` to ``open_channel`` and
``async_sleep`` to ``sleep`` when it generates the sync client from ``_async/``.
"""

from __future__ import annotations

import asyncio
import time

import grpc

from modelreg._settings import DEFAULT_KEEPALIVE_S, Security, channel_options

_PLAINTEXT = Security()


def credentials(security: Security) -> grpc.ChannelCredentials | None:
    """TLS channel credentials (None: plaintext): the CA bundle, else the system's
    roots, and the client certificate for mutual TLS."""
    if not security.tls:
        return None
    return grpc.ssl_channel_credentials(
        root_certificates=security.root_certificates,
        private_key=security.private_key,
        certificate_chain=security.certificate_chain,
    )


def open_async_channel(
    target: str, keepalive_s: float = DEFAULT_KEEPALIVE_S, security: Security = _PLAINTEXT
) -> grpc.aio.Channel:
    options = channel_options(keepalive_s)
    creds = credentials(security)
    if creds is None:
        return grpc.aio.insecure_channel(target, options=options)
    return grpc.aio.secure_channel(target, creds, options=options)


def open_channel(
    target: str, keepalive_s: float = DEFAULT_KEEPALIVE_S, security: Security = _PLAINTEXT
) -> grpc.Channel:
    options = channel_options(keepalive_s)
    creds = credentials(security)
    if creds is None:
        return grpc.insecure_channel(target, options=options)
    return grpc.secure_channel(target, creds, options=options)


async def async_sleep(seconds: float) -> None:
    await asyncio.sleep(seconds)


def sleep(seconds: float) -> None:
    time.sleep(seconds)
