"""Fail-fast recognises bad config by the error body: unknown model, auth, quota (any 4xx)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from chatbot_tester.cli.main import main
from chatbot_tester.common.backends.http_status import classify_status
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.testing.server import FaultPlan, FaultServer

OPENAI_MODEL = {
    "error": {
        "message": "The model `gpt-9` does not exist or you do not have access to it.",
        "type": "invalid_request_error",
        "param": None,
        "code": "model_not_found",
    }
}
ANTHROPIC_MODEL = {"type": "error", "error": {"type": "not_found_error", "message": "model: c-9"}}
LITELLM_MODEL = {
    "error": {
        "message": "litellm.BadRequestError: Invalid model name passed in model=gpt-9. "
        "Call `/v1/models` to view available models for your key.",
        "type": "invalid_request_error",
        "param": "model",
        "code": "400",
    }
}
LITELLM_AUTH = {
    "error": {
        "message": "litellm.AuthenticationError: AuthenticationError: OpenAIException - "
        "Incorrect API key provided: sk-****.",
        "type": None,
        "param": None,
        "code": "400",
    }
}
ANTHROPIC_AUTH = {
    "type": "error",
    "error": {"type": "authentication_error", "message": "invalid x-api-key"},
}
QUOTA = {"error": {"message": "You exceeded your current quota", "code": "insufficient_quota"}}
PLAIN_400 = {"error": {"message": "messages[0].content must be a string", "code": None}}


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, OPENAI_MODEL, ErrorKind.CONFIG),
        (400, OPENAI_MODEL, ErrorKind.CONFIG),
        (404, ANTHROPIC_MODEL, ErrorKind.CONFIG),
        (400, LITELLM_MODEL, ErrorKind.CONFIG),
        (400, LITELLM_AUTH, ErrorKind.AUTH),
        (400, ANTHROPIC_AUTH, ErrorKind.AUTH),
        (400, QUOTA, ErrorKind.QUOTA_EXHAUSTED),
        (403, QUOTA, ErrorKind.QUOTA_EXHAUSTED),
        (400, PLAIN_400, ErrorKind.HTTP),
    ],
)
def test_bad_config_bodies_are_classified(status, body, kind) -> None:
    ec = classify_status(status, {}, json.dumps(body))
    assert (ec.decision, ec.kind) == ("fatal", kind)


def test_unknown_model_400_stops_the_run_with_one_line_and_exit_2(tmp_path: Path, capsys) -> None:
    plan = FaultPlan(rate=1.0, modes=("400_model",))
    with FaultServer(plan).run_in_thread() as srv:
        (tmp_path / "dataset.jsonl").write_text(
            "".join(json.dumps({"id": f"s{i}", "input": f"q{i}"}) + "\n" for i in range(20))
        )
        pipe = tmp_path / "pipeline.yaml"
        pipe.write_text(
            f"""
name: unknown-model
generator:
  source: dataset.jsonl
runner:
  backend: openai
  model: unknown-model
  concurrency: 2
  retries: 2
  options:
    base_url: {srv.base_url}
    api_key: key-for-tests-1234
"""
        )
        out = tmp_path / "out" / "results.jsonl"
        try:
            code = main(
                ["execute", str(pipe), "--dataset", str(tmp_path / "dataset.jsonl"), "-o", str(out)]
            )
        except SystemExit as exc:
            code = exc.code
        requests = srv.stats.requests
    err = capsys.readouterr().err
    assert code == 2, err
    lines = [line for line in err.splitlines() if "Invalid model name" in line]
    assert len(lines) == 1 and "400 config" in lines[0], err
    assert "Traceback" not in err
    assert requests < 20  # stopped early, no retries of a request no retry can fix
    assert not out.exists() or out.read_text() == ""
