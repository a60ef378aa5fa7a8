"""The orchestrator: one pipeline file runs generate -> run -> evaluate -> report."""

from __future__ import annotations

from chatbot_tester.orchestrator.pipeline import run_pipeline, run_pipeline_async
from chatbot_tester.orchestrator.pipeline_run import PipelineInterrupted, PipelineRun
from chatbot_tester.orchestrator.plan import PipelinePlan, plan_pipeline
from chatbot_tester.orchestrator.result import PipelineResult

__all__ = [
    "PipelineInterrupted",
    "PipelinePlan",
    "PipelineResult",
    "PipelineRun",
    "plan_pipeline",
    "run_pipeline",
    "run_pipeline_async",
]
