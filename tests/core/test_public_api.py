"""The curated public API stays exact, and importing it stays light."""

from __future__ import annotations

import subprocess
import sys

import chatbot_tester

EXPECTED = {
    "AuthError",
    "BackendConnectionError",
    "BackendError",
    "BackendHTTPError",
    "BackendOptions",
    "BackendTimeout",
    "BadResponse",
    "ChatBackend",
    "ChatRequest",
    "ChatResponse",
    "ChatbotTesterError",
    "ConfigError",
    "DatasetError",
    "EvaluationResult",
    "Event",
    "EventBus",
    "GenerationSkipped",
    "ItemFinished",
    "Metric",
    "MetricInput",
    "MetricOptions",
    "Notice",
    "PipelineConfig",
    "PipelineInterrupted",
    "PipelineResult",
    "PluginError",
    "RateLimited",
    "ResumeError",
    "RetryScheduled",
    "RunAborted",
    "RunFinished",
    "RunRecord",
    "RunStarted",
    "SampleResult",
    "Score",
    "StageFinished",
    "StageStarted",
    "Subscriber",
    "TestSample",
    "Usage",
    "UsageError",
    "VariantsResult",
    "__version__",
    "aevaluate",
    "assert_passes",
    "backend_registry",
    "evaluate",
    "load_pipeline",
    "register_backend",
    "register_metric",
    "run_pipeline",
    "run_pipeline_async",
}


def test_all_is_exact_and_resolvable() -> None:
    assert set(chatbot_tester.__all__) == EXPECTED
    for name in chatbot_tester.__all__:
        assert getattr(chatbot_tester, name) is not None


def test_old_runner_backends_path_reexports() -> None:
    from chatbot_tester.common import backends as new
    from chatbot_tester.runner import backends as old

    assert old.register_backend is new.register_backend
    assert old.backend_registry is new.backend_registry
    assert old.ChatBackend is new.ChatBackend


def test_help_imports_no_sdk() -> None:
    code = (
        "import sys\n"
        "from chatbot_tester.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('openai', 'anthropic', 'aiohttp', 'jinja2', 'rapidfuzz', 'numpy',"
        " 'pydantic', 'yaml', 'rich') if m in sys.modules]\n"
        "print('HEAVY=' + ','.join(heavy))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "Usage:" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "HEAVY="
