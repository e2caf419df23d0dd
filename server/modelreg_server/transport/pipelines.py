"""LineageService's pipelines methods (skeleton: filled in by its owner)."""

from __future__ import annotations

from modelreg_server.service.pipelines import PipelinesService


class PipelineMethods:
    _pipelines: PipelinesService
