"""Request and reply plumbing of the ``http`` backend: body templates and compiled JSON paths."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import orjson

from chatbot_tester.common.registry import did_you_mean
from chatbot_tester.common.schemas import ChatRequest, Message, ToolCall, Usage
from chatbot_tester.errors import ConfigError

if TYPE_CHECKING:
    from jinja2 import Template

__all__ = [
    "DEFAULT_BODY_TEMPLATE",
    "PROBE_REQUEST",
    "TEMPLATE_VARIABLES",
    "compile_path",
    "compile_template",
    "default_body",
    "kind_name",
    "message_dict",
    "parse_tool_calls",
    "parse_usage",
    "snippet",
    "template_variables",
    "tojson",
]

DEFAULT_BODY_TEMPLATE = (
    '{"model": {{ model | tojson }}, "messages": {{ messages | tojson }}'
    "{% for key, value in params.items() %}, {{ key | tojson }}: {{ value | tojson }}{% endfor %}}"
)
"""OpenAI chat-completions body: model, messages and every sampling parameter."""

TEMPLATE_VARIABLES = (
    "messages",
    "prompt",
    "model",
    "params",
    "sample_id",
    "session_id",
    "turn",
    "metadata",
    "tags",
    "context",
)
"""Names a body template (or a templated URL) may use."""


# -- paths --------------------------------------------------------------------------------

_SIMPLE_PATH = re.compile(
    r"[A-Za-z_][A-Za-z0-9_]*(?:\[-?\d+\])*(?:\.[A-Za-z_][A-Za-z0-9_]*(?:\[-?\d+\])*)*"
)
_STEP = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)|\[(-?\d+)\]")


def compile_path(expr: str, option: str) -> Callable[[Any], Any]:
    """Compile a JMESPath once; plain ``a.b[0].c`` paths get a fast evaluator with the same result.

    A syntax error raises ``ConfigError`` naming ``option``. A plain path is always valid
    JMESPath, so jmespath is imported only for the others.
    """
    if not _SIMPLE_PATH.fullmatch(expr):
        import jmespath
        from jmespath.exceptions import JMESPathError

        try:
            return jmespath.compile(expr).search
        except JMESPathError as exc:
            msg = str(exc).replace("\n", " ")
            raise ConfigError(f"http.{option}: invalid JMESPath {expr!r}: {msg}") from None
    steps: tuple[str | int, ...] = tuple(
        m.group(1) if m.group(1) is not None else int(m.group(2)) for m in _STEP.finditer(expr)
    )

    def search(data: Any) -> Any:
        for step in steps:
            if isinstance(step, str):
                if not isinstance(data, dict):
                    return None
                data = data.get(step)
            else:
                if not isinstance(data, list):
                    return None
                try:
                    data = data[step]
                except IndexError:
                    return None
            if data is None:
                return None
        return data

    return search


# -- templates ----------------------------------------------------------------------------


def tojson(value: Any) -> str:
    """Compact JSON text of ``value`` (the templates' ``tojson`` filter)."""
    jinja2 = sys.modules.get("jinja2")  # an Undefined exists only once jinja2 is imported
    if jinja2 is not None and isinstance(value, jinja2.Undefined):
        str(value)  # raises UndefinedError for StrictUndefined, naming the missing variable
    return orjson.dumps(value, default=str, option=orjson.OPT_NON_STR_KEYS).decode()


def url_component(value: Any) -> str:
    """``value`` percent-encoded as one URL component (``/``, ``?``, ``#``, ``..`` stay data)."""
    from urllib.parse import quote

    return quote(str(value), safe="")


def compile_template(source: str, option: str, *, url: bool = False) -> Template:
    """Compile a sandboxed, strict template; syntax errors and unknown variables are ConfigErrors.

    With ``url`` every ``{{ ... }}`` value is percent-encoded, so a server-controlled value
    (a ``session_id`` from the last reply) can never change the path, query or fragment.
    """
    from jinja2 import StrictUndefined, TemplateSyntaxError, meta
    from jinja2.sandbox import SandboxedEnvironment

    env = SandboxedEnvironment(
        autoescape=False, undefined=StrictUndefined, finalize=url_component if url else None
    )
    env.filters["tojson"] = tojson
    try:
        unknown = meta.find_undeclared_variables(env.parse(source)) - set(TEMPLATE_VARIABLES)
        template = env.from_string(source)
    except TemplateSyntaxError as exc:
        raise ConfigError(
            f"http.{option}: template syntax error on line {exc.lineno}: {exc.message}"
        ) from None
    if unknown:
        name = sorted(unknown)[0]
        raise ConfigError(
            f"http.{option}: unknown template variable '{name}' "
            f"({did_you_mean(name, TEMPLATE_VARIABLES)})"
        )
    return template


def message_dict(message: Message) -> dict[str, Any]:
    """A message as an OpenAI-style dict (only the fields that are set)."""
    data: dict[str, Any] = {"role": message.role, "content": message.content}
    if message.name is not None:
        data["name"] = message.name
    if message.tool_call_id is not None:
        data["tool_call_id"] = message.tool_call_id
    if message.tool_calls:
        data["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {
                    "name": call.name,
                    "arguments": call.arguments
                    if isinstance(call.arguments, str)
                    else tojson(call.arguments),
                },
            }
            for call in message.tool_calls
        ]
    return data


def default_body(request: ChatRequest, *, stream: bool = False) -> bytes:
    """What ``DEFAULT_BODY_TEMPLATE`` renders for ``request`` (parameters may override keys).

    ``stream`` adds ``"stream": true`` (the http backend's ``stream`` option is set).
    """
    body: dict[str, Any] = {
        "model": request.model,
        "messages": [message_dict(m) for m in request.messages],
    }
    if stream:
        body["stream"] = True
    if request.params:
        body.update(request.params)
    return orjson.dumps(body, default=str, option=orjson.OPT_NON_STR_KEYS)


def template_variables(request: ChatRequest) -> dict[str, Any]:
    """The variables a body template sees for ``request``."""
    messages = request.messages
    prompt = ""
    for message in reversed(messages):
        if message.role == "user":
            prompt = message.content
            break
    extra = request.variables
    return {
        "messages": [message_dict(m) for m in messages],
        "prompt": prompt,
        "model": request.model,
        "params": request.params,
        "sample_id": request.sample_id,
        "session_id": request.session_id,
        "turn": extra.get("turn", 0),
        "metadata": extra.get("metadata", {}),
        "tags": extra.get("tags", []),
        "context": extra.get("context", []),
    }


class _AnyKey(dict[str, Any]):
    """A mapping that has every key, so templates using per-sample metadata render at creation.

    The value ``0`` is valid JSON bare, quoted or through ``tojson``, so only templates that
    are broken whatever the metadata fail the creation-time check.
    """

    def __missing__(self, key: str) -> int:
        return 0


PROBE_REQUEST = ChatRequest(
    messages=[Message(role="system", content="s"), Message(role="user", content='q "x"')],
    model="probe-model",
    params={"temperature": 0},
    session_id="probe-session",
    sample_id="probe",
    variables={"metadata": _AnyKey(), "tags": ["probe"], "context": ["probe"], "turn": 0},
)


# -- parsing helpers ----------------------------------------------------------------------


def _count(value: dict[str, Any], *keys: str) -> int | None:
    """The first of ``keys`` holding an integer (JSON booleans are not counts)."""
    for key in keys:
        item = value.get(key)
        if type(item) is int:
            return item
    return None


def parse_usage(value: Any) -> Usage | None:
    """Token counts from an OpenAI- or Anthropic-shaped usage object, else ``None``."""
    if not isinstance(value, dict):
        return None
    prompt = _count(value, "prompt_tokens", "input_tokens")
    completion = _count(value, "completion_tokens", "output_tokens")
    total = _count(value, "total_tokens")
    if prompt is None and completion is None and total is None:
        return None
    if total is None and prompt is not None and completion is not None:
        total = prompt + completion
    fields = {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": total}
    usage: Usage = Usage.__pydantic_validator__.validate_python(fields)
    return usage


def parse_tool_calls(value: Any) -> list[ToolCall]:
    """Tool calls from a list in OpenAI (``function: {...}``) or flat ``{name, arguments}`` shape."""
    if not isinstance(value, list):
        return []
    calls: list[ToolCall] = []
    for item in value:
        if not isinstance(item, dict):
            continue
        nested = item.get("function")
        fn: dict[str, Any] = nested if isinstance(nested, dict) else item
        name = fn.get("name")
        if not isinstance(name, str):
            continue
        args = fn.get("arguments", fn.get("input", {}))
        if isinstance(args, str):
            try:
                parsed = orjson.loads(args) if args.strip() else {}
                args = parsed if isinstance(parsed, dict) else args
            except orjson.JSONDecodeError:
                pass
        if not isinstance(args, (dict, str)):
            args = tojson(args)
        call_id = item.get("id")
        calls.append(
            ToolCall(id=call_id if isinstance(call_id, str) else None, name=name, arguments=args)
        )
    return calls


def snippet(raw: bytes, limit: int = 200) -> str:
    """The first ``limit`` bytes as one line of text (registered secrets masked before the cut)."""
    from chatbot_tester.common.redact import mask_secrets_bytes

    head = mask_secrets_bytes(raw[: limit + 4096])[:limit]
    return " ".join(head.decode("utf-8", "replace").split())


def kind_name(value: Any) -> str:
    """``an object``, ``a list``... for error messages."""
    return {
        dict: "an object",
        list: "a list",
        bool: "a boolean",
        int: "a number",
        float: "a number",
    }.get(type(value), type(value).__name__)
