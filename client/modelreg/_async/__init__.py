"""AsyncClient, made of one module per family of methods, and the run it starts."""

from modelreg._async._active_run import AsyncActiveRun
from modelreg._async._client import AsyncClient

__all__ = ["AsyncActiveRun", "AsyncClient"]
