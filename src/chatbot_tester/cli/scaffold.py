"""The files ``chatbot-tester init`` writes: a pipeline for one backend, data, CI and ignores.

``scaffold(choice)`` is a pure function from the user's answers to ``{relative path: text}``;
``cli/init.py`` asks the questions and writes the files. The pipeline starts with the
``yaml-language-server`` comment pointing at a copy of the JSON Schema written beside it, and
is valid against that schema for every backend. With the ``demo`` backend (the default) it
runs offline as written; ``python`` gets a ``bot.py`` to edit; a backend with a key names it
as ``${ENV}`` (kept out of every file).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

__all__ = [
    "BUILTIN_DEFAULTS",
    "DEFAULT_ACTION",
    "BackendDefaults",
    "ScaffoldChoice",
    "backend_defaults",
    "scaffold",
]

DEFAULT_ACTION = "chatbot-tester/chatbot-tester@v0"
"""The ``uses:`` of the generated workflow (``init --action OWNER/REPO@REF`` changes it)."""

SCHEMA_FILE = "pipeline.schema.json"


@dataclass(frozen=True)
class BackendDefaults:
    """What ``init`` knows about a backend: defaults to offer and where its key comes from."""

    model: str | None = None
    """Default model (``None``: none known)."""
    needs_model: bool = False
    """The backend cannot answer without a model (asked for; ``--yes`` needs ``--model``)."""
    base_url: str | None = None
    """Default base URL (``None``: not asked)."""
    key_env: str | None = None
    """The environment variable holding the API key (passed from CI secrets)."""
    key_in_options: bool = True
    """Write ``api_key: "${KEY_ENV}"`` (false: the backend reads the variable itself)."""


BUILTIN_DEFAULTS: dict[str, BackendDefaults] = {
    "demo": BackendDefaults(model="demo-kb-v1"),
    "openai": BackendDefaults(
        model="gpt-4o-mini",
        needs_model=True,
        base_url="https://api.openai.com/v1",
        key_env="OPENAI_API_KEY",
    ),
    "anthropic": BackendDefaults(
        model="claude-3-5-haiku-latest",
        needs_model=True,
        base_url="https://api.anthropic.com",
        key_env="ANTHROPIC_API_KEY",
    ),
    "http": BackendDefaults(base_url="http://127.0.0.1:8000/chat"),
    "python": BackendDefaults(),
    "echo": BackendDefaults(),
    "scripted": BackendDefaults(),
}
"""Built-in backends with what their scaffold needs."""


def backend_defaults(name: str) -> BackendDefaults:
    """The defaults of a registered backend: built-in, an OpenAI-compatible preset, or none.

    A backend class with a ``preset`` (``base_url``, ``key_env``: the OpenAI-compatible
    presets) gets its URL offered and its key variable passed from CI; it reads that variable
    itself. Any other backend (a plugin) gets a bare ``runner`` with the model asked for.
    """
    if name in BUILTIN_DEFAULTS:
        return BUILTIN_DEFAULTS[name]
    from chatbot_tester.common.backends import backend_registry

    try:
        cls = backend_registry.get(name)
    except Exception:  # a plugin that fails to load: scaffold it bare, `run` will say why
        return BackendDefaults()
    preset = getattr(cls, "preset", None)
    base_url = getattr(preset, "base_url", None)
    if isinstance(base_url, str):
        key_env = getattr(preset, "key_env", None)
        return BackendDefaults(
            needs_model=True,
            base_url=base_url,
            key_env=key_env if isinstance(key_env, str) else None,
            key_in_options=False,
        )
    return BackendDefaults()


@dataclass(frozen=True)
class ScaffoldChoice:
    """The answers to ``init``'s questions."""

    backend: str = "demo"
    model: str | None = None
    base_url: str | None = None
    action: str = DEFAULT_ACTION
    defaults: BackendDefaults = BackendDefaults()
    """``backend_defaults(backend)``, looked up by the caller."""


_QUESTIONS = [
    ("q1", "How can I track my order?", "Track your order from My Account > Orders.", "orders"),
    ("q2", "Do you ship internationally?", "Yes, we ship to 40 countries.", "shipping"),
    ("q3", "How do I return an item?", "Start a return within 30 days from My Account.", "returns"),
    ("q4", "What is the capital of France?", "HANDOFF", "out_of_scope"),
]

_HANDOFF = "Let me connect you with a human agent."


def _csv() -> str:
    lines = ["id,question,expected_answer,tags"]
    for sid, question, answer, tag in _QUESTIONS:
        expected = _HANDOFF if answer == "HANDOFF" else answer
        lines.append(f'{sid},"{question}","{expected}",{tag}')
    return "\n".join(lines) + "\n"


def _kb() -> str:
    out = ["# The demo bot's knowledge base: it answers with the best-matching entry's answer."]
    for _, question, answer, _ in _QUESTIONS:
        if answer != "HANDOFF":
            out += [f"- question: {json.dumps(question)}", f"  answer: {json.dumps(answer)}"]
    return "\n".join(out) + "\n"


_BOT = '''"""Your chatbot, called by the `python` backend: edit answer() to call your application."""


def answer(question: str) -> str:
    """The reply to the last user message."""
    return "Let me connect you with a human agent."
'''


def _q(value: str) -> str:
    """A YAML scalar (JSON strings are valid YAML)."""
    return json.dumps(value)


def _runner(choice: ScaffoldChoice) -> list[str]:
    preset = choice.defaults
    model = choice.model if choice.model is not None else preset.model
    base_url = choice.base_url if choice.base_url is not None else preset.base_url
    lines = ["runner:", f"  backend: {_q(choice.backend)}"]
    if model:
        lines.append(f"  model: {_q(model)}")
    options: list[str] = []
    if choice.backend == "demo":
        options += ["knowledge_base: kb.yaml", f"handoff_reply: {_q(_HANDOFF)}"]
    elif choice.backend == "python":
        options.append('function: "bot:answer"   # bot.py beside this file')
    elif choice.backend == "http":
        options += [
            f"url: {_q(base_url or '')}",
            "body_template: '{\"message\": {{ prompt | tojson }}}'",
            "response_path: answer",
        ]
    elif choice.backend == "scripted":
        options.append(f"default: {_q(_HANDOFF)}")
    elif base_url and (preset.key_in_options or base_url != preset.base_url):
        options.append(f"base_url: {_q(base_url)}")  # a preset's default is its own
    if preset.key_env and preset.key_in_options:
        options.append(f'api_key: "${{{preset.key_env}}}"   # from the environment or a .env')
    if options:
        lines.append("  options:")
        lines += [f"    {o}" for o in options]
    lines += ["  concurrency: 4", "  timeout_s: 30", "  retries: 2"]
    return lines


def _pipeline(choice: ScaffoldChoice) -> str:
    lines = [
        f"# yaml-language-server: $schema={SCHEMA_FILE}",
        "# Written by `chatbot-tester init`. Run it with `chatbot-tester run pipeline.yaml`;",
        "# `chatbot-tester schema -o pipeline.schema.json` refreshes the schema after an upgrade.",
        "name: my_chatbot",
        "workspace: ./workspace",
        "",
        "generator:",
        "  source: samples.csv   # columns id, question, expected_answer, tags (auto-mapped)",
        "",
        *_runner(choice),
        "",
        "evaluator:",
        "  metrics:",
        "    - type: exact_match",
        "    - type: token_f1",
        "    - type: latency",
        "      max_ms: 5000",
        "  thresholds:",
        '    - "token_f1.pass_rate >= 0.75"',
        "  report:",
        "    formats: [html, json, junit, md]",
    ]
    return "\n".join(lines) + "\n"


def _workflow(choice: ScaffoldChoice) -> str:
    preset = choice.defaults
    env = ""
    if preset.key_env:
        env = f"        env:\n          {preset.key_env}: ${{{{ secrets.{preset.key_env} }}}}\n"
    return (
        "# Runs the chatbot tests on every push and pull request (written by chatbot-tester init).\n"
        "name: chatbot-tester\n"
        "on:\n"
        "  push:\n"
        "  pull_request:\n"
        "permissions:\n"
        "  contents: read\n"
        "jobs:\n"
        "  chatbot-tester:\n"
        "    runs-on: ubuntu-latest\n"
        "    steps:\n"
        "      - uses: actions/checkout@v4\n"
        f"      - uses: {choice.action}\n"
        "        with:\n"
        "          pipeline: pipeline.yaml\n"
        f"{env}"
    )


_GITIGNORE = """# chatbot-tester: runs, datasets and caches, and local secrets
workspace/
.env
"""


def scaffold(choice: ScaffoldChoice) -> dict[str, str]:
    """Relative path -> text of every file ``init`` writes for ``choice``."""
    from chatbot_tester.orchestrator.pipeline_schema import render_pipeline_schema

    files = {
        "pipeline.yaml": _pipeline(choice),
        SCHEMA_FILE: render_pipeline_schema(),
        "samples.csv": _csv(),
        ".gitignore": _GITIGNORE,
        ".github/workflows/chatbot-tester.yml": _workflow(choice),
    }
    if choice.backend == "demo":
        files["kb.yaml"] = _kb()
    if choice.backend == "python":
        files["bot.py"] = _BOT
    return files
