"""The viewer's HTTP API against a real server process on 127.0.0.1 and real runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import httpx
from view_helpers import run_ids, view_server


def test_runs_list_newest_first_with_headline_metrics_and_filters(
    server: str, history: Path
) -> None:
    data = httpx.get(server + "api/runs").json()
    ids = [r["run_id"] for r in data["runs"]]
    assert ids == sorted(run_ids(history), reverse=True)
    assert data["pipelines"] == ["shop"]
    newest = data["runs"][0]
    assert newest["passed"] is False and newest["status"] == "completed"
    assert set(newest["metrics"]) == {"exact_match", "token_f1"}
    assert newest["metrics"]["exact_match"]["pass_rate"] == 0
    em = data["runs"][1]["metrics"]["exact_match"]
    assert em["pass_ci_low"] < em["pass_rate"] == 8 / 12 < em["pass_ci_high"]
    assert httpx.get(server + "api/runs", params={"status": "running"}).json()["runs"] == []
    assert len(httpx.get(server + "api/runs", params={"q": ids[2][-6:]}).json()["runs"]) == 1


def test_samples_page_filter_sort_and_drill_down(server: str, history: Path) -> None:
    rid = run_ids(history)[0]
    page = httpx.get(server + f"api/runs/{rid}/samples", params={"limit": 5}).json()
    for _ in range(50):
        if page["ready"]:
            break
        page = httpx.get(server + f"api/runs/{rid}/samples", params={"limit": 5}).json()
    assert page["total"] == 12 and len(page["rows"]) == 5
    assert page["counts"] == {"pass": 8, "fail": 4}  # every third expected answer is wrong
    fails = httpx.get(server + f"api/runs/{rid}/samples", params={"status": "fail"}).json()
    assert fails["total"] == 4 and {r["status"] for r in fails["rows"]} == {"fail"}
    second = httpx.get(server + f"api/runs/{rid}/samples", params={"offset": 10}).json()
    assert [r["id"] for r in second["rows"]] == ["s10", "s11"]
    found = httpx.get(server + f"api/runs/{rid}/samples", params={"q": "question 7 "}).json()
    assert [r["id"] for r in found["rows"]] == ["s07"]
    sid = page["rows"][0]["id"]  # s00<img ...>: an id with markup, sent URL-encoded
    detail = httpx.get(server + f"api/runs/{rid}/samples/{httpx.URL(sid).raw_path.decode()}/0")
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["sample"]["id"] == sid and body["record"]["sample_id"] == sid
    assert {s["metric"] for s in body["scores"]} == {"exact_match", "token_f1"}


def test_compare_flags_the_regression_and_shows_both_answers(server: str, history: Path) -> None:
    ids = run_ids(history)
    data = httpx.get(server + "api/compare", params={"base": ids[0], "cand": ids[-1]}).json()
    assert data["has_regression"] is True
    flips = data["flipped"]
    assert flips and all(f["flip"] == "pass_to_fail" for f in flips)
    first = flips[0]
    assert first["baseline_answer"].startswith("echo: ") and first["candidate_answer"].startswith(
        "nope: "
    )
    same = httpx.get(server + "api/compare", params={"base": ids[0], "cand": ids[1]}).json()
    assert same["has_regression"] is False and same["flipped"] == []


def test_trends_give_one_point_per_evaluated_run(server: str, history: Path) -> None:
    points = httpx.get(server + "api/trends", params={"pipeline": "shop"}).json()["points"]
    assert [p["run_id"] for p in points] == run_ids(history)
    assert [p["passed"] for p in points] == [True] * 5 + [False]
    assert all(p["latency_p95"] is not None for p in points)


def _dataset(history: Path) -> list[dict]:
    rid = run_ids(history)[0]
    lines = (history / "runs" / rid / "dataset.jsonl").read_text().splitlines()
    return [json.loads(x) for x in lines if x]


def test_events_stream_replays_a_finished_run_and_ends(server: str, history: Path) -> None:
    rid = run_ids(history)[0]
    with httpx.stream("GET", server + f"api/runs/{rid}/events", timeout=10) as resp:
        assert resp.headers["content-type"].startswith("text/event-stream")
        data = [json.loads(x[6:]) for x in resp.iter_lines() if x.startswith('data: {"')]
    kinds = [d["event"] for d in data]
    assert kinds[0] == "RunStarted" and kinds[-1] == "RunFinished"
    sent = [d for d in data if d["event"] == "ItemFinished" and d["stage"] == "run"]
    assert len(sent) == 12 and {d["item_id"] for d in sent} == {d["id"] for d in _dataset(history)}


def test_tags_are_the_only_write_and_are_validated(server: str, history: Path) -> None:
    rid = run_ids(history)[1]
    url = server + f"api/runs/{rid}/tags"
    assert httpx.put(url, json=["release-1", "good"]).json() == {"tags": ["release-1", "good"]}
    assert json.loads((history / "runs" / rid / "tags.json").read_text()) == ["release-1", "good"]
    assert (
        httpx.get(server + "api/runs", params={"q": "release-1"}).json()["runs"][0]["run_id"] == rid
    )
    bad = httpx.put(url, json=["<b>x</b>"])
    assert bad.status_code == 400 and "tag" in bad.json()["error"]
    cross = httpx.put(url, json=["x"], headers={"Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert httpx.post(server + f"api/runs/{rid}/tags", json=["x"]).status_code == 405
    assert httpx.delete(server + f"api/runs/{rid}").status_code == 405


def test_unknown_runs_and_hostile_paths_are_404(server: str) -> None:
    for path in (
        "api/runs/nope",
        "api/runs/..%2F..%2Fetc",
        "api/runs/nope/samples",
        "static/../app.py",
    ):
        assert httpx.get(server + path).status_code == 404, path


def test_answers_only_to_loopback_names_and_sends_a_strict_csp(server: str) -> None:
    page = httpx.get(server)
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp
        and "frame-ancestors 'none'" in csp
    )
    assert httpx.get(server + "api/runs", headers={"Host": "evil.example"}).status_code == 421


def test_a_token_is_required_when_set(history: Path) -> None:
    with view_server(history, "--token", "s3cret-token") as url:
        assert httpx.get(url + "api/runs").status_code == 401
        assert httpx.get(url + "api/runs", params={"token": "wrong"}).status_code == 401
        ok = httpx.get(url + "?token=s3cret-token")
        assert ok.status_code == 200 and "ct_view_token" in ok.headers["set-cookie"]
        assert "HttpOnly" in ok.headers["set-cookie"]
        cookie = {"ct_view_token": "s3cret-token"}
        assert httpx.get(url + "api/runs", cookies=cookie).status_code == 200


def test_a_non_loopback_host_needs_a_token_or_an_explicit_flag(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    proc = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "view", str(tmp_path), "--host", "0.0.0.0"],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert proc.returncode == 2
    assert (
        proc.stderr.count("\n") == 1 and "--token" in proc.stderr and "Traceback" not in proc.stderr
    )
    missing = subprocess.run(
        [sys.executable, "-m", "chatbot_tester", "view", str(tmp_path / "nowhere")],
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip
    assert missing.returncode == 2 and "no runs folder" in missing.stderr
