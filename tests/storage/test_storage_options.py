"""``--storage-option KEY=VALUE`` on ``compare``, ``evaluate`` and ``runs``: beyond the environment."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from chatbot_tester.cli.storage_options import parse_storage_options
from chatbot_tester.errors import UsageError


def test_parse_nests_dotted_keys_types_scalars_and_resolves_vars(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CT_TEST_ENDPOINT", "http://127.0.0.1:9")
    parsed = parse_storage_options(
        [
            "client_kwargs.endpoint_url=${CT_TEST_ENDPOINT}",
            "client_kwargs.region_name=eu-west-1",
            "anon=false",
            "default_block_size=1024",
            "profile=a=b",
        ]
    )
    assert parsed == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9", "region_name": "eu-west-1"},
        "anon": False,
        "default_block_size": 1024,
        "profile": "a=b",
    }


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("anon", "expected KEY=VALUE"),
        ("a..b=1", "expected KEY=VALUE"),
        ("key=${CT_TEST_UNSET_VAR}", "'CT_TEST_UNSET_VAR' is not set"),
    ],
)
def test_parse_rejects_bad_items(item: str, message: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CT_TEST_UNSET_VAR", raising=False)
    with pytest.raises(UsageError, match=message) as info:
        parse_storage_options([item])
    assert "--storage-option" in str(info.value)


def _cli(*args: str, cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.e2e
def test_compare_and_runs_reach_the_bucket_through_storage_options(
    s3_server: str, tmp_path: Path
) -> None:
    with (tmp_path / "data.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(10):
            fh.write(
                json.dumps({"id": f"q{i}", "input": f"q {i}", "expected": f"ok: q {i}"}) + "\n"
            )
    config = {
        "name": "opts",
        "workspace": "s3://evals/opts",
        "storage": {"options": {"client_kwargs": {"endpoint_url": "${AWS_ENDPOINT_URL}"}}},
        "generator": {"source": "data.jsonl"},
        "runner": {"backend": "echo", "options": {"prefix": "ok: "}},
        "evaluator": {"metrics": [{"type": "exact_match"}], "report": {"formats": ["json"]}},
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config))
    env = {**os.environ, "CHATBOT_TESTER_CACHE_DIR": str(tmp_path / "machine-a")}
    env.pop("GITHUB_STEP_SUMMARY", None)
    for _ in range(2):
        done = _cli("run", "pipeline.yaml", cwd=tmp_path, env=env)
        assert done.returncode == 0, done.stderr
    # another machine: no endpoint in its environment, only on the command line (by ${VAR})
    other = {k: v for k, v in env.items() if k != "AWS_ENDPOINT_URL"}
    other.update(CHATBOT_TESTER_CACHE_DIR=str(tmp_path / "machine-b"), CT_S3=s3_server)
    ws_args = ["--workspace", "s3://evals/opts"]
    opt = ["--storage-option", "client_kwargs.endpoint_url=${CT_S3}"]
    listed = _cli("runs", "list", *ws_args, *opt, "--json", cwd=tmp_path, env=other)
    assert listed.returncode == 0, listed.stderr
    ids = [e["run_id"] for e in json.loads(listed.stdout)]
    assert len(ids) == 2
    cmp = _cli(
        "compare", ids[0], ids[1], *ws_args, *opt, "--format", "json", cwd=tmp_path, env=other
    )
    assert cmp.returncode == 0, cmp.stderr
    assert json.loads(cmp.stdout)["candidate"]["run_id"] == ids[1]
    scored = _cli("evaluate", ids[0], *ws_args, *opt, "--no-resume", cwd=tmp_path, env=other)
    assert scored.returncode == 0, scored.stderr
    tagged = _cli("runs", "tag", ids[0], "gold", *ws_args, *opt, cwd=tmp_path, env=other)
    assert tagged.returncode == 0, tagged.stderr
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    assert json.loads(s3fs.S3FileSystem().cat_file(f"evals/opts/runs/{ids[0]}/tags.json")) == [
        "gold"
    ]
    # the option is what reaches the server: a dead loopback port is one line, exit 2
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        dead = f"http://127.0.0.1:{sock.getsockname()[1]}"
    bad = ["--storage-option", f"client_kwargs.endpoint_url={dead}"]
    for args in (
        ["runs", "list", *ws_args, *bad],
        ["compare", ids[0], ids[1], *ws_args, *bad],
        ["evaluate", ids[0], *ws_args, *bad],
    ):
        failed = _cli(*args, cwd=tmp_path, env={**other, "AWS_MAX_ATTEMPTS": "1"})
        assert failed.returncode == 2, failed.stderr
        assert len(failed.stderr.strip().splitlines()) == 1, failed.stderr
        assert "workspace s3://evals/opts" in failed.stderr
