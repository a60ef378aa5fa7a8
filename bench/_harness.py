"""Shared pieces of the benchmarks: the loopback test server, child processes, datasets.

The server (``chatbot_tester.testing.server.FaultServer``) runs by default in its own
process (``chatbot-tester serve-test``) so that the client under test does not share a GIL
with it; ``placement="thread"`` runs it in a thread of the benchmark process instead.
Each client variant runs in a fresh child process that prints one JSON line of results.
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


class Server:
    """The fault-injecting test server, in a separate process (default) or a thread."""

    def __init__(
        self,
        *,
        latency_ms: float = 0.0,
        fault_rate: float = 0.0,
        faults: str = "429,500",
        seed: int = 0,
        retry_after_s: float = 0.05,
        placement: str = "process",
    ) -> None:
        self.latency_ms = latency_ms
        self.fault_rate = fault_rate
        self.faults = faults
        self.seed = seed
        self.retry_after_s = retry_after_s
        self.placement = placement
        self.url = ""
        """Base URL ``http://127.0.0.1:<port>`` (no path)."""
        self._proc: subprocess.Popen[str] | None = None
        self._thread_ctx: Any = None
        self._server: Any = None

    def __enter__(self) -> Server:
        if self.placement == "thread":
            from chatbot_tester.testing.server import FaultPlan, FaultServer

            plan = FaultPlan(
                rate=self.fault_rate,
                modes=FaultPlan.parse_modes(self.faults),
                seed=self.seed,
                retry_after_s=self.retry_after_s,
            )
            self._server = FaultServer(plan, latency_ms=self.latency_ms)
            self._thread_ctx = self._server.run_in_thread()
            self._thread_ctx.__enter__()
            self.url = self._server.url
            return self
        cmd = [
            sys.executable,
            "-m",
            "chatbot_tester",
            "serve-test",
            "--port",
            "0",
            "--latency-ms",
            str(self.latency_ms),
            "--fault-rate",
            str(self.fault_rate),
            "--faults",
            self.faults,
            "--seed",
            str(self.seed),
            "--retry-after",
            str(self.retry_after_s),
        ]
        self._proc = subprocess.Popen(
            cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, cwd=ROOT
        )
        assert self._proc.stdout is not None
        line = self._proc.stdout.readline()
        if "http://" not in line:
            self._proc.kill()
            raise RuntimeError(f"test server did not start: {line!r}")
        base = line.split("http://", 1)[1].split()[0]
        self.url = "http://" + base.removesuffix("/v1")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._thread_ctx is not None:
            self._thread_ctx.__exit__(None, None, None)
        if self._proc is not None:
            self._proc.terminate()
            try:
                self._proc.wait(5)
            except subprocess.TimeoutExpired:
                self._proc.kill()

    def stats(self) -> dict[str, Any]:
        """The server's counters (``GET /stats``)."""
        if self._server is not None:
            return dict(self._server.stats.as_dict())
        with urllib.request.urlopen(self.url + "/stats", timeout=10) as resp:
            return dict(json.loads(resp.read()))

    def reset(self) -> None:
        """Zero the server's counters (``POST /reset``)."""
        if self._server is not None:
            self._server.reset()
            return
        req = urllib.request.Request(self.url + "/reset", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10):
            pass


def run_child(script: str, args: list[str], *, timeout: float = 600) -> dict[str, Any]:
    """Run ``bench/<script> --child ...`` in a fresh process; its last stdout line as JSON.

    Adds ``process_s`` (whole-process wall time, start-up included); the child's stderr is
    passed on.
    """
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=ROOT,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    elapsed = time.perf_counter() - t0
    if out.returncode != 0:
        raise RuntimeError(f"{script} {' '.join(args)} failed:\n{out.stderr[-3000:]}")
    if out.stderr:  # e.g. the --profile tables
        sys.stderr.write(out.stderr)
    result = dict(json.loads(out.stdout.strip().splitlines()[-1]))
    result["process_s"] = elapsed
    return result


def write_dataset(path: Path, n: int) -> Path:
    """A JSONL dataset of ``n`` one-line questions (``id`` s0..s<n-1>)."""
    with path.open("w", encoding="utf-8") as fh:
        for i in range(n):
            fh.write(f'{{"id":"s{i}","input":"question {i}","expected":"echo: question {i}"}}\n')
    return path


def runner_config(
    backend: str,
    url: str,
    concurrency: int,
    *,
    options: dict[str, Any] | None = None,
    **extra: Any,
) -> Any:
    """A ``RunnerConfig`` pointing ``backend`` (http or openai) at the test server.

    ``options`` are added to the backend options (e.g. the openai ``transport``).
    """
    from chatbot_tester.common.config import RunnerConfig

    if backend == "http":
        base: dict[str, Any] = {"url": url + "/v1/chat/completions"}
    else:
        base = {"base_url": url + "/v1", "api_key": "bench-key"}
    options = {**base, **(options or {})}
    return RunnerConfig(
        backend=backend, model="bench", options=options, concurrency=concurrency, **extra
    )


def peak_rss_mib() -> float:
    """Peak resident set size of this process in MiB (Linux reports KiB)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process."""
    t = os.times()
    return t.user + t.system


@contextlib.contextmanager
def profiled(kind: str | None, out: Path | None) -> Iterator[None]:
    """Profile the block with cProfile (``kind="cprofile"``) and print the top functions."""
    if not kind:
        yield
        return
    import cProfile
    import pstats

    prof = cProfile.Profile()
    prof.enable()
    try:
        yield
    finally:
        prof.disable()
        stats = pstats.Stats(prof, stream=sys.stderr)
        if out is not None:
            stats.dump_stats(str(out))
        stats.sort_stats("tottime").print_stats(35)


def bench_pipeline(
    name: str,
    *,
    workspace: Path | str,
    dataset: Path | str,
    url: str,
    concurrency: int,
    formats: str = "json",
    latency_metric: bool = False,
) -> str:
    """The pipeline YAML the whole-process benchmarks run: the ``http`` backend on the test
    server, ``exact_match`` (plus ``latency`` when asked) and the given report formats."""
    latency = "    - type: latency\n      max_ms: 10000\n" if latency_metric else ""
    return (
        f"name: {name}\nworkspace: {workspace}\ngenerator:\n  source: {dataset}\n"
        f"runner:\n  backend: http\n  model: bench\n  options:\n"
        f"    url: {url}/v1/chat/completions\n  concurrency: {concurrency}\n"
        f"evaluator:\n  metrics:\n    - type: exact_match\n{latency}"
        f"  report:\n    formats: [{formats}]\n"
    )


def compile_sources(src: Path | None = None) -> None:
    """Byte-compile ``src`` (default: this checkout's) once, as an installed package ships it.

    Under ``PYTHONDONTWRITEBYTECODE=1`` (some CI and sandboxes) Python never caches bytecode,
    so every child process would recompile the sources (~0.3 s of CPU) and a benchmark would
    measure the compiler; existing ``__pycache__`` files are still read.
    """
    import compileall

    compileall.compile_dir(str(src or ROOT / "src"), quiet=1)
