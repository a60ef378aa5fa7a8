"""The composite GitHub Action: its ``run:`` steps executed locally as GitHub runs them.

The ``uses:`` steps (setup-python, upload-artifact) need GitHub; their inputs are checked.
Each shell step runs as ``bash --noprofile --norc -eo pipefail`` (GitHub's ``shell: bash``)
with ``${{ inputs.* }}``, ``${{ github.action_path }}`` and ``${{ steps.*.outputs.* }}``
substituted, ``$GITHUB_OUTPUT`` / ``$GITHUB_STEP_SUMMARY`` set to files, and this venv first
on PATH (the install step installs the version already there, from no index).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml
from e2e_helpers import QUICKSTART, ROOT

from chatbot_tester import __version__

ACTION = yaml.safe_load((ROOT / "action.yml").read_text(encoding="utf-8"))
_EXPR = re.compile(r"\$\{\{\s*([^}]+?)\s*\}\}")


@dataclass
class Job:
    """One job's state: the inputs, the step outputs, the files GitHub provides."""

    root: Path
    inputs: dict[str, str]
    outputs: dict[str, dict[str, str]] = field(default_factory=dict)
    bin_dir: Path = Path(sys.executable).parent
    """Where ``python`` and ``chatbot-tester`` are found (first on PATH)."""
    pip_index: bool = False
    """Let pip read the configured (local) indexes; off: no index at all."""

    @property
    def summary(self) -> Path:
        return self.root / "summary.md"

    def expr(self, text: str) -> str:
        def sub(m: re.Match[str]) -> str:
            name = m.group(1)
            if name.startswith("inputs."):
                return self.inputs[name[len("inputs.") :]]
            if name == "github.action_path":
                return str(ROOT)
            step_out = re.fullmatch(r"steps\.([\w-]+)\.outputs\.([\w-]+)", name)
            if step_out:
                return self.outputs.get(step_out.group(1), {}).get(step_out.group(2), "")
            raise AssertionError(f"unexpected expression in action.yml: {name}")

        return _EXPR.sub(sub, text)

    def run_step(self, step: dict[str, Any]) -> subprocess.CompletedProcess[str]:
        assert step["shell"] == "bash"
        script = self.root / "step.sh"
        script.write_text(self.expr(step["run"]), encoding="utf-8")
        out_file = self.root / "github_output"
        out_file.write_text("", encoding="utf-8")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("GITHUB_", "CT_"))}
        env.update({k: self.expr(str(v)) for k, v in step.get("env", {}).items()})
        env.update(
            GITHUB_OUTPUT=str(out_file),
            GITHUB_STEP_SUMMARY=str(self.summary),
            PATH=f"{self.bin_dir}{os.pathsep}{env.get('PATH', '')}",
            PYTHONUNBUFFERED="1",
        )
        if not self.pip_index:
            env.update(PIP_NO_INDEX="1", PIP_FIND_LINKS="")
        cwd = self.root / self.expr(step.get("working-directory", "."))
        proc = subprocess.run(
            ["bash", "--noprofile", "--norc", "-eo", "pipefail", str(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
        if "id" in step:
            lines = out_file.read_text(encoding="utf-8").splitlines()
            self.outputs[step["id"]] = dict(line.split("=", 1) for line in lines if "=" in line)
        return proc


def _job(tmp_path: Path, **inputs: str) -> Job:
    values = {name: str(spec.get("default", "")) for name, spec in ACTION["inputs"].items()}
    values.update(inputs)
    return Job(tmp_path, values)


def _fresh_venv(where: Path) -> Path:
    """A new venv that sees this venv's packages through a .pth (so pip downloads nothing).

    What the action installs lands in the new venv's own site-packages, first on sys.path, so
    its ``chatbot-tester`` is the wheel built from the checkout, not this editable install.
    """
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(where)], check=True)
    site = next((where / "lib").glob("python3*/site-packages"))
    dev_site = next(p for p in map(Path, sys.path) if p.name == "site-packages" and p.is_dir())
    (site / "_dev_venv.pth").write_text(f"{dev_site}\n", encoding="utf-8")
    return where / "bin"


def _run_action(job: Job) -> list[tuple[dict[str, Any], subprocess.CompletedProcess[str]]]:
    """Every shell step in order, stopping at the first failure (as GitHub does)."""
    done = []
    for step in ACTION["runs"]["steps"]:
        if "run" not in step:
            continue
        proc = job.run_step(step)
        done.append((step, proc))
        if proc.returncode != 0:
            break
    return done


def _project(tmp_path: Path, thresholds: list[str] | None = None) -> Path:
    repo = tmp_path / "repo"
    shutil.copytree(QUICKSTART, repo / "bot", ignore=shutil.ignore_patterns("workspace"))
    if thresholds is not None:
        pipeline = repo / "bot" / "pipeline.yaml"
        config = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
        config["evaluator"]["thresholds"] = thresholds
        pipeline.write_text(yaml.safe_dump(config), encoding="utf-8")
    return repo


def test_action_is_a_composite_with_the_documented_inputs() -> None:
    assert ACTION["runs"]["using"] == "composite"
    assert set(ACTION["inputs"]) >= {
        "pipeline",
        "python-version",
        "extras",
        "args",
        "working-directory",
        "version",
    }
    steps = ACTION["runs"]["steps"]
    setup = next(s for s in steps if s.get("uses", "").startswith("actions/setup-python@"))
    assert setup["with"]["python-version"] == "${{ inputs.python-version }}"
    upload = next(s for s in steps if s.get("uses", "").startswith("actions/upload-artifact@"))
    assert upload["if"].startswith("always()")  # a failed run is uploaded too
    assert upload["with"]["path"] == "${{ steps.run.outputs.run-dir }}"
    assert steps.index(upload) > steps.index(next(s for s in steps if s.get("id") == "run"))
    for step in steps:  # inputs reach scripts through env, never spliced into the code
        assert "${{" not in step.get("run", "")


def test_a_passing_pipeline_summarises_and_outputs_the_run(tmp_path: Path) -> None:
    repo = _project(tmp_path, thresholds=["latency.p95 <= 5000"])
    job = _job(
        repo,
        pipeline="pipeline.yaml",
        extras="anthropic, parquet",
        **{"working-directory": "bot", "version": __version__, "args": "--limit 6  --no-cache"},
    )
    done = _run_action(job)
    assert [p.returncode for _, p in done] == [0, 0], [p.stderr for _, p in done]
    install = done[0][1]
    # the real pip, with no index: the version already in this venv satisfies the spec
    assert f"installing chatbot-tester[anthropic,parquet]=={__version__}" in install.stdout
    assert "Requirement already satisfied: chatbot-tester" in install.stdout
    assert __version__ in install.stdout  # chatbot-tester --version ran
    run_dir = Path(job.outputs["run"]["run-dir"])
    assert job.outputs["run"]["exit-code"] == "0"
    assert run_dir.is_dir() and run_dir.parent == repo / "bot" / "workspace" / "runs"
    report = (run_dir / "report.md").read_text(encoding="utf-8")
    summary = job.summary.read_text(encoding="utf-8")
    assert summary == report  # once: the tool itself did not append it as well
    assert "quickstart\\_support: passed" in summary
    manifest = json.loads((run_dir / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["selection"]["limit"] == 6  # the args reached the run, split on whitespace
    assert len((run_dir / "results.jsonl").read_text(encoding="utf-8").splitlines()) == 6


def test_a_failing_pipeline_fails_the_step_with_its_exit_code_and_still_reports(
    tmp_path: Path,
) -> None:
    repo = _project(tmp_path, thresholds=["exact_match.pass_rate >= 1.0"])
    job = _job(repo, **{"working-directory": "bot", "version": __version__})
    done = _run_action(job)
    step, proc = done[-1]
    assert step["id"] == "run"
    assert proc.returncode == 1, proc.stderr
    assert job.outputs["run"]["exit-code"] == "1"
    run_dir = Path(job.outputs["run"]["run-dir"])
    assert run_dir.is_dir()  # so the upload step (if: always()) has something to upload
    assert job.summary.read_text(encoding="utf-8") == (run_dir / "report.md").read_text("utf-8")
    assert "FAIL" in proc.stderr


def test_bad_input_exits_2_with_a_summary_line_and_no_run_dir(tmp_path: Path) -> None:
    repo = _project(tmp_path)
    job = _job(
        repo, pipeline="missing.yaml", **{"working-directory": "bot", "version": __version__}
    )
    done = _run_action(job)
    assert done[-1][1].returncode == 2
    assert job.outputs["run"] == {"exit-code": "2", "run-dir": ""}
    assert "exited with 2 before writing report.md" in job.summary.read_text(encoding="utf-8")


def test_variants_summarise_the_comparison(tmp_path: Path) -> None:
    repo = _project(tmp_path, thresholds=["latency.p95 <= 5000"])
    pipeline = repo / "bot" / "pipeline.yaml"
    config = yaml.safe_load(pipeline.read_text(encoding="utf-8"))
    config["variants"] = [
        {"name": "current"},
        {"name": "strict", "options": {"knowledge_base": "kb.yaml", "min_score": 95}},
    ]
    pipeline.write_text(yaml.safe_dump(config), encoding="utf-8")
    job = _job(repo, **{"working-directory": "bot", "version": __version__})
    done = _run_action(job)
    code = int(job.outputs["run"]["exit-code"])
    assert done[-1][1].returncode == code, done[-1][1].stderr
    group = Path(job.outputs["run"]["run-dir"])
    assert group.parent.name == "groups" and (group / "compare.md").is_file()
    assert job.summary.read_text(encoding="utf-8") == (group / "compare.md").read_text("utf-8")


@pytest.mark.slow
def test_the_action_installs_its_own_checkout_into_a_fresh_venv_and_runs_it(
    tmp_path: Path,
) -> None:
    repo = _project(tmp_path, thresholds=["latency.p95 <= 5000"])
    bin_dir = _fresh_venv(tmp_path / "venv")
    job = _job(repo, extras="otel", **{"working-directory": "bot"})
    job.bin_dir, job.pip_index = bin_dir, True
    done = _run_action(job)
    assert [p.returncode for _, p in done] == [0, 0], [p.stdout + p.stderr for _, p in done]
    assert f"installing {ROOT}[otel]" in done[0][1].stdout
    assert (bin_dir / "chatbot-tester").is_file()  # the entry point of the built wheel
    installed = next((tmp_path / "venv" / "lib").glob("python3*/site-packages/chatbot_tester"))
    assert (installed / "cli" / "schema.py").is_file()  # this checkout's code, not a release
    assert job.outputs["run"]["exit-code"] == "0"
    run_dir = Path(job.outputs["run"]["run-dir"])
    assert job.summary.read_text(encoding="utf-8") == (run_dir / "report.md").read_text("utf-8")
