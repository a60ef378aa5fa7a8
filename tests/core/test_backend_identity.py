"""Backend identities (cache keys, shared rate limits) never hold a secret in clear."""

from __future__ import annotations

import orjson

from chatbot_tester.common.backends import backend_registry

SECRET = "sk-test-abcdefghijklmnop1234"


def test_identity_hashes_keys_and_secret_headers() -> None:
    backend = backend_registry.create(
        "http",
        url="http://127.0.0.1:9/chat",
        headers={"Authorization": f"Bearer {SECRET}", "X-Api-Key": SECRET, "Accept": "json"},
    )
    ident = backend.identity()
    blob = orjson.dumps(ident).decode()
    assert SECRET not in blob
    assert ident["options"]["headers"]["Authorization"].startswith("sha256:")


def test_base_identity_keeps_harmless_values() -> None:
    backend = backend_registry.create(
        "openai",
        base_url="http://127.0.0.1:9/v1",
        api_key=SECRET,
        headers={"Authorization": f"Bearer {SECRET}", "Accept": "json"},
    )
    ident = backend.identity()
    assert SECRET not in orjson.dumps(ident).decode()
    assert ident["options"]["headers"]["Accept"] == "json"
    assert ident["options"]["base_url"] == "http://127.0.0.1:9/v1"


def test_identity_distinguishes_keys_without_revealing_them() -> None:
    a = backend_registry.create("openai", base_url="http://127.0.0.1:9/v1", api_key=SECRET)
    b = backend_registry.create("openai", base_url="http://127.0.0.1:9/v1", api_key=SECRET + "x")
    assert a.identity() != b.identity()
    assert SECRET not in orjson.dumps(a.identity()).decode()
