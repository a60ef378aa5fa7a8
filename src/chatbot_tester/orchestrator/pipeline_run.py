"""One pipeline run as an object: prepare the dataset, run, evaluate, finish.

``PipelineRun`` owns the run directory and its manifest: every step returns its value, and
the manifest is written in one place (``_save``), so its status always matches what the
steps did. ``run_pipeline_async`` drives the steps; callers may drive them themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import importlib
import logging
import shutil
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from chatbot_tester.common.artifacts.run_files import restore_jsonl
from chatbot_tester.common.artifacts.storage import atomic_write_text
from chatbot_tester.common.artifacts.workspace import (
    CONFIG_SNAPSHOT,
    DATASET,
    EVENTS,
    MANIFEST,
    RESULTS,
    RunDir,
    Workspace,
)
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.events import EventBus, RunFinished, RunStarted
from chatbot_tester.common.gitinfo import git_commit
from chatbot_tester.common.hashing import stable_hash
from chatbot_tester.common.schemas import Manifest, RunRecord, utcnow
from chatbot_tester.common.types import RunStatus
from chatbot_tester.common.versions import collect_versions
from chatbot_tester.errors import ResumeError, RunAborted, sole_error
from chatbot_tester.orchestrator.result import PipelineResult
from chatbot_tester.orchestrator.run_record import record_run
from chatbot_tester.orchestrator.stages import StageEvaluator, evaluate_job_for, run_stage
from chatbot_tester.orchestrator.validate import backend_hash

logger = logging.getLogger(__name__)


def _reason(exc: BaseException) -> str:
    """The manifest's error text: an OS error names its file and errno (``ENOSPC``)."""
    exc = sole_error(exc)
    if isinstance(exc, OSError) and exc.strerror:
        code = errno.errorcode.get(exc.errno or 0, "")
        where = f"{exc.filename}: " if exc.filename else ""
        return f"{where}{exc.strerror}" + (f" ({code})" if code else "")
    return f"{type(exc).__name__}: {exc}"


if TYPE_CHECKING:
    from chatbot_tester.common.schemas import RunRecord, TestSample
    from chatbot_tester.generator import PreparedDataset
    from chatbot_tester.runner import RunSummary
    from chatbot_tester.runner.run import RecordSink

__all__ = ["PipelineInterrupted", "PipelineRun"]


class PipelineInterrupted(KeyboardInterrupt):
    """Raised after an interrupted run was marked ``interrupted`` in its manifest."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(f"interrupted; resume with --resume {run_dir.name}")
        self.run_dir = run_dir


def _versions(config: PipelineConfig) -> dict[str, str]:
    """Package versions plus the pipeline's git commit (``git_commit``) when in a repository."""
    versions = collect_versions()
    commit = git_commit(config.base_dir)
    if commit is not None:
        versions["git_commit"] = commit
    return versions


def _warm_up(*modules: str) -> None:
    """Import ``modules`` in a daemon thread, while the run waits on the network.

    What only the end of the evaluation needs is then loaded during the run, not after it;
    a failure is left to the real import to report.
    """

    def load() -> None:
        for name in modules:
            try:
                importlib.import_module(name)
            except Exception:  # the caller's own import reports it
                continue

    threading.Thread(target=load, name="chatbot-tester-warm-up", daemon=True).start()


_AFTER_THE_RUN = (
    "chatbot_tester.evaluator.stats",  # the report's intervals (numpy only when its data needs it)
    "chatbot_tester.evaluator.decision",
    "chatbot_tester.evaluator.reports.json_report",
)


def _warming(on_record: RecordSink | None) -> RecordSink:
    """``on_record``, starting ``_warm_up`` at the first record.

    By then the client is set up and its requests are in flight: the imports use the time
    spent waiting.
    """
    started = False

    def feed(sample: TestSample, record: RunRecord) -> None:
        nonlocal started
        if not started:
            started = True
            _warm_up(*_AFTER_THE_RUN)
        if on_record is not None:
            on_record(sample, record)

    return feed


def _snapshot_text(config: PipelineConfig) -> str:
    return yaml.safe_dump(config.snapshot(), sort_keys=False, allow_unicode=True)


class PipelineRun:
    """The steps of one run of ``config`` in workspace ``ws``, publishing on ``bus``.

    ``prepare_dataset`` needs no run directory; ``execute`` creates (or reopens, with
    ``resume``) the run directory, locks it, and calls ``run``, ``evaluate`` and ``finish``.
    """

    def __init__(self, config: PipelineConfig, ws: Workspace, *, cache: bool, bus: EventBus):
        self.config = config
        self.ws = ws
        self.cache = cache
        self.bus = bus
        self.dataset: PreparedDataset | None = None
        self._dir: RunDir | None = None
        self._manifest: Manifest | None = None
        self.selection: dict[str, Any] | None = None  # recorded in the manifest (--limit, ...)

    @property
    def run_dir(self) -> RunDir:
        """The run directory (after ``execute`` opened it)."""
        if self._dir is None:
            raise RuntimeError("the run directory is opened by execute()")
        return self._dir

    @property
    def manifest(self) -> Manifest:
        """The manifest as last saved."""
        if self._manifest is None:
            raise RuntimeError("the manifest is created by execute()")
        return self._manifest

    def _save(self, status: RunStatus | None = None, error: str | None = None) -> None:
        """The one place the manifest is written (optionally with a new status and error)."""
        manifest = self.manifest
        if status is not None:
            manifest.status = status
            manifest.error = error
        manifest.updated_at = utcnow()
        self.run_dir.write_manifest(manifest)

    def _save_last(self, status: RunStatus, error: str | None = None) -> None:
        """Record how the run ended even on a full disk; never masks the error being raised.

        When the atomic write cannot get a temp file, the manifest is rewritten in place (in
        compact form, so it fits in the blocks the old one holds).
        """
        try:
            self._save(status, error)
        except OSError:
            from chatbot_tester.common.artifacts.storage import overwrite_in_place

            data = self.manifest.model_dump_json().encode()
            try:
                overwrite_in_place(self.run_dir.file(MANIFEST), data)
            except OSError as exc:
                logger.warning("could not mark the run %s: %s", status.value, _reason(exc))

    async def prepare_dataset(self) -> PreparedDataset:
        """Build the dataset in ``<workspace>/datasets``, or reuse the identical one there.

        A remote workspace brings this dataset's files from the bucket first and uploads a
        newly built one, so every machine reuses it.
        """
        from chatbot_tester.generator import dataset_id_for, ensure_dataset

        started = time.perf_counter()
        self.ws.fetch_shared("datasets", prefix=f"{dataset_id_for(self.config.generator)}-")
        self.dataset = await ensure_dataset(
            self.config.generator,
            base_dir=self.config.base_dir,
            datasets_dir=self.ws.datasets_dir,
            cache_root=self.ws.root if self.cache else None,
            bus=self.bus,
        )
        if not self.dataset.reused:
            self.ws.publish_shared("datasets")
        self._generate_seconds = time.perf_counter() - started
        return self.dataset

    def _shared_ray(self) -> contextlib.AbstractContextManager[None]:
        """One Ray session for the run and the evaluation when both use the same cluster."""
        runner = self.config.runner
        evaluator = self.config.evaluator.with_ray_from(runner)
        if runner.executor != "ray" or evaluator.executor != "ray" or evaluator.ray != runner.ray:
            return contextlib.nullcontext()
        from chatbot_tester.common.ray_cluster import ray_session

        return ray_session(runner.ray)

    async def execute(self, *, resume: RunDir | None = None, force: bool = False) -> PipelineResult:
        """Run, evaluate and finish inside the locked run directory (a new one unless ``resume``)."""
        if self.dataset is None:
            await self.prepare_dataset()
        run = resume if resume is not None else self.ws.create_run()
        self._dir = run
        with run.lock():
            if resume is not None:
                self._manifest = self._reopen(force)
                # an archived (compacted) run goes on from its Parquet records
                restore_jsonl(run.file(RESULTS), RunRecord)
            else:
                self._manifest = self._create()
            self._save()
            sync = self.ws.start_sync(run)  # a remote workspace uploads the run as it goes
            record_run(self.config, self.ws, run.run_id)  # a shared index shows it running
            from chatbot_tester.orchestrator.progress import EventLogWriter

            log = EventLogWriter(run.file(EVENTS))
            self.bus.subscribe(log)
            self.bus.emit(RunStarted(run.run_id, self.config.name))
            stage: StageEvaluator | None = None
            cluster = contextlib.ExitStack()
            try:
                cluster.enter_context(self._shared_ray())
                # opened before the run: each record is scored as it is written
                stage = await self._open_evaluation()
                summary = await self.run(on_record=stage.feed)
                evaluated = None
                if summary.status != "budget_exhausted":
                    evaluated, stage = await self.evaluate(stage), None
                return self.finish(summary, evaluated)
            except (KeyboardInterrupt, asyncio.CancelledError):
                self._save_last(RunStatus.INTERRUPTED)
                self.bus.emit(RunFinished(run.run_id, "interrupted"))
                raise PipelineInterrupted(run.path) from None
            except RunAborted as exc:
                self._save_last(RunStatus.ABORTED, str(exc))
                self.bus.emit(RunFinished(run.run_id, "aborted"))
                raise
            except BaseException as exc:
                self._save_last(RunStatus.FAILED, _reason(exc))
                raise
            finally:
                if stage is not None:  # not evaluated: no report is written
                    await stage.aclose()
                cluster.close()
                # With an error on its way out (a full disk), a cleanup step failing the same
                # way must not replace it: the error line names the file that failed first.
                failing = sys.exc_info()[1] is not None
                for step in (self.bus.aclose, log.close, sync.close):
                    try:
                        done = step()
                        if done is not None:
                            await done
                    except OSError:
                        if not failing:
                            raise
                record_run(self.config, self.ws, run.run_id)

    def _create(self) -> Manifest:
        """A new run: its own copy of the dataset, the config snapshot, a fresh manifest."""
        assert self.dataset is not None
        run, config = self.run_dir, self.config
        shutil.copyfile(self.dataset.path, run.file(DATASET))  # the run's own, immutable copy
        # Through the masking writer: a key pasted literally into the YAML stays out too.
        atomic_write_text(run.file(CONFIG_SNAPSHOT), _snapshot_text(config))
        snapshot = config.snapshot()
        return Manifest(
            run_id=run.run_id,
            pipeline=config.name,
            config=snapshot,
            config_hash=stable_hash(snapshot),
            backend_hash=backend_hash(config),
            dataset=self.dataset.info,
            versions=_versions(config),
            base_dir=str(config.base_dir),
            stages={"generate": "skipped" if self.dataset.reused else "completed"},
            timings={"generate": round(self._generate_seconds, 3)},
            selection=self.selection,
        )

    def _reopen(self, force: bool) -> Manifest:
        """The manifest of the resumed run; refuses a changed dataset or backend.

        With ``force`` the run continues on its own stored dataset; a changed config is
        recorded as ``pipeline.resume-<n>.yaml`` beside the original snapshot (nothing is
        overwritten) and becomes the manifest's current config.
        """
        assert self.dataset is not None
        run, config = self.run_dir, self.config
        manifest = run.read_manifest()
        problems = []
        if manifest.dataset is not None and manifest.dataset.hash != self.dataset.info.hash:
            problems.append("the dataset changed")
        new_backend = backend_hash(config)
        if manifest.backend_hash is not None and manifest.backend_hash != new_backend:
            problems.append("the runner's backend config changed")
        if problems and not force:
            raise ResumeError(
                f"cannot resume run {run.run_id}: {' and '.join(problems)} since it started "
                "(start a new run, or pass --force to continue with the run's own dataset)"
            )
        manifest.resumed += 1
        snapshot = config.snapshot()
        if problems or stable_hash(snapshot) != manifest.config_hash:
            run.write_new(f"pipeline.resume-{manifest.resumed}.yaml", _snapshot_text(config))
            manifest.config = snapshot
            manifest.config_hash = stable_hash(snapshot)
            manifest.backend_hash = new_backend
        manifest.status = RunStatus.RUNNING
        manifest.error = None
        return manifest

    async def _open_evaluation(self) -> StageEvaluator:
        job = evaluate_job_for(self.config, self.ws, self.run_dir, cache=self.cache, bus=self.bus)
        self._eval_started = time.perf_counter()
        return await StageEvaluator(job, bus=self.bus).open()

    async def run(self, *, on_record: RecordSink | None = None) -> RunSummary:
        """Send the run's dataset to the chatbot; raise for an interrupted or aborted run.

        ``on_record`` sees every record as it is written (``StageEvaluator.feed``).
        """
        run, manifest = self.run_dir, self.manifest
        t0 = time.perf_counter()
        summary = await run_stage(
            self.config,
            self.ws,
            run.file(DATASET),
            run.file(RESULTS),
            resume=manifest.resumed > 0,
            cache=self.cache,
            bus=self.bus,
            on_record=_warming(on_record),
        )
        manifest.timings["run"] = round(time.perf_counter() - t0, 3)
        manifest.counts.update(
            samples=manifest.dataset.count if manifest.dataset else 0,
            records=summary.completed + summary.skipped_existing,
            errors=summary.errors,
        )
        if summary.status == "interrupted":
            raise KeyboardInterrupt
        if summary.status == "aborted":
            raise RunAborted(summary.message or "the run was aborted")
        manifest.stages["run"] = summary.status
        self._save()
        return summary

    async def evaluate(self, stage: StageEvaluator | None = None) -> PipelineResult:
        """Score the run, write its reports and compare with the baseline.

        ``stage`` is the evaluation opened before the run (its records scored as they
        landed); without it one is opened now. Returns a result holding the evaluation's
        members (summary, gates, reports, comparison, problems); ``finish`` completes it.
        The ``evaluate`` timing is the part after the run (the overlapped part is in ``run``).
        """
        evaluated = self._result("running")
        if stage is None:
            stage = await self._open_evaluation()
        t1 = time.perf_counter()
        evaluated.apply(await stage.finish())
        self.manifest.timings["evaluate"] = round(time.perf_counter() - t1, 3)
        self.manifest.stages["evaluate"] = "completed"
        if evaluated.report is not None:
            self.manifest.counts["scores"] = sum(
                m.scored for m in evaluated.report.metrics.values()
            )
        return evaluated

    def finish(self, summary: RunSummary, evaluated: PipelineResult | None) -> PipelineResult:
        """The run's result and final manifest: exit code, problems, status."""
        if evaluated is None:  # the budget ran out: resumable, nothing was evaluated
            result = self._result("budget_exhausted", summary)
            result.exit_code = 1
            result.problems.append(
                f"{summary.message or 'budget exhausted'}; "
                f"resume with --resume {self.run_dir.run_id} after raising runner.max_cost_usd"
            )
            self._save(RunStatus.INTERRUPTED, result.problems[-1])
            return result
        result = evaluated.model_copy(update={"status": "completed", "run": summary})
        self._save(RunStatus.COMPLETED)
        self.bus.emit(RunFinished(self.run_dir.run_id, "completed"))
        return result

    def _result(self, status: str, summary: RunSummary | None = None) -> PipelineResult:
        assert self.dataset is not None
        return PipelineResult(
            run_id=self.run_dir.run_id,
            run_dir=self.run_dir.path,
            status=status,
            exit_code=0,
            dataset=self.dataset.info,
            generation_skipped=self.dataset.reused,
            run=summary,
        )
