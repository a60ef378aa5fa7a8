import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from chatbot_tester.common.artifacts.cache import ResponseCache, open_cache
from chatbot_tester.common.schemas import ChatRequest, ChatResponse, Message, ToolCall, Usage

IDENTITY = {"backend": "openai", "options": {"base_url": "http://127.0.0.1:1/v1"}}


def _request(**kw: object) -> ChatRequest:
    data: dict[str, object] = {"messages": [Message(role="user", content="hi")], "model": "m"}
    data.update(kw)
    return ChatRequest.model_validate(data)


def test_round_trip(tmp_path: Path) -> None:
    cache = ResponseCache(tmp_path / "c.sqlite")
    key = cache.key(IDENTITY, _request())
    assert cache.get(key) is None
    answer = ChatResponse(
        text="hello", usage=Usage(prompt_tokens=3, completion_tokens=1), raw={"a": 1}
    )
    cache.put(key, answer)
    assert cache.get(key) == answer
    cache.close()
    with ResponseCache(tmp_path / "c.sqlite") as reopened:
        assert reopened.get(key) == answer
        assert (reopened.hits, reopened.misses) == (1, 0)


def test_key_ignores_sample_and_session_id() -> None:
    a = ResponseCache.key(
        IDENTITY, _request(sample_id="s1", session_id="x", variables={"sample_id": "s1"})
    )
    b = ResponseCache.key(
        IDENTITY, _request(sample_id="s2", session_id="y", variables={"sample_id": "s2"})
    )
    assert a == b


@pytest.mark.parametrize(
    "change",
    [
        {"model": "other"},
        {"params": {"temperature": 0.5}},
        {"messages": [Message(role="user", content="hi!")]},
        {
            "messages": [
                Message(role="system", content="be nice"),
                Message(role="user", content="hi"),
            ]
        },
        {"tools": [{"type": "function", "function": {"name": "f"}}]},
        {"variables": {"metadata": {"lang": "fr"}}},
    ],
)
def test_key_changes_with_content(change: dict[str, object]) -> None:
    assert ResponseCache.key(IDENTITY, _request()) != ResponseCache.key(
        IDENTITY, _request(**change)
    )


def test_key_changes_with_identity_and_extra() -> None:
    other = {"backend": "openai", "options": {"base_url": "http://127.0.0.1:2/v1"}}
    base = ResponseCache.key(IDENTITY, _request())
    assert base != ResponseCache.key(other, _request())
    assert base != ResponseCache.key(IDENTITY, _request(), extra={"repeat": 1})


def test_empty_response_refused_tool_call_kept(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put("empty", ChatResponse(text=""))
        cache.put("tool", ChatResponse(tool_calls=[ToolCall(name="f", arguments={"x": 1})]))
        assert cache.get("empty") is None
        got = cache.get("tool")
        assert got is not None and got.tool_calls[0].name == "f"


def test_batched_writes_persist_on_close(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, batch_size=10_000, flush_interval_s=3600)
    for i in range(500):
        cache.put(f"k{i}", ChatResponse(text=f"a{i}"))
    # nothing committed yet: another connection sees no rows
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 0
    assert cache.get("k7") == ChatResponse(text="a7")  # pending puts are visible to get
    cache.close()
    assert other.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 500
    other.close()


def test_batch_size_flushes(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, batch_size=100, flush_interval_s=3600)
    for i in range(250):
        cache.put(f"k{i}", ChatResponse(text="a"))
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 200
    other.close()
    cache.close()


async def test_timer_flushes_within_event_loop(tmp_path: Path) -> None:
    import asyncio

    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path, batch_size=10_000, flush_interval_s=0.05)
    cache.put("k", ChatResponse(text="a"))
    await asyncio.sleep(0.3)
    other = sqlite3.connect(path)
    assert other.execute("SELECT COUNT(*) FROM responses").fetchone()[0] == 1
    other.close()
    cache.close()


def test_second_process_reads(tmp_path: Path) -> None:
    path = tmp_path / "c.sqlite"
    cache = ResponseCache(path)
    cache.put("k", ChatResponse(text="from parent"))
    cache.flush()
    code = (
        "import sys; from pathlib import Path; from chatbot_tester.common.artifacts.cache import ResponseCache;"
        "c = ResponseCache(Path(sys.argv[1])); r = c.get('k'); print(r.text);"
        "c.put('k2', r.model_copy(update={'text': 'from child'})); c.close()"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "from parent"
    assert cache.get("k2") == ChatResponse(text="from child")
    cache.close()


def test_corrupted_file_is_moved_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    cache_dir = tmp_path / "cache"
    cache_dir.mkdir()
    (cache_dir / "responses.sqlite").write_bytes(b"this is not a database" * 100)
    with caplog.at_level(logging.WARNING):
        cache = open_cache(tmp_path)
    assert "unreadable" in caplog.text
    assert list(cache_dir.glob("responses.sqlite.corrupt-*"))
    cache.put("k", ChatResponse(text="fresh"))
    assert cache.get("k") == ChatResponse(text="fresh")
    cache.close()
    with open_cache(tmp_path) as again:
        assert again.get("k") == ChatResponse(text="fresh")


def test_unserialisable_raw_still_cached(tmp_path: Path) -> None:
    with ResponseCache(tmp_path / "c.sqlite") as cache:
        cache.put("k", ChatResponse(text="ok", raw=object()))
        cache.flush()
        got = cache.get("k")
        assert got is not None and got.text == "ok"


def test_processes_writing_at_once_lose_no_puts(tmp_path: Path) -> None:
    """Several processes (a run's Ray workers) share one cache file: every put lands."""
    path = tmp_path / "c.sqlite"
    ResponseCache(path).close()
    code = (
        "import sys; from pathlib import Path;"
        "from chatbot_tester.common.artifacts.cache import ResponseCache;"
        "from chatbot_tester.common.schemas import ChatResponse;"
        "c = ResponseCache(Path(sys.argv[1]), batch_size=20, flush_interval_s=3600);"
        "[c.put(f'{sys.argv[2]}-{i}', ChatResponse(text='x' * 2000)) for i in range(3000)];"
        "c.close(); print(c._conn is None and not c._disabled)"
    )
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(path), f"w{w}"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for w in range(4)
    ]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [o.strip() for o, _ in outs] == ["True"] * 4, [e[-500:] for _, e in outs]
    assert not any("continuing without it" in e for _, e in outs)
    with ResponseCache(path) as cache:
        assert len(cache) == 4 * 3000
        assert cache.get("w3-2999") == ChatResponse(text="x" * 2000)
