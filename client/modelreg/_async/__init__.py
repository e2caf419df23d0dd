"""AsyncClient, made of one module per family of methods."""

from modelreg._async._client import AsyncClient

__all__ = ["AsyncClient"]
