"""Secret redaction, its hook in resolve_env, and version collection."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator

import pytest

from chatbot_tester.common.config import BackendSpec, resolve_env
from chatbot_tester.common.redact import (
    clear_secrets,
    looks_secret_name,
    redact,
    register_secret,
)
from chatbot_tester.common.versions import collect_versions


@pytest.fixture(autouse=True)
def _clean_secrets() -> Iterator[None]:
    clear_secrets()
    yield
    clear_secrets()


def test_registered_secret_is_masked_everywhere() -> None:
    register_secret("hunter2-super-secret")
    text = "auth failed for hunter2-super-secret (again: hunter2-super-secret)"
    assert redact(text) == "auth failed for *** (again: ***)"


def test_short_values_are_ignored() -> None:
    register_secret("abc")
    register_secret("1234567")
    assert redact("abc 1234567") == "abc 1234567"


def test_longest_secret_wins() -> None:
    register_secret("password1")
    register_secret("password1-and-more")
    assert redact("x password1-and-more y") == "x *** y"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("key sk-proj-AbCdEf0123456789xyzXYZ used", "key *** used"),
        ("Authorization: Bearer eyJhbGciOi.J9abc-def", "Authorization: Bearer ***"),
        ("url https://h/x?api_key=abcd1234&x=1", "url https://h/x?api_key=***&x=1"),
        ("token ghp_abcdefghijklmnopqrstuvwxyz0123", "token ***"),
        ("nothing secret here, sk- is short", "nothing secret here, sk- is short"),
    ],
)
def test_well_known_key_shapes(text: str, expected: str) -> None:
    assert redact(text) == expected


def test_secret_names() -> None:
    for name in ("OPENAI_API_KEY", "api_token", "Authorization", "DB_PASSWORD", "client_secret"):
        assert looks_secret_name(name)
    for name in ("BASE_URL", "model", "timeout_s"):
        assert not looks_secret_name(name)


def test_resolve_env_registers_secret_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SERVICE_TOKEN", "tok-value-1234567")
    monkeypatch.setenv("PLAIN_VALUE", "plain-value-123456")
    monkeypatch.setenv("HEADER_VALUE", "header-value-98765")
    out = resolve_env(
        {
            "note": "${MY_SERVICE_TOKEN}",
            "base_url": "${PLAIN_VALUE}",
            "headers": {"Authorization": "Bearer ${HEADER_VALUE}"},
            "api_key": "${UNSET_VAR:-default-secret-999}",
        },
        where="options",
    )
    assert out["note"] == "tok-value-1234567"
    assert out["headers"]["Authorization"] == "Bearer header-value-98765"
    assert redact("tok-value-1234567") == "***"  # secret-looking variable name
    assert redact("h=header-value-98765") == "h=***"  # secret-looking option name
    assert redact("d default-secret-999") == "d ***"  # default substituted into api_key
    assert redact("plain-value-123456") == "plain-value-123456"  # neither: kept


def test_backend_options_resolution_registers_api_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("ACME_CREDS", "acme-creds-value-42")
    spec = BackendSpec(backend="openai", options={"api_key": "${ACME_CREDS}"})
    assert spec.resolved_options()["api_key"] == "acme-creds-value-42"
    assert spec.options["api_key"] == "${ACME_CREDS}"
    assert redact("error: bad key acme-creds-value-42") == "error: bad key ***"


def test_collect_versions_imports_nothing() -> None:
    code = (
        "import sys; from chatbot_tester.common.versions import collect_versions as c; "
        "v = c(); print(v['pydantic'], v['python'], 'openai' in sys.modules, "
        "'aiohttp' in sys.modules, 'chatbot-tester' in v)"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], check=True, capture_output=True, text=True
    ).stdout.split()
    assert out[2:] == ["False", "False", "True"]
    versions = collect_versions()
    assert versions["python"] == out[1]
    assert versions["pydantic"] == out[0]
    assert "platform" in versions
    assert "not-a-real-dist-xyz" not in collect_versions(("not-a-real-dist-xyz",))
