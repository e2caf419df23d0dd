# Generated from client/modelreg/_async/__init__.py by client/tools/unasync.py: do not edit.
# Change the async source and run `make sync`; `make lint` fails while this is stale.
"""Client, made of one module per family of methods, and the runs it starts."""

from modelreg._sync._active_run import ActiveRun
from modelreg._sync._client import Client
from modelreg._sync._pipeline_run import ActivePipelineRun, ActiveStep

__all__ = ["ActivePipelineRun", "ActiveRun", "ActiveStep", "Client"]
