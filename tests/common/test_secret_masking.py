"""Registered secrets are masked at every writer, in every form they are written in."""

from __future__ import annotations

import html
import json
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from chatbot_tester.cli.masked_streams import masked_console
from chatbot_tester.common.artifacts.cache import ResponseCache
from chatbot_tester.common.artifacts.jsonl import JsonlAppender
from chatbot_tester.common.artifacts.storage import atomic_write_bytes, write_all
from chatbot_tester.common.backends.http_status import check_http_url
from chatbot_tester.common.config import RunnerConfig, resolve_env
from chatbot_tester.common.redact import (
    clear_secrets,
    mask_secrets,
    mask_secrets_bytes,
    redact,
    register_secret,
)
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message
from chatbot_tester.common.text import clean_text
from chatbot_tester.errors import ConfigError

SECRET = 'sk-Canary_42"q\\uote/ZZtop-9f8e7d'


@pytest.fixture(autouse=True)
def _clean() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def _normalised(text: str) -> str:
    from chatbot_tester.evaluator.metrics.text import normalize_text

    return normalize_text(text)


def test_every_written_form_is_masked() -> None:
    register_secret(SECRET)
    forms = {
        "raw": SECRET,
        "upper": SECRET.upper(),
        "json": json.dumps(SECRET)[1:-1],
        "html": html.escape(SECRET),
        "url": quote(SECRET, safe=""),
        "normalised": _normalised(SECRET),
        "tokens": "sk canary 42 q uote zztop 9f8e7d",  # split on punctuation, lowercased
    }
    for name, form in forms.items():
        masked = mask_secrets(f"before {form} after")
        assert masked == "before *** after", name
        assert mask_secrets_bytes(f"x{form}y".encode()) == b"x***y", name


def test_masking_keeps_json_valid_and_leaves_other_text_alone() -> None:
    register_secret(SECRET)
    line = json.dumps({"answer": f"the key is {SECRET}!", "n": 1})
    masked = mask_secrets(line)
    assert json.loads(masked) == {"answer": "the key is ***!", "n": 1}
    assert mask_secrets("nothing to see, sk-other-0123456789abcdef") == (
        "nothing to see, sk-other-0123456789abcdef"  # unregistered shapes are kept (pii_leak)
    )
    assert "***" in redact("nothing to see, sk-other-0123456789abcdef")  # redact() is for errors


def test_nothing_registered_is_the_identity() -> None:
    text = "plain text " * 10
    assert mask_secrets(text) is text
    data = text.encode()
    assert mask_secrets_bytes(data) is data


def test_short_values_are_not_registered() -> None:
    register_secret("abc123")
    assert mask_secrets("abc123") == "abc123"


def test_writers_mask(tmp_path: Path) -> None:
    register_secret(SECRET)
    target = tmp_path / "report.html"
    atomic_write_bytes(target, f"<p>{html.escape(SECRET)}</p>".encode())
    assert target.read_text() == "<p>***</p>"
    fd = os.open(tmp_path / "events.jsonl", os.O_WRONLY | os.O_CREAT, 0o644)
    write_all(fd, json.dumps({"m": SECRET}).encode() + b"\n")
    os.close(fd)
    assert json.loads((tmp_path / "events.jsonl").read_text()) == {"m": "***"}
    with JsonlAppender(tmp_path / "results.jsonl") as out:
        out.write(Message(role="assistant", content=f"echo {SECRET}"))
    assert SECRET not in (tmp_path / "results.jsonl").read_text()
    assert "echo ***" in (tmp_path / "results.jsonl").read_text()


def test_cache_stores_masked_answers(tmp_path: Path) -> None:
    register_secret(SECRET)
    path = tmp_path / "cache.sqlite"
    request = ChatRequest(messages=[Message(role="user", content="hi")])
    with ResponseCache(path) as cache:
        key = cache.key({}, request)
        cache.put(key, ChatResponse(text=f"your key: {SECRET}"))
    with ResponseCache(path) as cache:
        hit = cache.get(key)
    assert hit is not None and hit.text == "your key: ***"
    assert json.dumps(SECRET)[1:-1].encode() not in path.read_bytes()


def test_console_and_clean_text_mask_before_truncation(capsys: pytest.CaptureFixture[str]) -> None:
    register_secret(SECRET)
    with masked_console():
        print(f"out {SECRET}")
        sys.stderr.write(f"err {SECRET.lower()}\n")
    captured = capsys.readouterr()
    assert captured.out == "out ***\n"
    assert captured.err == "err ***\n"
    assert clean_text(f"a\n{SECRET}")[:6] == "a ***"


def test_resolve_registers_headers_and_url_passwords(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PLAIN_HEADER", "header-value-plain-1")
    monkeypatch.setenv("PLAIN_URL", "http://bob:pa/ss-word-42@127.0.0.1:8000/v1")
    resolve_env({"headers": {"X-Custom": "${PLAIN_HEADER}"}}, where="backend 'http' options")
    resolve_env({"url": "${PLAIN_URL}"}, where="backend 'http' options")
    assert mask_secrets("h header-value-plain-1") == "h ***"
    assert mask_secrets("p pa/ss-word-42") == "p ***"


def test_var_in_every_text_field(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CT_PROMPT", "You are a careful bot.")
    monkeypatch.setenv("CT_MAX", "64")
    runner = RunnerConfig(
        backend="echo",
        system_prompt="${CT_PROMPT}",
        params={"max_tokens": "${CT_MAX}", "stop": ["${CT_PROMPT}"]},
    )
    resolved = runner.resolved()
    assert resolved.system_prompt == "You are a careful bot."
    assert resolved.params == {"max_tokens": 64, "stop": ["You are a careful bot."]}
    assert runner.system_prompt == "${CT_PROMPT}"  # the model as written is untouched
    assert mask_secrets("You are a careful bot.") == "You are a careful bot."  # not a secret
    monkeypatch.delenv("CT_PROMPT")
    with pytest.raises(ConfigError) as err:
        runner.resolved()
    assert "runner.params.stop[0]" in str(err.value) and "'CT_PROMPT'" in str(err.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://user:pa/ss-Secret-77@127.0.0.1:9/v1",
        "http://user:12/ss-Secret-77@127.0.0.1:9/v1",
        "https://user:p#?ss-Secret-77@api.example.com/v1",
    ],
)
def test_base_url_password_with_special_characters(url: str) -> None:
    checked = check_http_url(url)
    assert checked is not None
    assert checked.endswith(("@127.0.0.1:9/v1", "@api.example.com/v1"))
    assert "ss-Secret-77" in checked  # percent-encoded around it, not dropped
    assert mask_secrets(f"echo {url}") == f"echo {url.split('//')[0]}//user:***@{url.split('@')[1]}"


def test_base_url_error_hides_the_password() -> None:
    with pytest.raises(ValueError) as err:
        check_http_url("http://user:pa/ss-Secret-77@127.0.0.1:99999999/v1")
    assert "Secret" not in str(err.value) and "pa" not in str(err.value).split("***")[0][7:]


def test_remote_store_masks(tmp_path: Path) -> None:
    from chatbot_tester.common.artifacts.remote_store import FsspecStore

    register_secret(SECRET)
    store = FsspecStore("memory://secrets-test/ws")
    store.put_bytes("runs/r1/results.jsonl", json.dumps({"a": SECRET}).encode() + b"\n")
    store.append_line("runs/r1/results.jsonl", json.dumps({"b": SECRET.upper()}).encode())
    lines = store.get_bytes("runs/r1/results.jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == [{"a": "***"}, {"b": "***"}]


def test_secret_names() -> None:
    from chatbot_tester.common.redact import looks_secret_name

    for name in ("DB_AUTH", "auth-token", "MY_CREDS", "SMTP_PWD", "client_secret"):
        assert looks_secret_name(name), name
    for name in ("AUTHOR", "pass_threshold", "session_id_path", "model", "base_url"):
        assert not looks_secret_name(name), name


@pytest.mark.parametrize("step", [1, 5, 64, 1000])
def test_atomic_open_masks_a_secret_split_across_writes(tmp_path: Path, step: int) -> None:
    register_secret(SECRET)
    embedded = json.dumps(SECRET)[1:-1].replace("<", "\\u003c")  # JSON inside report.html
    data = ("a" * 700 + SECRET + "b" * 300 + embedded + "c" * 5).encode()
    target = tmp_path / "report.html"
    from chatbot_tester.common.artifacts.storage import atomic_open

    with atomic_open(target) as fh:
        for i in range(0, len(data), step):
            assert fh.write(data[i : i + step]) == len(data[i : i + step])
    assert target.read_bytes() == ("a" * 700 + "***" + "b" * 300 + "***" + "c" * 5).encode()


def test_json_in_html_script_form_is_masked() -> None:
    secret = "<tag>&amp-secret-value"
    register_secret(secret)
    escaped = json.dumps(secret)[1:-1]
    for raw, esc in (("<", "\\u003c"), (">", "\\u003e"), ("&", "\\u0026")):
        escaped = escaped.replace(raw, esc)
    assert mask_secrets(f'{{"a":"{escaped}"}}') == '{"a":"***"}'
