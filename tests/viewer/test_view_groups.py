"""Variant sets in the viewer's API: the list of groups and one group's comparison."""

from __future__ import annotations

from pathlib import Path

import httpx
from view_helpers import XSS, run_ids, view_server

BASE, CAND = "base " + XSS[2], "cand " + XSS[0]
EM = "em " + XSS[1]


def test_groups_list_names_pipeline_variants_and_runs(
    variant_server: str, variant_set: Path
) -> None:
    groups = httpx.get(variant_server + "api/groups").json()["groups"]
    assert len(groups) == 1
    g = groups[0]
    assert g["group"] == next((variant_set / "groups").iterdir()).name
    assert g["pipeline"] == "vs " + XSS[0]
    assert g["baseline"] == BASE
    assert [v["name"] for v in g["variants"]] == [BASE, CAND]
    assert sorted(v["run_id"] for v in g["variants"]) == run_ids(variant_set)
    assert g["regressed"] == [CAND]


def test_group_comparison_has_verdicts_holm_p_and_flips_with_both_answers(
    variant_server: str,
) -> None:
    gid = httpx.get(variant_server + "api/groups").json()["groups"][0]["group"]
    g = httpx.get(variant_server + f"api/groups/{gid}").json()
    assert g["regressed"] == [CAND]
    assert EM in g["regressed_metrics"][CAND]
    metrics = {m["metric"]: m for m in g["comparisons"][CAND]["metrics"]}
    assert set(metrics) == {EM, "rx " + XSS[3], "not_contains"}
    em = metrics[EM]
    assert em["verdict"] == "regression" and em["p_adjusted"] < 0.05
    assert em["baseline_pass_rate"] == 11 / 12 and em["candidate_pass_rate"] == 0
    flips = [f for f in g["flipped"][CAND] if f["metric"] == EM]
    assert len(flips) == 11
    assert all(f["baseline_answer"].startswith("echo: question") for f in flips)
    assert all(f["variant_answer"].startswith("nope: question") for f in flips)


def test_unknown_and_hostile_group_ids_are_404(variant_server: str) -> None:
    for path in ("api/groups/nope", "api/groups/..%2F..%2Fetc", "api/groups/..%2Fruns"):
        assert httpx.get(variant_server + path).status_code == 404, path


def test_a_variant_run_names_its_set_variant_and_description(
    variant_server: str, variant_set: Path
) -> None:
    g = httpx.get(variant_server + "api/groups").json()["groups"][0]
    cand = g["variants"][1]["run_id"]
    man = httpx.get(variant_server + f"api/runs/{cand}").json()["manifest"]
    assert man["variant"] == CAND and man["group"] == g["group"]
    assert man["description"] == "about " + XSS[1]


def test_a_broken_group_file_is_409_and_stray_folders_are_skipped(tmp_path: Path) -> None:
    ws = tmp_path / "ws"
    (ws / "runs").mkdir(parents=True)
    bad = ws / "groups" / "20261203T000000000Z-abcdef"
    bad.mkdir(parents=True)
    (bad / "compare.json").write_text('{"group": 1}', "utf-8")
    (ws / "groups" / "not a group").mkdir()
    with view_server(ws) as url:
        groups = httpx.get(url + "api/groups").json()["groups"]
        assert [g["group"] for g in groups] == [bad.name]
        answer = httpx.get(url + f"api/groups/{bad.name}")
        assert answer.status_code == 409 and "not a group comparison" in answer.json()["error"]
        page = httpx.get(url + "api/groups/not%20a%20group")
        assert page.status_code == 404
