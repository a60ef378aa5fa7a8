"""A canary key echoed by the bot, the judge and error bodies appears 0 times anywhere.

Every backend type (openai SDK, anthropic SDK, http, python) runs the whole pipeline with
the response cache on and every report format; then the workspace (runs, cache, events),
stdout and stderr are searched for the key in every form it could take: raw, lower and
upper case, JSON-escaped, the SQuAD-normalised copy exact_match keeps, HTML-escaped,
percent-encoded, and any 10-character piece of its core (a truncated prefix).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from canary_server import canary_server
from e2e_helpers import run_cli

pytestmark = pytest.mark.e2e

CORE = "Xy7Q2mN9pL4vR8tKw3"
KEY = f'sk-canary-{CORE}\\"z/9'
"""Quote and backslash included: the JSON-escaped form differs from the raw one."""

BOT = """
import logging
import sys


def answer(prompt, api_key=None):
    print("bot debug: using key", api_key)  # console output goes through the masking wrapper
    sys.stderr.write("bot stderr: " + api_key.lower() + "\\n")
    logging.getLogger("canary_bot").warning("bot log: %s", api_key)
    if "FAIL" in prompt:
        raise RuntimeError("backend exploded with key " + api_key)
    return "python bot: your key is " + api_key + " / " + api_key.lower()
"""

BACKENDS = {
    "openai": """  backend: openai
  model: bot-model
  options:
    base_url: "{url}/v1"
    api_key: "${{CANARY_KEY}}"
""",
    "anthropic": """  backend: anthropic
  model: bot-model
  options:
    base_url: "{url}"
    api_key: "${{CANARY_KEY}}"
""",
    "http": """  backend: http
  model: bot-model
  options:
    url: "{url}/v1/chat/completions"
    headers: {{Authorization: "Bearer ${{CANARY_KEY}}"}}
""",
    "python": """  backend: python
  options:
    function: "canary_bot:answer"
    kwargs: {{api_key: "${{CANARY_KEY}}"}}
""",
}


def _normalised(text: str) -> str:
    from chatbot_tester.evaluator.metrics.text import normalize_text

    return normalize_text(text)


def _forms() -> dict[str, str]:
    forms = {
        "raw": KEY,
        "json": json.dumps(KEY)[1:-1],
        "json-ascii-of-json": json.dumps(json.dumps(KEY))[1:-1],
        "html": html.escape(KEY),
        "url": quote(KEY, safe=""),
        "normalised": _normalised(KEY),
        "normalised-compact": _normalised(KEY).replace(" ", ""),
    }
    for i in range(len(CORE) - 9):  # any 10-character piece of the core: no truncated prefix
        forms[f"core[{i}:]"] = CORE[i : i + 10]
    return forms


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    with canary_server() as url:
        yield url


def _project(tmp_path: Path, backend: str, url: str) -> Path:
    rows = [
        {"id": "ok1", "input": "What is two plus two?", "expected": "four"},
        {"id": "ok2", "input": "Name a colour.", "expected": ["red", "blue"]},
        {"id": "bad", "input": "Please FAIL now", "expected": "nothing"},
    ]
    (tmp_path / "data.jsonl").write_text("\n".join(json.dumps(r) for r in rows) + "\n")
    (tmp_path / "canary_bot.py").write_text(BOT)
    judge_opts = f'{{base_url: "{url}/v1", api_key: "${{CANARY_KEY}}"}}'
    (tmp_path / "pipeline.yaml").write_text(
        f"""name: canary_{backend}
workspace: ./ws
generator: {{source: data.jsonl}}
runner:
{BACKENDS[backend].format(url=url)}  retries: 0
  cache: true
  max_error_rate: 1.0
evaluator:
  judge: {{backend: openai, model: judge-json, options: {judge_opts}}}
  metrics:
    - {{type: exact_match}}
    - {{type: contains, value: "four"}}
    - {{type: llm_judge, name: judge_json, rubric: "Is it right?"}}
    - {{type: llm_judge, name: judge_text, model: judge-text, rubric: "Is it right?"}}
  report: {{formats: [html, md, junit, json]}}
""",
        encoding="utf-8",
    )
    return tmp_path


def _hits(text: str) -> list[str]:
    low = text.lower()
    return [name for name, form in _forms().items() if form.lower() in low]


@pytest.mark.parametrize("backend", list(BACKENDS))
def test_canary_key_never_written(tmp_path: Path, server: str, backend: str) -> None:
    if backend == "anthropic":
        pytest.importorskip("anthropic")
    project = _project(tmp_path, backend, server)
    env = {"CANARY_KEY": KEY}
    if backend == "http":  # the key from a .env beside the pipeline instead of the environment
        (project / ".env").write_text(f"CANARY_KEY='{KEY}'\n", encoding="utf-8")
        env = {}
    first = run_cli("run", "pipeline.yaml", cwd=project, env=env)
    assert first.code in (0, 1), first.stderr
    again = run_cli("run", "pipeline.yaml", cwd=project, env=env)  # served from the cache
    assert again.code in (0, 1), again.stderr
    run_dir = Path(first.last_line)
    results = [json.loads(line) for line in (run_dir / "results.jsonl").read_text().splitlines()]
    by_id = {r["sample_id"]: r for r in results}
    # The bot did echo the key (masked), the failing request did fail with the key in its error.
    assert "***" in by_id["ok1"]["response"]["text"]
    assert by_id["bad"]["error"] is not None
    scores = (run_dir / "scores.jsonl").read_text()
    assert "judge_text" in scores and "judge_json" in scores
    for line in scores.splitlines() + (run_dir / "events.jsonl").read_text().splitlines():
        json.loads(line)  # masking kept every JSON line valid
    json.loads((run_dir / "report.json").read_text())
    for path in (run_dir / n for n in ("report.html", "report.md", "junit.xml", "report.json")):
        assert path.is_file(), path
    assert (project / "ws" / "cache").is_dir()

    leaks: dict[str, list[str]] = {}
    for path in sorted(project.joinpath("ws").rglob("*")):
        if path.is_file():
            found = _hits(path.read_bytes().decode("utf-8", "replace"))
            if found:
                leaks[str(path.relative_to(project))] = found
    for name, res in (("first", first), ("again", again)):
        for stream in ("stdout", "stderr"):
            found = _hits(getattr(res, stream))
            if found:
                leaks[f"{name} {stream}"] = found
    assert leaks == {}, leaks
    # The config snapshot keeps the reference, never the value.
    assert "${CANARY_KEY}" in (run_dir / "pipeline.yaml").read_text()


def test_sanity_the_forms_would_be_found() -> None:
    """The search above can fail: every form is found in an unmasked echo."""
    from canary_server import echo_text

    assert set(_hits(echo_text(KEY, "q") + _normalised(echo_text(KEY, "q")))) >= {
        "raw",
        "json",
        "normalised",
        "normalised-compact",
        "core[0:]",
    }
    assert re.search("canary", _normalised(KEY))


def test_var_outside_options_resolves_or_exits_2(tmp_path: Path, server: str) -> None:
    (tmp_path / "data.jsonl").write_text('{"id": "a", "input": "hi"}\n')
    (tmp_path / "pipeline.yaml").write_text(
        f"""name: prompt_var
workspace: ./ws
generator: {{source: data.jsonl}}
runner:
  backend: openai
  model: bot-model
  system_prompt: "${{CT_PROMPT}}"
  params: {{max_tokens: "${{CT_MAX}}"}}
  options: {{base_url: "{server}/v1", api_key: "${{CANARY_KEY}}"}}
""",
        encoding="utf-8",
    )
    env = {"CANARY_KEY": KEY, "CT_MAX": "16"}
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env=env)
    assert res.code == 2
    assert res.stderr.strip().splitlines() == [
        "error: pipeline.yaml: runner.system_prompt: environment variable 'CT_PROMPT' is not "
        "set (export it, put it in a .env beside the pipeline, or write ${CT_PROMPT:-default})"
    ]
    assert not (tmp_path / "ws").exists()
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env={**env, "CT_PROMPT": "Be terse."})
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    assert "${CT_PROMPT}" in (run_dir / "pipeline.yaml").read_text()
    assert "Be terse." not in (run_dir / "pipeline.yaml").read_text()


def test_base_url_password_with_slash_never_printed(tmp_path: Path) -> None:
    (tmp_path / "data.jsonl").write_text('{"id": "a", "input": "hi"}\n')
    (tmp_path / "pipeline.yaml").write_text(
        """name: url_password
workspace: ./ws
generator: {source: data.jsonl}
runner:
  backend: openai
  model: m
  options: {base_url: "${CT_URL}", api_key: "${CANARY_KEY}"}
""",
        encoding="utf-8",
    )
    url = "http://bob:pw/Zq8-canary-pass@127.0.0.1:99999999/v1"
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path, env={"CANARY_KEY": KEY, "CT_URL": url})
    assert res.code == 2
    assert "'pw'" not in res.stderr and "Zq8" not in res.stderr and "Traceback" not in res.stderr
    assert "http://***@127.0.0.1:99999999/v1" in res.stderr
