"""Loading two evaluated runs for ``compare``: scores per sample, manifests, directions, pairing.

Scores are read from scores.jsonl (whole-sample scores only, the first score of a
``(sample, repeat, metric)`` wins). The manifests (when present) tell whether the candidate
completed, and whether the runs are like-for-like (repeat count, metric configs, dataset).
Generated ids (``row-N``) are paired by a hash of the sample's input instead of by id.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from chatbot_tester.common.artifacts.run_files import iter_models, locate
from chatbot_tester.common.artifacts.workspace import SCORES
from chatbot_tester.common.schemas import Score
from chatbot_tester.errors import ConfigError
from chatbot_tester.evaluator.compare_model import Direction

__all__ = [
    "SampleAcc",
    "differences",
    "direction_of",
    "load_scores",
    "manifest",
    "metric_specs",
    "pair_ids",
]

_GENERATED_ID = re.compile(r"row-\d+")
_LOWER_NAMES = ("latency", "ttft", "cost", "tokens", "error")
"""Name prefixes of lower-is-better figures when the metric type cannot be resolved."""


class SampleAcc:
    """Running sums for one (metric, sample) over repeats."""

    __slots__ = ("n_errors", "n_passed", "n_value", "n_verdicts", "total")

    def __init__(self) -> None:
        self.total = 0.0
        self.n_value = 0
        self.n_passed = 0
        self.n_verdicts = 0
        self.n_errors = 0

    @property
    def value(self) -> float | None:
        """Mean value over the repeats that have one."""
        return self.total / self.n_value if self.n_value else None

    @property
    def errored(self) -> bool:
        """True when no repeat got a verdict (every one errored, or none was scored)."""
        return self.n_verdicts == 0

    @property
    def share(self) -> float:
        """Share of passing repeats; errored repeats count as fails, no repeat gives 0."""
        n = self.n_verdicts + self.n_errors
        return self.n_passed / n if n else 0.0


def _scores(run: Path) -> Iterator[Score]:
    path = run / SCORES
    if locate(path) is None:
        raise ConfigError(
            f"{run}: no {SCORES} (or scores.parquet): the run was not evaluated "
            "(run 'chatbot-tester evaluate' on it first)"
        )
    return iter_models(path, Score)


def load_scores(
    run: Path, rename: dict[str, str] | None = None
) -> tuple[dict[str, dict[str, SampleAcc]], set[str]]:
    """Per metric and sample the accumulated repeats, plus every sample id with a score.

    ``rename`` maps this run's sample ids onto the ids used for pairing.
    """
    seen: set[tuple[str, int, str]] = set()
    table: dict[str, dict[str, SampleAcc]] = {}
    samples: set[str] = set()
    for score in _scores(run):
        if score.turn is not None:
            continue
        key = (score.sample_id, score.repeat, score.metric)
        if key in seen:  # de-duplicate: the first score wins (re-scoring appends)
            continue
        seen.add(key)
        sid = rename.get(score.sample_id, score.sample_id) if rename else score.sample_id
        samples.add(sid)
        acc = table.setdefault(score.metric, {}).setdefault(sid, SampleAcc())
        if score.value is not None and math.isfinite(score.value):
            acc.total += score.value
            acc.n_value += 1
        if score.passed is not None:
            acc.n_verdicts += 1
            acc.n_passed += int(score.passed)
        elif score.error is not None:
            acc.n_errors += 1
    return table, samples


def manifest(run: Path) -> dict[str, Any] | None:
    """The run's manifest.json as a dict, or ``None`` when absent or unreadable."""
    try:
        data = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _section(data: dict[str, Any] | None, *keys: str) -> Any:
    for key in keys:
        if not isinstance(data, dict):
            return None
        data = data.get(key)
    return data


def metric_specs(man: dict[str, Any] | None) -> dict[str, dict[str, Any]]:
    """Metric label -> its spec (type and options) from the manifest's config snapshot."""
    specs = _section(man, "config", "evaluator", "metrics")
    out: dict[str, dict[str, Any]] = {}
    for spec in specs if isinstance(specs, list) else []:
        if isinstance(spec, dict) and isinstance(spec.get("type"), str):
            out[str(spec.get("name") or spec["type"])] = spec
    return out


def direction_of(label: str, spec: dict[str, Any] | None) -> Direction:
    """The metric's declared direction (from its registered class), else guessed by name."""
    from chatbot_tester.evaluator.metrics import metric_registry

    kind = str(spec.get("type")) if spec else label
    try:
        cls = metric_registry.get(kind)
    except Exception:  # an unknown or unloadable plugin metric: fall back to the name
        cls = None
    declared = getattr(cls, "direction", None)
    if declared in ("higher", "lower"):
        return "lower" if declared == "lower" else "higher"
    return "lower" if kind.lower().startswith(_LOWER_NAMES) else "higher"


def differences(base: dict[str, Any] | None, cand: dict[str, Any] | None) -> list[str]:
    """Ways the two runs are not like-for-like: repeat count, metric configs, dataset."""
    if base is None or cand is None:
        return []
    out: list[str] = []
    rb = _section(base, "config", "runner", "repeat") or 1
    rc = _section(cand, "config", "runner", "repeat") or 1
    if rb != rc:
        out.append(f"repeat counts differ: baseline {rb}, candidate {rc}")
    sb, sc = metric_specs(base), metric_specs(cand)
    for label in sorted(set(sb) & set(sc)):
        if sb[label] != sc[label]:
            out.append(
                f"metric '{label}' is configured differently: baseline "
                f"{json.dumps(sb[label], sort_keys=True)}, candidate "
                f"{json.dumps(sc[label], sort_keys=True)}"
            )
    hb, hc = _section(base, "dataset", "hash"), _section(cand, "dataset", "hash")
    if hb and hc and hb != hc:
        out.append(f"dataset contents differ: baseline {hb[:19]}, candidate {hc[:19]}")
    return out


def _input_hashes(run: Path) -> dict[str, str]:
    """Sample id -> sha256 of its input (and turns) from the run's dataset.jsonl."""
    out: dict[str, str] = {}
    try:
        lines = (run / "dataset.jsonl").read_text(encoding="utf-8").splitlines()
    except OSError:
        return out
    for line in lines:
        try:
            row = json.loads(line)
        except ValueError:
            continue
        if isinstance(row, dict) and isinstance(row.get("id"), str):
            payload = json.dumps([row.get("input"), row.get("turns")], sort_keys=True)
            out[row["id"]] = hashlib.sha256(payload.encode()).hexdigest()
    return out


def pair_ids(baseline: Path, candidate: Path, notes: list[str]) -> dict[str, str] | None:
    """For generated ``row-N`` ids: a candidate-id -> baseline-id map pairing by input hash.

    ``None`` when ids are not generated or the datasets are not available. A note is added
    when pairing by content differs from pairing by id.
    """
    hb, hc = _input_hashes(baseline), _input_hashes(candidate)
    if not hb or not hc:
        return None
    if not all(_GENERATED_ID.fullmatch(i) for i in (*hb, *hc)):
        return None
    by_hash: dict[str, str] = {}
    for sid, digest in hb.items():
        by_hash.setdefault(digest, sid)
    rename = {sid: by_hash.get(digest, f"{sid} (candidate)") for sid, digest in hc.items()}
    moved = sum(1 for sid, target in rename.items() if sid != target)
    if moved:
        notes.append(
            f"generated ids (row-N) moved: {moved} candidate samples paired by input content "
            "instead of by id"
        )
    return rename
