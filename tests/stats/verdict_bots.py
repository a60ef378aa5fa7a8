"""Seeded controlled bots for the verdict tests and ``bench/verdict.py``.

A bot answers sample i right with a per-sample probability (its difficulty, fixed by the
dataset seed) and takes a per-sample base latency with a little jitter; each run draws fresh
answers and timings. The scores are those the evaluator would write for three metrics:
``exact_match`` (verdict), ``token_f1`` (graded with a 0.5 threshold) and ``latency``
(graded, lower is better), plus ``cost``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from chatbot_tester.common.schemas import Score

__all__ = ["bot_scores", "write_bot_run"]


def bot_scores(
    n: int,
    *,
    run_seed: int,
    data_seed: int = 0,
    accuracy_drop: float = 0.0,
    speed: float = 1.0,
    price: float = 1.0,
    jitter_ms: float = 1.0,
    metrics: tuple[str, ...] = ("exact_match", "token_f1", "latency"),
    answer_seed: int | None = None,
) -> list[Score]:
    """One run's whole-sample scores for ``n`` samples (ids ``s0000``...).

    ``answer_seed`` (default ``run_seed``) draws the answers, ``run_seed`` the timings: the
    same answer seed with another run seed is an identical re-run with latency jitter only.
    """
    data = np.random.default_rng(data_seed)
    right_p = data.uniform(0.5, 1.0, n)
    base_ms = data.uniform(200.0, 800.0, n)
    base_usd = data.uniform(0.001, 0.003, n)
    answers = np.random.default_rng(run_seed if answer_seed is None else answer_seed)
    right = answers.random(n) < np.clip(right_p - accuracy_drop, 0.0, 1.0)
    f1_wrong = answers.uniform(0.0, 0.6, n)
    rng = np.random.default_rng(run_seed + 1_000_003)
    latency = base_ms * speed + rng.normal(0.0, jitter_ms, n)
    out: list[Score] = []
    for i in range(n):
        sid = f"s{i:04d}"
        if "exact_match" in metrics:
            ok = bool(right[i])
            out.append(Score(sample_id=sid, metric="exact_match", value=float(ok), passed=ok))
        if "token_f1" in metrics:
            f1 = 1.0 if right[i] else float(f1_wrong[i])
            out.append(Score(sample_id=sid, metric="token_f1", value=f1, passed=f1 >= 0.5))
        if "latency" in metrics:
            out.append(Score(sample_id=sid, metric="latency", value=float(latency[i])))
        if "cost" in metrics:
            out.append(Score(sample_id=sid, metric="cost", value=float(base_usd[i] * price)))
    return out


def write_bot_run(
    path: Path,
    scores: list[Score],
    *,
    status: str | None = None,
    config: dict[str, Any] | None = None,
    dataset_hash: str | None = None,
) -> Path:
    """Write scores.jsonl (and a manifest.json when a status, config or dataset hash is given)."""
    path.mkdir(parents=True, exist_ok=True)
    with open(path / "scores.jsonl", "w", encoding="utf-8") as fh:
        for s in scores:
            fh.write(s.model_dump_json() + "\n")
    if status is not None or config is not None or dataset_hash is not None:
        manifest: dict[str, Any] = {
            "run_id": path.name,
            "pipeline": "bots",
            "status": status or "completed",
            "config": config or {},
        }
        if dataset_hash is not None:
            manifest["dataset"] = {"id": "d", "hash": dataset_hash, "count": 1}
        (path / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    return path
