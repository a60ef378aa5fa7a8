"""Pydantic models that cross stage boundaries.

Every persisted format (dataset lines, run records, scores, manifests) carries a
``schema_version`` so that later versions can read older runs. All models forbid unknown
fields: a typo in a dataset is an error, not silently ignored data.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_serializer, model_validator

from chatbot_tester.common.types import ErrorKind, RunStatus, empty_dict, empty_list

__all__ = [
    "SCHEMA_VERSION",
    "Assertion",
    "ChatRequest",
    "ChatResponse",
    "ConversationOutcome",
    "DatasetInfo",
    "ErrorInfo",
    "Manifest",
    "Message",
    "RunRecord",
    "Scenario",
    "Score",
    "TestSample",
    "TextDelta",
    "ToolCall",
    "Turn",
    "TurnRecord",
    "Usage",
    "utcnow",
]

SCHEMA_VERSION = 1
"""Version of the persisted formats written by this release."""

Role = Literal["system", "user", "assistant", "tool"]


def utcnow() -> datetime:
    """Timezone-aware current UTC time (used for every timestamp we persist)."""
    return datetime.now(timezone.utc)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ToolCall(_Model):
    """A function/tool call requested by the model."""

    model_config = ConfigDict(defer_build=True)

    id: str | None = None
    """Provider-assigned call id, when the API gives one."""
    name: str
    """Function name."""
    arguments: dict[str, Any] | str = Field(default_factory=empty_dict)
    """Parsed JSON arguments, or the raw string when the model produced invalid JSON."""


class Message(_Model):
    """One chat message."""

    role: Role
    """Who speaks: system, user, assistant or tool."""
    content: str = ""
    """The text of the message."""
    name: str | None = None
    """Optional participant or tool name."""
    tool_call_id: str | None = None
    """For ``role: tool``: the call this message answers."""
    tool_calls: list[ToolCall] | None = None
    """For ``role: assistant``: tool calls the assistant made."""


class Assertion(BaseModel):
    """A per-sample check: a metric ``type`` plus that metric's own options.

    Extra keys are allowed here on purpose: they are the metric's options and are validated
    by the metric's own options model (unknown option: error with did-you-mean).
    """

    model_config = ConfigDict(defer_build=True, extra="allow")

    type: str
    """Registered metric name, e.g. ``contains`` or ``regex``."""

    @property
    def options(self) -> dict[str, Any]:
        """The metric options (every key but ``type``)."""
        return dict(self.model_extra or {})


class Turn(_Model):
    """One user turn of a scripted multi-turn conversation."""

    model_config = ConfigDict(defer_build=True)

    user: str
    """What the user says in this turn."""
    expected: str | list[str] | None = None
    """Reference answer(s) for the assistant's reply to this turn."""
    assertions: list[Assertion] = Field(default_factory=empty_list)
    """Checks applied to the assistant's reply to this turn."""


class Scenario(_Model):
    """A conversation to simulate: a user played by a model pursues ``goal`` with the bot."""

    model_config = ConfigDict(defer_build=True)

    goal: str = Field(min_length=1)
    """What the simulated user wants to get done."""
    persona: str = ""
    """Who the user is and how they write."""
    facts: list[str] = Field(default_factory=empty_list)
    """What the user knows and shares when it is needed (an order number, a date)."""
    success_criteria: str | None = None
    """What a successful conversation achieves (for judges and readers)."""
    opening: str | None = None
    """The user's first message (default: the simulated user writes it)."""
    max_turns: int = Field(default=6, ge=1, le=50)
    """Bot replies after which the conversation ends."""
    stop_phrases: list[str] = Field(default_factory=empty_list)
    """Phrases that end the conversation when the bot says one (case-insensitive)."""


class TestSample(_Model):
    """One test case: an input (single message, chat history or scripted turns) and expectations."""

    __test__ = False  # not a pytest test class

    schema_version: int = SCHEMA_VERSION
    """Format version of this line."""
    id: str = Field(min_length=1)
    """Unique id within the dataset; used to pair runs and to resume."""
    input: str | list[Message] | None = None
    """One user message, or a list of chat messages ending with the user's message."""
    turns: list[Turn] | None = None
    """A scripted multi-turn conversation, sent turn by turn with the history."""
    scenario: Scenario | None = None
    """A simulated user's goal instead of scripted turns (``runner.simulated_user`` plays it)."""
    expected: str | list[str] | None = None
    """Reference answer, or several acceptable answers."""
    context: list[str] = Field(default_factory=empty_list)
    """Documents the answer should be grounded in."""
    assertions: list[Assertion] = Field(default_factory=empty_list)
    """Checks applied to this sample in addition to the pipeline's metrics."""
    tags: list[str] = Field(default_factory=empty_list)
    """Labels for breakdowns and filtering."""
    metadata: dict[str, Any] = Field(default_factory=empty_dict)
    """Free-form data, available to HTTP body templates and custom metrics."""

    @model_validator(mode="after")
    def _one_input(self) -> TestSample:
        given = sum(x is not None for x in (self.input, self.turns, self.scenario))
        if given == 0:  # the usual mistake; a scenario is the rarer third form
            raise ValueError("a sample needs exactly one of 'input' or 'turns'")
        if given > 1:
            raise ValueError("a sample needs exactly one of 'input', 'turns' or 'scenario'")
        if isinstance(self.input, list) and not self.input:
            raise ValueError("'input' must not be an empty list of messages")
        if self.turns is not None and not self.turns:
            raise ValueError("'turns' must not be empty")
        return self

    @property
    def is_multi_turn(self) -> bool:
        """True when the sample is a scripted conversation."""
        return self.turns is not None

    def input_messages(self) -> list[Message]:
        """The single-shot input as chat messages (for ``turns`` samples: the first turn)."""
        if self.turns is not None:
            return [Message(role="user", content=self.turns[0].user)]
        if self.scenario is not None:
            return [Message(role="user", content=self.scenario.opening or self.scenario.goal)]
        if isinstance(self.input, str):
            return [Message(role="user", content=self.input)]
        return list(self.input or [])

    def expected_list(self) -> list[str]:
        """The reference answers as a list (empty when none)."""
        if self.expected is None:
            return []
        return [self.expected] if isinstance(self.expected, str) else list(self.expected)


class Usage(_Model):
    """Token usage of one call (or the sum over a conversation)."""

    prompt_tokens: int | None = None
    """Input tokens."""
    completion_tokens: int | None = None
    """Output tokens."""
    total_tokens: int | None = None
    """Input plus output tokens."""
    cached_tokens: int | None = None
    """Input tokens served from the provider's prompt cache."""
    estimated: bool = False
    """True when counted locally because the API reported no usage."""

    def __add__(self, other: Usage) -> Usage:
        def add(a: int | None, b: int | None) -> int | None:
            return None if a is None and b is None else (a or 0) + (b or 0)

        return Usage(
            prompt_tokens=add(self.prompt_tokens, other.prompt_tokens),
            completion_tokens=add(self.completion_tokens, other.completion_tokens),
            total_tokens=add(self.total_tokens, other.total_tokens),
            cached_tokens=add(self.cached_tokens, other.cached_tokens),
            estimated=self.estimated or other.estimated,
        )


class ChatRequest(_Model):
    """What the runner asks a backend to answer."""

    messages: list[Message]
    """The conversation so far, ending with the user's message."""
    model: str | None = None
    """Model name; ``None`` lets the backend use its configured default."""
    params: dict[str, Any] = Field(default_factory=empty_dict)
    """Sampling parameters passed through (temperature, max_tokens, ...)."""
    tools: list[dict[str, Any]] | None = None
    """Tool definitions in OpenAI function-calling format."""
    session_id: str | None = None
    """Conversation id carried across the turns of one sample (HTTP backends)."""
    sample_id: str | None = None
    """Id of the test sample (for templates, logs and test servers)."""
    variables: dict[str, Any] = Field(default_factory=empty_dict)
    """Sample fields exposed to templates: metadata, tags, context, turn index."""


_ELIDE_AT = 1024
ANSWER_REF = "<response.text>"
"""What a written ``ChatResponse.raw`` holds where its payload repeated the (long) answer."""


def _elide(value: Any, text: str) -> Any:
    """``value`` with every string equal to ``text`` replaced by ``ANSWER_REF`` (copies only)."""
    if isinstance(value, str):
        return ANSWER_REF if value == text else value
    if isinstance(value, dict):
        return {k: _elide(v, text) for k, v in value.items()}
    if isinstance(value, list):
        return [_elide(v, text) for v in value]
    return value


class ChatResponse(_Model):
    """A backend's answer."""

    text: str = ""
    """The assistant's text."""
    tool_calls: list[ToolCall] = Field(default_factory=empty_list)
    """Tool calls the model requested."""
    finish_reason: str | None = None
    """Why generation stopped (stop, length, tool_calls, ...)."""
    usage: Usage | None = None
    """Token usage as reported by the API (``None`` when not reported)."""
    model: str | None = None
    """The model that actually answered, when the API says."""
    session_id: str | None = None
    """Conversation id returned by the endpoint, carried into the next turn."""
    cost_usd: float | None = None
    """Cost in USD reported by the backend itself (LiteLLM's price data, 0 for a local model);
    ``runner.prices`` for the model takes precedence."""
    raw: Any = None
    """The raw JSON payload, for debugging and custom metrics. When written, a string in it
    equal to a long ``text`` (1 KiB or more) is stored as ``"<response.text>"``: the answer is
    kept once per record."""

    @field_serializer("raw")
    def _raw_without_the_answer(self, raw: Any) -> Any:
        if raw is None or len(self.text) < _ELIDE_AT:
            return raw
        return _elide(raw, self.text)


class TextDelta(_Model):
    """A piece of streamed text; ``ChatBackend.stream`` yields these and then a ChatResponse."""

    model_config = ConfigDict(defer_build=True)

    text: str
    """The new text."""


class ErrorInfo(_Model):
    """A structured, recorded failure."""

    model_config = ConfigDict(defer_build=True)

    kind: ErrorKind
    """Class of failure (timeout, rate_limited, http, connection, bad_response, auth, ...)."""
    message: str
    """One-line description, secrets redacted."""
    status_code: int | None = None
    """HTTP status, when there was one."""


class TurnRecord(_Model):
    """The outcome of one turn of a multi-turn sample."""

    model_config = ConfigDict(defer_build=True)

    index: int
    """Zero-based turn index."""
    user: str
    """The user message of the turn."""
    response: ChatResponse | None = None
    """The reply (``None`` when the turn failed)."""
    error: ErrorInfo | None = None
    """Why the turn failed."""
    latency_ms: float | None = None
    """Wall time of the successful attempt."""
    ttft_ms: float | None = None
    """Time to first token, when streamed."""


class ConversationOutcome(_Model):
    """The end of a simulated conversation."""

    model_config = ConfigDict(defer_build=True)

    stop_reason: Literal["goal", "gave_up", "stop_phrase", "max_turns", "error"]
    """Why it ended: the user said the goal was met, gave up, the bot said a stop phrase, the
    turn limit, or a failed call."""
    turns: int
    """Bot replies in the conversation."""
    turns_to_goal: int | None = None
    """Bot replies until the goal was met (``None`` when it was not)."""


class RunRecord(_Model):
    """The result of sending one sample (one repeat) to the chatbot: an answer or an error."""

    schema_version: int = SCHEMA_VERSION
    """Format version of this line."""
    sample_id: str
    """The sample this record answers."""
    repeat: int = 0
    """Repeat index (0..k-1) when each sample runs k times."""
    response: ChatResponse | None = None
    """The final answer (for multi-turn samples: the reply to the last turn)."""
    turns: list[TurnRecord] | None = None
    """Per-turn outcomes for multi-turn samples."""
    conversation: ConversationOutcome | None = None
    """How a simulated conversation (a ``scenario`` sample) ended."""
    error: ErrorInfo | None = None
    """Set when the sample failed after its retries; ``response`` is then ``None``."""
    attempts: int = 1
    """Calls made, retries included."""
    latency_ms: float | None = None
    """Wall time of the successful attempt(s), summed over turns."""
    ttft_ms: float | None = None
    """Time to first token of the (first) streamed reply."""
    output_tokens_per_s: float | None = None
    """Completion tokens per second after the first token, when streamed."""
    usage: Usage | None = None
    """Token usage, summed over turns."""
    cost_usd: float | None = None
    """Cost in USD; ``None`` when the price is unknown (never a made-up 0)."""
    cached: bool = False
    """True when the answer came from the response cache."""
    local: bool = False
    """True when the model ran on this machine (e.g. ``transformers``): no money spent."""
    backend: str
    """Registered backend name."""
    model: str | None = None
    """Model name used."""
    started_at: datetime = Field(default_factory=utcnow)
    """When the first attempt started (UTC)."""
    finished_at: datetime = Field(default_factory=utcnow)
    """When the record was completed (UTC)."""

    @property
    def key(self) -> tuple[str, int]:
        """Identity of the record within a run: (sample id, repeat)."""
        return (self.sample_id, self.repeat)

    @property
    def ok(self) -> bool:
        """True when the sample got an answer."""
        return self.error is None and self.response is not None


class Score(_Model):
    """One metric's verdict on one record (or one turn of it)."""

    schema_version: int = SCHEMA_VERSION
    """Format version of this line."""
    sample_id: str
    """The sample scored."""
    repeat: int = 0
    """Repeat index of the scored record."""
    turn: int | None = None
    """Turn index for per-turn scores of multi-turn samples; ``None`` for the whole sample."""
    metric: str
    """Metric name (or the label given in the config)."""
    value: float | None = None
    """Numeric score; ``None`` when the metric could not score."""
    passed: bool | None = None
    """Pass/fail verdict; ``None`` when the metric has no threshold or could not score."""
    reason: str | None = None
    """Why, in a sentence (judge reasons, matched pattern, ...)."""
    error: str | None = None
    """Why no score could be given (unparseable verdict, missing reference, ...)."""
    details: dict[str, Any] = Field(default_factory=empty_dict)
    """Metric-specific details: judge votes, agreement, unstable flag, diff."""
    fingerprint: str | None = None
    """Hash of the metric's type/options/label and the scored record's identity; scores are
    reused on resume only when it matches."""


class DatasetInfo(_Model):
    """Identity of a dataset file."""

    id: str
    """Dataset id (from the config, or derived from the source name)."""
    hash: str
    """``sha256:<hex>`` of the canonical dataset content."""
    count: int
    """Number of samples."""
    source: str | None = None
    """Where it was built from (path or ``synthetic``)."""
    generation: dict[str, Any] | None = None
    """What a generation step kept and dropped (counts) and the report beside the dataset listing every drop."""


class Manifest(_Model):
    """Everything needed to reproduce and audit a run; ``manifest.json`` in the run directory."""

    schema_version: int = SCHEMA_VERSION
    """Format version of this file."""
    run_id: str
    """Unique, time-sortable run id."""
    pipeline: str
    """Pipeline name from the config."""
    status: RunStatus = RunStatus.RUNNING
    """running, completed, failed, interrupted or aborted."""
    config: dict[str, Any] = Field(default_factory=empty_dict)
    """The pipeline config as written, ``${ENV}`` references unresolved."""
    config_hash: str | None = None
    """``sha256:<hex>`` of the config snapshot."""
    backend_hash: str | None = None
    """``sha256:<hex>`` of the runner's backend identity (name, model, options, params)."""
    dataset: DatasetInfo | None = None
    """The dataset this run used."""
    versions: dict[str, str] = Field(default_factory=empty_dict)
    """Versions of Python, chatbot-tester and key dependencies."""
    created_at: datetime = Field(default_factory=utcnow)
    """When the run was created (UTC)."""
    updated_at: datetime = Field(default_factory=utcnow)
    """Last manifest update (UTC)."""
    timings: dict[str, float] = Field(default_factory=empty_dict)
    """Seconds spent per stage (generate, run, evaluate, report)."""
    counts: dict[str, int] = Field(default_factory=empty_dict)
    """Counters: samples, records, errors, scores, ..."""
    stages: dict[str, str] = Field(default_factory=empty_dict)
    """Per-stage status: pending, skipped, completed, failed."""
    error: str | None = None
    """One-line reason when the run failed or was aborted."""
    resumed: int = 0
    """How many times the run was resumed."""
    base_dir: str | None = None
    """Directory of the pipeline file: relative paths in the snapshot resolve against it."""
    variant: str | None = None
    """The variant's name, for a run of a pipeline with ``variants``."""
    group: str | None = None
    """The id shared by the runs of one pipeline with ``variants`` (their comparison's folder)."""
    selection: dict[str, Any] | None = None
    """The sample subset this run sent (``--limit``, ``--sample``, ``--tags``, ...);
    ``from_run`` is the run a ``--filter-failing`` / ``--retry-errors`` run was taken from."""
