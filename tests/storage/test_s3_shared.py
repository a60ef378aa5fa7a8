"""The shared ``datasets/`` and variant ``groups/`` folders of an s3:// workspace (moto)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytestmark = pytest.mark.e2e

ENDPOINT = {"client_kwargs": {"endpoint_url": "${AWS_ENDPOINT_URL}"}}


def _cli(*args: str, cwd: Path, cache: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CHATBOT_TESTER_CACHE_DIR": str(cache)}
    env.pop("GITHUB_STEP_SUMMARY", None)
    return subprocess.run(
        [sys.executable, "-m", "chatbot_tester", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _s3() -> object:
    import s3fs

    s3fs.S3FileSystem.clear_instance_cache()
    return s3fs.S3FileSystem()


def _project(tmp_path: Path, workspace: str, **extra: object) -> Path:
    with (tmp_path / "data.jsonl").open("w", encoding="utf-8") as fh:
        for i in range(12):
            fh.write(
                json.dumps({"id": f"q{i}", "input": f"q {i}", "expected": f"ok: q {i}"}) + "\n"
            )
    config = {
        "name": "shared",
        "workspace": workspace,
        "storage": {"options": ENDPOINT, "checkpoint_seconds": 0.2},
        "generator": {"source": "data.jsonl", "dataset_id": "faq"},
        "runner": {"backend": "echo", "options": {"prefix": "ok: "}},
        "evaluator": {"metrics": [{"type": "exact_match"}], "report": {"formats": ["json"]}},
        **extra,
    }
    (tmp_path / "pipeline.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return tmp_path


def test_datasets_go_up_and_another_machine_reuses_them(s3_server: str, tmp_path: Path) -> None:
    project = _project(tmp_path, "s3://evals/ds")
    first = _cli("run", "pipeline.yaml", cwd=project, cache=tmp_path / "machine-a")
    assert first.returncode == 0, first.stderr
    fs = _s3()
    (key,) = [p for p in fs.ls("evals/ds/datasets") if p.endswith(".jsonl")]  # type: ignore[attr-defined]
    name = key.rsplit("/", 1)[-1]
    assert name.startswith("faq-")
    spool = next((tmp_path / "machine-a" / "workspaces").iterdir())
    assert fs.cat_file(key) == (spool / "datasets" / name).read_bytes()  # type: ignore[attr-defined]
    # a second machine (empty spool) finds the dataset in the bucket and does not rebuild it
    second = _cli("run", "pipeline.yaml", cwd=project, cache=tmp_path / "machine-b")
    assert second.returncode == 0, second.stderr
    spool_b = next((tmp_path / "machine-b" / "workspaces").iterdir())
    assert (spool_b / "datasets" / name).read_bytes() == fs.cat_file(key)  # type: ignore[attr-defined]
    runs = sorted(fs.ls("evals/ds/runs"))  # type: ignore[attr-defined]
    manifests = [json.loads(fs.cat_file(f"{r}/manifest.json")) for r in runs]  # type: ignore[attr-defined]
    assert [m["stages"]["generate"] for m in manifests] == ["completed", "skipped"]
    assert manifests[0]["dataset"]["hash"] == manifests[1]["dataset"]["hash"]


def test_variant_group_comparison_goes_up_and_reads_back(
    s3_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    variants = [
        {"name": "base", "options": {"prefix": "ok: "}},
        {"name": "other", "options": {"prefix": "ok: "}},
    ]
    project = _project(tmp_path, "s3://evals/groups", variants=variants)
    done = _cli("run", "pipeline.yaml", cwd=project, cache=tmp_path / "machine-a")
    assert done.returncode == 0, done.stderr
    fs = _s3()
    (group,) = [p.rsplit("/", 1)[-1] for p in fs.ls("evals/groups/groups")]  # type: ignore[attr-defined]
    remote = {p.rsplit("/", 1)[-1] for p in fs.ls(f"evals/groups/groups/{group}")}  # type: ignore[attr-defined]
    assert {"compare.json", "compare.md", "compare.html"} <= remote
    # read back on another machine through the workspace
    from chatbot_tester.common.artifacts.remote_workspace import open_workspace

    monkeypatch.setenv("CHATBOT_TESTER_CACHE_DIR", str(tmp_path / "machine-b"))
    ws = open_workspace("s3://evals/groups", options={"client_kwargs": {"endpoint_url": s3_server}})
    ws.fetch_shared(f"groups/{group}")
    local = ws.root / "groups" / group
    assert {p.name for p in local.iterdir()} == remote
    comparison = json.loads((local / "compare.json").read_text())
    assert comparison == json.loads(fs.cat_file(f"evals/groups/groups/{group}/compare.json"))  # type: ignore[attr-defined]
    assert {v["name"] for v in comparison["variants"]} >= {"other"}
