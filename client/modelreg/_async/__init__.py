"""AsyncClient, made of one module per family of methods, and the runs it starts."""

from modelreg._async._active_run import AsyncActiveRun
from modelreg._async._client import AsyncClient
from modelreg._async._pipeline_run import AsyncActivePipelineRun, AsyncActiveStep

__all__ = ["AsyncActivePipelineRun", "AsyncActiveRun", "AsyncActiveStep", "AsyncClient"]
