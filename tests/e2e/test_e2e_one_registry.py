"""One backend registered by decorator serves the generator, the runner and the judge."""

from __future__ import annotations

import json
import re
from pathlib import Path

from chatbot_tester import (
    ChatBackend,
    ChatRequest,
    ChatResponse,
    register_backend,
    run_pipeline,
)
from chatbot_tester.common.backends import backend_registry

CALLS: dict[str, int] = {"generate": 0, "run": 0, "judge": 0}


@register_backend("my_llm_e2e")
class MyLLM(ChatBackend):
    """Plays all three roles, telling them apart by the prompt."""

    description = "test double for the one-registry test"

    async def send(self, request: ChatRequest) -> ChatResponse:
        text = "\n".join(m.content for m in request.messages)
        if '{"samples": [' in text:
            CALLS["generate"] += 1
            items = [{"input": f"What is {i} plus {i}?", "expected": str(2 * i)} for i in range(3)]
            return ChatResponse(text=json.dumps({"samples": items}))
        if '"score"' in text and '"reason"' in text:
            CALLS["judge"] += 1
            return ChatResponse(text='{"score": 5, "reason": "the answer is the expected number"}')
        CALLS["run"] += 1
        numbers = re.findall(r"\d+", request.messages[-1].content)
        return ChatResponse(text=str(sum(int(n) for n in numbers)))


def test_decorated_backend_serves_every_stage(tmp_path: Path) -> None:
    assert "my_llm_e2e" in backend_registry.names()
    config = {
        "name": "one_registry",
        "workspace": str(tmp_path / "ws"),
        "generator": {
            "synthetic": {"backend": "my_llm_e2e", "instructions": "arithmetic", "count": 3}
        },
        "runner": {"backend": "my_llm_e2e"},
        "evaluator": {
            "metrics": [{"type": "exact_match"}, {"type": "llm_judge", "rubric": "Is it right?"}],
            "judge": {"backend": "my_llm_e2e"},
        },
    }
    result = run_pipeline(config, cache=False)
    assert result.exit_code == 0, result.problems
    assert CALLS["generate"] >= 1 and CALLS["run"] == 3 and CALLS["judge"] == 3
    assert result.summary is not None
    assert result.summary["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert result.summary["metrics"]["llm_judge"]["pass_rate"] == 1.0
