"""Run a dataset through the chatbot under test: ``run_job`` writes one record per sample.

The scheduler is a fixed pool of worker tasks pulling (sample, repeat) pairs straight from
the streamed dataset (nothing is materialised; only the set of done keys is kept). Each
record is appended to ``results.jsonl`` exactly once, as soon as it completes: a writer task
appends the records completed in one event-loop iteration with a single ``os.write`` in the
next iteration (no buffering beyond that); a failed sample is a recorded error, never a crash. The in-flight attempts are bounded by one
``ConcurrencyLimit`` (retries included; a sample waiting out a backoff holds no slot).

Ways a run ends (``RunSummary.status``):

- ``completed``: every key of the dataset has a record;
- ``aborted``: the first completed samples all failed alike on auth, quota, config or an
  unknown model (HTTP 404): dispatch stops at once, those failures are not recorded (a
  resume after the fix sends them), records already written stay;
- ``budget_exhausted``: the next sample would pass ``max_cost_usd``; samples in flight
  finish and are recorded; the run is resumable;
- cancellation (Ctrl-C): in-flight requests are cancelled and not recorded, the results
  file is closed cleanly and the cancellation is **re-raised** (``run_job`` does not
  return ``interrupted``; the caller marks the run interrupted). ``resume=True`` later
  sends exactly the samples without a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator, Sized
from dataclasses import dataclass
from pathlib import Path
from time import perf_counter
from typing import TYPE_CHECKING, Literal

from pydantic import BaseModel, ConfigDict

from chatbot_tester.common.artifacts.jsonl import JsonlAppender, dump_line, iter_jsonl
from chatbot_tester.common.backends import ChatBackend, backend_registry
from chatbot_tester.common.calls.cost import PriceTable
from chatbot_tester.common.calls.limits import ConcurrencyLimit, RateLimiter, shared_rate_limiter
from chatbot_tester.common.events import ItemFinished, Notice, StageFinished, StageStarted
from chatbot_tester.common.schemas import RunRecord, TestSample
from chatbot_tester.common.validation import duplicate_id_error
from chatbot_tester.errors import ResumeError
from chatbot_tester.runner.budget import CostBudget
from chatbot_tester.runner.resume import ResultsState, RunTally, load_results
from chatbot_tester.runner.turns import SampleExecutor, SampleResult

if TYPE_CHECKING:
    from chatbot_tester.common.artifacts.cache import ResponseCache
    from chatbot_tester.common.config import RunnerConfig
    from chatbot_tester.common.events import EventBus
    from chatbot_tester.runner.scenario import SimulatedUser

__all__ = [
    "RecordSink",
    "RunStatusName",
    "RunSummary",
    "ShardContext",
    "count_samples",
    "run_job",
]

RecordSink = Callable[[TestSample, RunRecord], None]
"""Receives every record as it is written, with its sample (``run_job(on_record=...)``)."""

RunStatusName = Literal["completed", "interrupted", "aborted", "budget_exhausted"]

_PROBE = 5
"""Fail fast when this many first completions (at most ``concurrency``) all failed alike."""

_HINTS = {
    "auth": " (check runner.options.api_key and the endpoint's credentials)",
    "quota_exhausted": " (the account is out of quota or credit; check its billing)",
    "config": " (check the runner configuration)",
}


class RunSummary(BaseModel):
    """How a run went; counts cover every record in the results file (resumes included)."""

    model_config = ConfigDict(extra="forbid")

    status: RunStatusName
    """completed, aborted or budget_exhausted (interrupted runs re-raise the cancellation)."""
    total: int
    """(sample, repeat) keys in the dataset (as far as read, when the run stopped early)."""
    completed: int
    """Records written by this invocation."""
    ok: int
    """Records in the file with an answer."""
    errors: int
    """Records in the file that ended in an error."""
    errors_by_kind: dict[str, int]
    """Error records by kind (timeout, rate_limited, http, ...)."""
    skipped_existing: int
    """Keys already recorded before this invocation (resume)."""
    cost_usd: float | None
    """Sum of the known record costs; ``None`` when no cost is known."""
    seconds: float
    """Wall time of this invocation."""
    message: str | None = None
    """One line explaining an abort or a budget stop."""

    @classmethod
    def of(
        cls,
        tally: RunTally,
        *,
        status: RunStatusName,
        total: int,
        completed: int,
        existing: int,
        seconds: float,
        message: str | None,
    ) -> RunSummary:
        """The summary of a results file whose records ``tally`` counted."""
        return cls(
            status=status,
            total=total,
            completed=completed,
            ok=tally.ok,
            errors=tally.error_count,
            errors_by_kind=dict(tally.errors),
            skipped_existing=existing,
            cost_usd=round(tally.cost_usd, 10) if tally.cost_known else None,
            seconds=round(seconds, 3),
            message=message,
        )

    @property
    def records(self) -> int:
        """Records in the results file."""
        return self.ok + self.errors

    @property
    def error_rate(self) -> float:
        """Fraction of records that ended in an error (0 when there are none)."""
        return self.errors / self.records if self.records else 0.0


@dataclass(frozen=True, slots=True)
class ShardContext:
    """What a job running as one shard of a bigger run shares with the other shards.

    The distributed executor (``runner.ray_executor``) passes proxies of the run's one
    concurrency limit, rate limiter and budget, and the keys already recorded elsewhere.
    """

    concurrency: ConcurrencyLimit
    rate: RateLimiter | None
    budget: CostBudget | None
    done: frozenset[tuple[str, int]] = frozenset()


def count_samples(path: Path) -> int:
    """Non-blank lines of a JSONL dataset (one sample each), counted without parsing."""
    with open(path, "rb") as fh:
        return sum(1 for line in fh if line.strip())


def _prepare(results_path: Path, resume: bool) -> ResultsState:
    exists = results_path.exists() and results_path.stat().st_size > 0
    if exists and not resume:
        raise ResumeError(
            f"{results_path} already holds results: resume it (--resume) or write elsewhere"
        )
    return load_results(results_path) if exists else ResultsState()


async def run_job(
    samples: Iterable[TestSample] | Path,
    config: RunnerConfig,
    results_path: Path,
    *,
    backend: ChatBackend | None = None,
    base_dir: Path | None = None,
    bus: EventBus | None = None,
    cache: ResponseCache | None = None,
    resume: bool = False,
    on_record: RecordSink | None = None,
    shard: ShardContext | None = None,
) -> RunSummary:
    """Send every (sample, repeat) without a record to the chatbot; append one record each.

    ``samples`` is a dataset path (streamed) or an iterable of samples. Without ``backend``
    one is created from ``config`` (and closed afterwards). ``resume=True`` continues a
    results file, skipping keys already recorded; without it an existing non-empty file is
    refused. Cancellation is re-raised after the file is closed (see the module docstring).
    ``on_record(sample, record)`` is called for every record as it is written (the pipeline
    scores records as they land, so that the evaluation overlaps the run); it must not raise.
    ``shard`` makes this job one shard of a distributed run (limits shared, keys skipped).
    """
    started = perf_counter()
    config = config.resolved()  # ${VAR} in system_prompt, params, ... (unset: ConfigError)
    results_path = Path(results_path)
    state = _prepare(results_path, resume)
    if shard is not None:
        for key in shard.done:
            state.done.add(key)
    owned = backend is None
    if backend is None:
        backend = backend_registry.create(
            config.backend, base_dir=base_dir, **config.resolved_options()
        )
    simulated = _simulated_user(config, base_dir, cache, bus)
    try:
        job = _Job(
            samples, config, backend, state, bus=bus, cache=cache,
            simulated_user=simulated, on_record=on_record, shard=shard,
        )  # fmt: skip
        return await job.execute(results_path, started)
    finally:
        if owned:
            await backend.aclose()
        if simulated is not None:
            await simulated.client.backend.aclose()


def _simulated_user(
    config: RunnerConfig, base_dir: Path | None, cache: ResponseCache | None, bus: EventBus | None
) -> SimulatedUser | None:
    """The simulated user of ``scenario`` samples (``runner.simulated_user``), if configured."""
    spec = config.simulated_user
    if spec is None:
        return None
    from chatbot_tester.common.calls.client import BackendClient
    from chatbot_tester.common.calls.policy import CallPolicy
    from chatbot_tester.runner.scenario import SimulatedUser

    backend = backend_registry.create(spec.backend, base_dir=base_dir, **spec.resolved_options())
    policy = CallPolicy(timeout_s=spec.timeout_s, retries=spec.retries)
    client = BackendClient(
        backend, policy, None, cache, bus, "simulate", cache_salt="simulated-user"
    )
    return SimulatedUser(client, spec)


def _unwrap(exc: BaseException) -> BaseException:
    """The single exception inside (nested) exception groups raised by a task group."""
    while type(exc).__name__.endswith("ExceptionGroup"):
        inner: tuple[BaseException, ...] = getattr(exc, "exceptions", ())
        if len(inner) != 1:
            break
        exc = inner[0]
    return exc


async def _run_all(tasks: list[asyncio.Task[None]]) -> None:
    """Wait for ``tasks``; the first failure cancels the others and is raised.

    A task group of plain asyncio: anyio's loads its asyncio backend (~14 ms) on first use,
    before the run's first request. A task cancelled by ``_Job._abort`` is not a failure;
    when the waiting task itself is cancelled (Ctrl-C), every task is cancelled and awaited.
    """
    try:
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
    except BaseException:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        raise
    for task in pending:
        task.cancel()
    if pending:
        await asyncio.gather(*pending, return_exceptions=True)
    for task in tasks:
        if not task.cancelled() and (error := task.exception()) is not None:
            raise error


class _Job:
    """The state of one invocation: scheduler, fail-fast probe, budget, tallies."""

    def __init__(
        self,
        samples: Iterable[TestSample] | Path,
        config: RunnerConfig,
        backend: ChatBackend,
        state: ResultsState,
        *,
        bus: EventBus | None,
        cache: ResponseCache | None,
        simulated_user: SimulatedUser | None = None,
        on_record: RecordSink | None = None,
        shard: ShardContext | None = None,
    ) -> None:
        self.config = config
        self.on_record = on_record
        self.state = state
        self.bus = bus
        prices = PriceTable(config.prices)
        if shard is not None:
            self.concurrency = shard.concurrency
            rate = shard.rate
        else:
            self.concurrency = ConcurrencyLimit(
                config.concurrency, adaptive=config.adaptive_concurrency
            )
            rate = shared_rate_limiter(backend.identity(), config.rate_limit)
        self.executor = SampleExecutor(
            backend,
            config,
            prices=prices,
            concurrency=self.concurrency,
            rate=rate,
            cache=cache,
            bus=bus,
            simulated_user=simulated_user,
        )
        self.budget: CostBudget | None = None
        if shard is not None:
            self.budget = shard.budget
        elif config.max_cost_usd is not None and not type(backend).local:
            max_tokens = config.params.get("max_tokens") or config.params.get(
                "max_completion_tokens"
            )
            tally = state.tally
            self.budget = CostBudget(
                config.max_cost_usd,
                prices=prices,
                model=config.model,
                system_prompt=config.system_prompt,
                max_tokens=max_tokens if isinstance(max_tokens, int) else None,
                spent_usd=tally.cost_usd,
                completion_tokens=tally.completion_tokens,
                answers=tally.answered_calls,
            )
        self.source: Path | None = samples if isinstance(samples, Path) else None
        self.total: int | None = None
        if isinstance(samples, Path):
            self.total = count_samples(samples) * config.repeat
            self.samples: Iterable[TestSample] = iter_jsonl(samples, TestSample)
        else:
            if isinstance(samples, Sized):
                self.total = len(samples) * config.repeat
            self.samples = samples
        self.seen_keys = 0
        self.skipped = 0
        self.existing = len(state.done)
        self.written = 0
        self.status: RunStatusName = "completed"
        self.message: str | None = None
        self.stop = False
        self.probing = True
        self.probe_size = min(_PROBE, config.concurrency)
        self.held: list[SampleResult] = []
        self._held_samples: list[TestSample] = []
        self._keys = self._iter_keys()
        self._appender: JsonlAppender | None = None
        self._tasks: list[asyncio.Task[None]] = []
        """The workers and the writer (cancelled together by an abort)."""
        self._done: list[tuple[RunRecord, TestSample]] = []
        """Records completed since the writer last ran: not yet serialised, scored or appended."""
        self._wake = asyncio.Event()
        self._workers_left = 0

    def _iter_keys(self) -> Iterator[tuple[TestSample, int]]:
        repeat = self.config.repeat
        done = self.state.done
        ids: set[str] = set()
        for sample in self.samples:
            sid = sample.id
            if sid in ids:
                raise duplicate_id_error(sid, file=self.source)
            ids.add(sid)
            self.seen_keys += repeat
            for r in range(repeat):
                if (sid, r) in done:
                    self.skipped += 1
                    continue
                yield sample, r

    def _workers(self) -> int:
        # Extra workers keep every slot busy while some samples wait out a backoff.
        limit = self.config.concurrency
        return limit if self.config.retries == 0 else limit + min(limit, 256)

    async def execute(self, results_path: Path, started: float) -> RunSummary:
        """Run the worker pool to the end (or a stop) and summarise."""
        bus = self.bus
        backend = self.executor.backend
        if bus is not None and type(backend).start is not ChatBackend.start:
            bus.emit(Notice("info", f"preparing backend '{self.executor.backend_name}'"))
        await self.executor.client.start()  # a model load, before any call is timed
        if bus is not None:
            remaining = None if self.total is None else max(0, self.total - self.existing)
            bus.emit(StageStarted("run", remaining))
        self._appender = JsonlAppender(results_path)
        try:
            self._workers_left = self._workers()
            tasks = [asyncio.ensure_future(self._worker()) for _ in range(self._workers_left)]
            tasks.append(asyncio.ensure_future(self._writer()))
            self._tasks = tasks
            await _run_all(tasks)
        except BaseException as exc:
            inner = _unwrap(exc)
            if bus is not None and isinstance(inner, asyncio.CancelledError):
                bus.emit(StageFinished("run", perf_counter() - started, "interrupted", {}))
            if inner is not exc:
                raise inner from None
            raise
        finally:
            try:
                self._flush()  # records completed just before a cancellation or an abort
            finally:
                self._appender.close()
        if self.held and self.status == "completed":
            self._abort()  # the run ended before a probe of full size: all failed alike
        summary = self._summary(perf_counter() - started)
        if bus is not None:
            counts = {"records": summary.completed, "ok": summary.ok, "errors": summary.errors}
            bus.emit(StageFinished("run", summary.seconds, summary.status, counts))
        return summary

    async def _writer(self) -> None:
        """Append the records completed since the last run of this task, with one write."""
        wake = self._wake
        while self._workers_left:
            await wake.wait()
            wake.clear()
            self._flush()

    def _flush(self) -> None:
        """Serialise, hand on (scoring, tallies, events) and append the records completed.

        A worker only queues its record and goes on to its next request: when many answers
        arrive at once, every next request is on the wire before this turn of the writer
        spends the CPU on them, so that per-record work overlaps the waiting.
        """
        done = self._done
        if done:
            self._done = []
            lines: list[bytes] = []
            try:
                for record, sample in done:
                    lines.append(dump_line(record))
                    self._finish(record, sample)
            finally:
                assert self._appender is not None
                self._appender.write_lines(lines)

    async def _worker(self) -> None:
        try:
            await self._work()
        finally:
            self._workers_left -= 1
            self._wake.set()

    async def _work(self) -> None:
        keys = self._keys
        budget = self.budget
        executor = self.executor
        while not self.stop:
            item = next(keys, None)
            if item is None:
                return
            sample, repeat = item
            reserved = 0.0
            if budget is not None:
                admitted = await budget.admit(sample)
                if self.stop:
                    if admitted is not None:
                        budget.release(admitted)
                    return
                if admitted is None:
                    self._stop("budget_exhausted", budget.message)
                    return
                reserved = admitted
            try:
                result = await executor.run(sample, repeat)
            except Exception as exc:  # a bug, not a backend fault: still one recorded error
                result = SampleResult(executor.internal_error(sample, repeat, exc), False)
            except BaseException:
                if budget is not None:
                    budget.release(reserved)
                raise
            record = result.record
            if budget is not None:
                calls = len(record.turns) if record.turns else 1
                budget.settle(reserved, record.cost_usd, record.usage, calls)
            if self.probing:
                if result.fail_fast:
                    self.held.append(result)
                    self._held_samples.append(sample)
                    if len(self.held) >= self.probe_size:
                        self._abort()
                    continue
                self.probing = False
                for held, held_sample in zip(self.held, self._held_samples, strict=True):
                    self._write(held.record, held_sample)
                self.held.clear()
                self._held_samples.clear()
            self._write(record, sample)

    def _write(self, record: RunRecord, sample: TestSample) -> None:
        self._done.append((record, sample))
        self._wake.set()
        self.written += 1

    def _finish(self, record: RunRecord, sample: TestSample) -> None:
        """Hand a record on: the sink (scoring), the tallies, the ``ItemFinished`` event."""
        if self.on_record is not None:
            self.on_record(sample, record)
        error = record.error
        self.state.tally.add_record(record)
        bus = self.bus
        if bus is not None:
            item_id = (
                record.sample_id
                if self.config.repeat == 1
                else f"{record.sample_id}#{record.repeat}"
            )
            bus.emit(
                ItemFinished(
                    "run",
                    item_id,
                    error is None,
                    cached=record.cached,
                    error_kind=None if error is None else error.kind.value,
                    latency_ms=record.latency_ms,
                    backend=record.backend,
                    model=record.model,
                    input_tokens=record.usage.prompt_tokens if record.usage else None,
                    output_tokens=record.usage.completion_tokens if record.usage else None,
                )
            )

    def _stop(self, status: RunStatusName, message: str) -> None:
        if self.status == "completed":
            self.status = status
            self.message = message
        self.stop = True

    def _abort(self) -> None:
        first = self.held[0].record.error
        assert first is not None
        what = f"{first.status_code} {first.kind.value}" if first.status_code else first.kind.value
        hint = _HINTS.get(first.kind.value, "")
        if not hint and first.status_code == 404:
            hint = " (check runner.model and the endpoint URL)"
        self.status = "aborted"
        self.message = f"every first request failed with {what}: {first.message}{hint}"
        self.stop = True
        self.held.clear()
        for task in self._tasks:  # ``_run_all`` then ends without an error
            task.cancel()

    def _summary(self, seconds: float) -> RunSummary:
        total = self.total if self.total is not None else self.seen_keys
        return RunSummary.of(
            self.state.tally,
            status=self.status,
            total=total,
            completed=self.written,
            existing=self.existing,
            seconds=seconds,
            message=self.message,
        )
