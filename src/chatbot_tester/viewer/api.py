"""The viewer's JSON API: runs, one run, its samples, compare, trends; read-only but tags.

Every answer is JSON (``orjson``); the page renders it with ``textContent`` only, so model
output never becomes markup. Unknown runs are 404, bad parameters 400, with a one-line
``{"error": ...}``.
"""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from aiohttp import web

from chatbot_tester.common.artifacts.run_index import RunEntry
from chatbot_tester.viewer.store import ViewStore

__all__ = ["STORE", "routes"]

STORE: web.AppKey[ViewStore] = web.AppKey("store", ViewStore)
routes = web.RouteTableDef()
_FLIPS_SHOWN = 200


def _json(data: Any, status: int = 200) -> web.Response:
    return web.Response(
        body=orjson.dumps(data, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_NON_STR_KEYS),
        status=status,
        content_type="application/json",
    )


def _error(status: int, message: str) -> web.Response:
    return _json({"error": message}, status)


def _store(request: web.Request) -> ViewStore:
    return request.app[STORE]


async def _entry(request: web.Request, run_id: str) -> RunEntry:
    entry = await asyncio.to_thread(_store(request).entry, run_id)
    if entry is None:
        raise web.HTTPNotFound(
            text=orjson.dumps({"error": f"no run {run_id!r}"}).decode(),
            content_type="application/json",
        )
    return entry


def _int(request: web.Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise web.HTTPBadRequest(
            text=orjson.dumps({"error": f"{name} must be an integer"}).decode(),
            content_type="application/json",
        ) from None
    return max(lo, min(hi, value))


@routes.get("/api/runs")
async def list_runs(request: web.Request) -> web.Response:
    """Runs, newest first, filtered by ``pipeline``, ``status``, ``tag`` and ``q`` (substring)."""
    entries = await asyncio.to_thread(_store(request).runs)
    q = request.query.get("q", "").lower()
    want = {k: request.query.get(k) for k in ("pipeline", "status", "tag")}
    out = []
    for e in reversed(entries):
        if want["pipeline"] and e.pipeline != want["pipeline"]:
            continue
        if want["status"] and e.status != want["status"]:
            continue
        if want["tag"] and want["tag"] not in e.tags:
            continue
        hay = " ".join([e.run_id, e.pipeline, e.variant or "", *e.tags]).lower()
        if q and q not in hay:
            continue
        out.append(e.model_dump(mode="json"))
    pipelines = sorted({e.pipeline for e in entries})
    return _json({"runs": out, "pipelines": pipelines, "total": len(entries)})


@routes.get("/api/runs/{run_id}")
async def show_run(request: web.Request) -> web.Response:
    """One run: its index entry, report.json and manifest essentials."""
    run_id = request.match_info["run_id"]
    entry = await _entry(request, run_id)
    store = _store(request)
    report, manifest = await asyncio.gather(
        asyncio.to_thread(store.report, run_id), asyncio.to_thread(store.manifest, run_id)
    )
    keep: tuple[str, ...] = ("status", "created_at", "updated_at", "counts", "dataset", "versions")
    keep += ("message", "variant", "group")
    man = {k: manifest.get(k) for k in keep} if isinstance(manifest, dict) else None
    if man is not None:
        config = manifest.get("config")
        man["description"] = config.get("description") if isinstance(config, dict) else None
    return _json({"entry": entry.model_dump(mode="json"), "report": report, "manifest": man})


@routes.get("/api/runs/{run_id}/samples")
async def list_samples(request: web.Request) -> web.Response:
    """A page of samples: ``offset``, ``limit`` (≤500), ``status``, ``q``, ``sort``."""
    run_id = request.match_info["run_id"]
    await _entry(request, run_id)
    index = _store(request).samples(run_id)
    page = await asyncio.to_thread(
        index.page,
        offset=_int(request, "offset", 0, 0, 10**12),
        limit=_int(request, "limit", 50, 1, 500),
        status=request.query.get("status") or None,
        query=request.query.get("q") or None,
        sort=request.query.get("sort", "position"),
    )
    return _json(page)


@routes.get("/api/runs/{run_id}/samples/{sample_id}/{repeat}")
async def show_sample(request: web.Request) -> web.Response:
    """One record with its sample and every score (whole, as written)."""
    run_id = request.match_info["run_id"]
    await _entry(request, run_id)
    repeat = request.match_info["repeat"]
    if not repeat.isdigit():
        return _error(400, "repeat must be a number")
    found = await asyncio.to_thread(
        _store(request).samples(run_id).sample, request.match_info["sample_id"], int(repeat)
    )
    if found is None:
        return _error(404, "no such sample in this run")
    return _json(found)


@routes.put("/api/runs/{run_id}/tags")
async def put_tags(request: web.Request) -> web.Response:
    """Replace the run's tags with the JSON list in the body (the API's only write)."""
    run_id = request.match_info["run_id"]
    await _entry(request, run_id)
    try:
        body = orjson.loads(await request.read())
    except orjson.JSONDecodeError:
        return _error(400, "the body must be a JSON list of tags")
    if not isinstance(body, list):
        return _error(400, "the body must be a JSON list of tags")
    try:
        tags = await asyncio.to_thread(_store(request).set_tags, run_id, body)
    except ValueError as exc:
        return _error(400, str(exc))
    return _json({"tags": tags})


@routes.get("/api/compare")
async def compare(request: web.Request) -> web.Response:
    """``base`` vs ``cand``: the verdict per metric and the flipped samples with both answers."""
    from chatbot_tester.errors import ChatbotTesterError
    from chatbot_tester.evaluator.compare import compare_runs

    base_id, cand_id = request.query.get("base", ""), request.query.get("cand", "")
    await _entry(request, base_id)
    await _entry(request, cand_id)
    store = _store(request)
    force = request.query.get("force") == "1"
    try:
        result = await asyncio.to_thread(
            compare_runs, store.run_dir(base_id), store.run_dir(cand_id), force=force
        )
    except ChatbotTesterError as exc:
        return _error(409, str(exc))
    data = result.model_dump(mode="json")
    data["has_regression"] = result.has_regression
    data["regressed_metrics"] = result.regressed_metrics
    flips: list[dict[str, Any]] = []
    for m in result.metrics:
        for kind, ids in (("pass_to_fail", m.regressions), ("fail_to_pass", m.improvements)):
            flips += [{"metric": m.metric, "flip": kind, "sample_id": i} for i in ids]
    flips = flips[:_FLIPS_SHOWN]
    base_ix, cand_ix = store.samples(base_id), store.samples(cand_id)

    def answers() -> None:
        for f in flips:
            b = base_ix.sample(f["sample_id"], 0) or {}
            c = cand_ix.sample(f["sample_id"], 0) or {}
            f["question"] = ((b.get("sample") or {}).get("input")) or ""
            f["baseline_answer"] = _answer(b.get("record"))
            f["candidate_answer"] = _answer(c.get("record"))

    await asyncio.to_thread(answers)
    base_rep, cand_rep = store.report(base_id) or {}, store.report(cand_id) or {}
    data["flipped"] = flips
    data["distributions"] = {
        "baseline": {k: base_rep.get(k) for k in ("latency", "cost", "ttft")},
        "candidate": {k: cand_rep.get(k) for k in ("latency", "cost", "ttft")},
    }
    return _json(data)


def _answer(record: dict[str, Any] | None) -> str | None:
    if not record:
        return None
    if record.get("error"):
        return f"(error: {(record['error'] or {}).get('kind', 'error')})"
    return ((record.get("response") or {}).get("text")) or ""


@routes.get("/api/trends")
async def trends(request: web.Request) -> web.Response:
    """Per pipeline, each headline metric, cost and latency p95 over its evaluated runs."""
    pipeline = request.query.get("pipeline", "")
    store = _store(request)
    entries = [e for e in await asyncio.to_thread(store.runs) if e.pipeline == pipeline]

    def points() -> list[dict[str, Any]]:
        out = []
        for e in entries:
            if not e.evaluated:
                continue
            report = store.report(e.run_id) or {}
            latency = report.get("latency") or {}
            out.append(
                {
                    "run_id": e.run_id,
                    "created_at": e.created_at,
                    "passed": e.passed,
                    "metrics": e.metrics,
                    "cost_usd": e.cost_usd,
                    "latency_p95": latency.get("p95") if isinstance(latency, dict) else None,
                }
            )
        return out

    return _json({"pipeline": pipeline, "points": await asyncio.to_thread(points)})


@routes.get("/api/runs/{run_id}/distribution")
async def distribution(request: web.Request) -> web.Response:
    """Quantiles (min to max, 51 points) of ``column``: latency, ttft or cost."""
    run_id = request.match_info["run_id"]
    await _entry(request, run_id)
    column = request.query.get("column", "latency")
    if column not in ("latency", "ttft", "cost"):
        return _error(400, "column must be latency, ttft or cost")
    values = await asyncio.to_thread(_store(request).samples(run_id).quantiles, column)
    return _json({"column": column, "quantiles": values})


@routes.get("/api/groups")
async def list_groups(request: web.Request) -> web.Response:
    """Variant sets, newest first: group id, pipeline, baseline, variants with their run ids."""
    return _json({"groups": await asyncio.to_thread(_store(request).groups)})


@routes.get("/api/groups/{group_id}")
async def show_group(request: web.Request) -> web.Response:
    """A variant set's comparison (its compare.json) plus which variants regressed."""
    from pydantic import ValidationError

    from chatbot_tester.evaluator.compare_group_model import GroupComparison

    group_id = request.match_info["group_id"]
    data = await asyncio.to_thread(_store(request).group, group_id)
    if data is None:
        return _error(404, f"no variant set {group_id!r}")
    try:
        model = GroupComparison.model_validate(data)
    except ValidationError:
        return _error(409, f"variant set {group_id!r}: compare.json is not a group comparison")
    data["regressed"] = model.regressed
    data["regressed_metrics"] = {n: c.regressed_metrics for n, c in model.comparisons.items()}
    return _json(data)
