"""The ``litellm`` backend in process: LiteLLM's exceptions become our retry decisions.

Rate limits (with Retry-After), timeouts, connection faults and 5xx are retried; bad keys,
bad requests and unknown models are fatal and stop a run early; a context overflow is fatal
for its sample only. Then one mock call and one call to the loopback fault server.
"""

from __future__ import annotations

import os
from typing import Any

import pytest

from chatbot_tester.common.backends import backend_registry
from chatbot_tester.common.calls.client import BackendClient
from chatbot_tester.common.calls.policy import CallPolicy
from chatbot_tester.common.config import BackoffConfig
from chatbot_tester.common.schemas import ChatRequest, Message
from chatbot_tester.common.types import ErrorKind
from chatbot_tester.testing.server import FaultPlan, FaultServer

pytestmark = [
    pytest.mark.slow,  # LiteLLM takes seconds to import
    # LiteLLM's own imports warn (pydantic ReadOnly TypedDicts, deprecations): not ours.
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),
    pytest.mark.filterwarnings("ignore::PendingDeprecationWarning"),
]


@pytest.fixture(scope="module")
def litellm() -> Any:
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import litellm

    return litellm


@pytest.fixture
async def backend(litellm: Any) -> Any:
    created = backend_registry.create("litellm", mock_response="hi there")
    await created.start()
    yield created
    await created.aclose()


def _cases(lib: Any) -> list[tuple[BaseException, str, ErrorKind, bool]]:
    """(exception, decision, kind, fail_fast) for each LiteLLM error class we map."""
    m, p = "openai/x", "openai"
    return [
        (
            lib.RateLimitError("slow down", p, m, headers={"retry-after": "2"}),
            "rate_limited",
            ErrorKind.RATE_LIMITED,
            False,
        ),
        (lib.Timeout("too slow", m, p), "retry", ErrorKind.TIMEOUT, False),
        (lib.APIConnectionError("refused", p, m), "retry", ErrorKind.CONNECTION, False),
        (lib.ServiceUnavailableError("down", p, m), "retry", ErrorKind.HTTP, False),
        (lib.InternalServerError("oops", p, m), "retry", ErrorKind.HTTP, False),
        (lib.AuthenticationError("bad key sk-secret-123", p, m), "fatal", ErrorKind.AUTH, True),
        (lib.BadRequestError("unknown param", m, p), "fatal", ErrorKind.CONFIG, True),
        (lib.NotFoundError("no such model", m, p), "fatal", ErrorKind.CONFIG, True),
        (lib.ContextWindowExceededError("too long", m, p), "fatal", ErrorKind.HTTP, False),
    ]


async def test_exceptions_map_to_retry_decisions(backend: Any, litellm: Any) -> None:
    from chatbot_tester.common.calls.attempt import error_info
    from chatbot_tester.common.calls.policy import CallOutcome

    for exc, decision, kind, fail_fast in _cases(litellm):
        got = backend.classify(exc)
        name = type(exc).__name__
        assert (got.decision, got.kind) == (decision, kind), name
        outcome = CallOutcome(None, error_info(got), 1, fatal=got.decision == "fatal")
        assert outcome.fail_fast is fail_fast, name
    rate = backend.classify(_cases(litellm)[0][0])
    assert rate.retry_after == 2.0


async def test_mock_call_reports_usage_and_cost(backend: Any) -> None:
    request = ChatRequest(messages=[Message(role="user", content="hello")], model="gpt-4o-mini")
    response = await backend.send(request)
    assert response.text == "hi there"
    assert response.usage is not None and response.usage.prompt_tokens
    assert response.cost_usd is not None and response.cost_usd > 0


async def test_fault_server_retries_through_the_client(litellm: Any) -> None:
    plan = FaultPlan(fail_first=2, modes=("500", "429"), retry_after_s=0.01)
    async with FaultServer(plan) as server:
        backend = backend_registry.create("litellm", api_base=server.base_url, api_key="sk-t")
        policy = CallPolicy(retries=3, stream=True, backoff=BackoffConfig(initial_s=0.01))
        client = BackendClient(backend, policy)
        request = ChatRequest(
            messages=[Message(role="user", content="one two three")], model="openai/m"
        )
        out = await client.call(request)
        await client.aclose()
        assert server.stats.requests == 3
    assert out.response is not None and out.response.text == "echo: one two three"
    assert out.attempts == 3 and out.ttft_ms is not None
    assert out.usage is not None and (out.usage.prompt_tokens, out.usage.completion_tokens) == (
        3,
        4,
    )
    assert out.usage.estimated is False
