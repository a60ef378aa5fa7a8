"""The viewer serves a workspace whose runs keep only Parquet results exactly as their JSONL twin.

Two runs (a good bot, then a regressing one) are written with ``evaluator.report.columnar``;
the workspace is copied, and in the original the JSONL results and scores are deleted. A
viewer on each answers every run, samples, drill-down, distribution and compare request
with the same JSON.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import httpx
from view_helpers import run, run_ids, view_server, write_pipeline


def _columnar(pipeline: Path) -> Path:
    text = pipeline.read_text("utf-8")
    pipeline.write_text(text + "  report: {columnar: true}\n", "utf-8")
    return pipeline


def _ready(url: str, rid: str) -> None:
    for _ in range(100):
        if httpx.get(url + f"api/runs/{rid}/samples").json()["ready"]:
            return
    raise AssertionError("the sample index was never ready")


def _everything(url: str, ids: list[str], ws: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for rid in ids:
        _ready(url, rid)
        out[f"run {rid}"] = httpx.get(url + f"api/runs/{rid}").json()
        for params in (
            {"limit": 500},
            {"status": "fail"},
            {"status": "pass", "sort": "latency"},
            {"q": "question 7 "},
            {"offset": 10, "limit": 5},
        ):
            page = httpx.get(url + f"api/runs/{rid}/samples", params=params).json()
            out[f"samples {rid} {sorted(params.items())}"] = page
        for row in out[f"samples {rid} [('limit', 500)]"]["rows"]:
            if row["id"][3:] and not row["id"].startswith("s00"):
                continue  # ids with markup: s00<img ...> stands for them (URL-encoded)
            sid = httpx.URL(row["id"]).raw_path.decode()
            detail = httpx.get(url + f"api/runs/{rid}/samples/{sid}/{row['repeat']}")
            assert detail.status_code == 200, (row["id"], detail.text)
            out[f"sample {rid} {row['id']}"] = detail.json()
        dist = httpx.get(url + f"api/runs/{rid}/distribution", params={"column": "latency"})
        out[f"distribution {rid}"] = dist.json()
    compare = httpx.get(url + "api/compare", params={"base": ids[0], "cand": ids[1]}).json()
    out["compare"] = compare
    text = json.dumps(out).replace(str(ws), "WS")  # the workspace's location is not a result
    result: dict[str, Any] = json.loads(text)
    return result


def test_parquet_only_runs_are_served_like_their_jsonl_twins(tmp_path: Path) -> None:
    pipeline = _columnar(write_pipeline(tmp_path))
    run(pipeline)
    run(_columnar(write_pipeline(tmp_path, prefix="nope: ")))
    ws, twin = tmp_path / "ws", tmp_path / "twin"
    shutil.copytree(ws, twin)
    ids = run_ids(ws)
    for rid in ids:
        for name in ("results.jsonl", "scores.jsonl"):
            (ws / "runs" / rid / name).unlink()
        assert (ws / "runs" / rid / "results.parquet").is_file()
    with view_server(ws) as url:
        archived = _everything(url, ids, ws)
    with view_server(twin) as url:
        original = _everything(url, ids, twin)
    assert archived.keys() == original.keys()
    for key, value in original.items():
        assert archived[key] == value, key
    first = original[f"samples {ids[0]} [('limit', 500)]"]
    assert first["total"] == 12 and first["counts"] == {"pass": 8, "fail": 4}
    detail = archived[f"sample {ids[0]} s01"]
    assert detail["record"]["response"]["text"].startswith("echo: question 1")
    assert {s["metric"] for s in detail["scores"]} == {"exact_match", "token_f1"}
    assert archived["compare"]["has_regression"] is True
    assert {f["flip"] for f in archived["compare"]["flipped"]} == {"pass_to_fail"}
