"""Hostile input through the real CLI: one ``error:`` line, exit 2, nothing hangs or is left.

Each case is a small project (files, optional special files, optional environment) that
would hang, exhaust memory, crash with a traceback or silently pass before the limits of
issue 10: alias bombs, control bytes, FIFOs, devices, symlink loops, oversized files,
plugins that exit, non-finite numbers, unresolvable or looping ``$ref``.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import pytest
from e2e_helpers import run_cli

GOOD_CSV = "id,question,expected_answer\nq1,Where is my order?,Track it online.\nq2,Hi,Hello!\n"


def _pipeline(
    runner: str = "",
    metrics: str = "[{type: exact_match}]",
    source: str = "raw.csv",
    top: str = "",
    generator: str = "  columns: {id: id, input: question, expected: expected_answer}\n",
) -> str:
    return (
        f"name: hostile_case\nworkspace: ./ws\n{top}generator:\n  source: {source}\n{generator}"
        f"runner:\n  backend: echo\n{runner}evaluator:\n  metrics: {metrics}\n"
    )


def _bomb(levels: int = 9) -> str:
    lines = ['    a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        refs = ", ".join([f"*a{i - 1}"] * 9)
        lines.append(f"    a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\n"


def _nested(depth: int) -> str:
    return "[" * depth + "]" * depth


def _fifo(path: Path) -> None:
    os.mkfifo(path)


def _loop(path: Path) -> None:
    os.symlink(path.with_name("loop_b.csv"), path)
    os.symlink(path, path.with_name("loop_b.csv"))


def _to_dev_zero(path: Path) -> None:
    os.symlink("/dev/zero", path)


class Case(NamedTuple):
    files: dict[str, str | bytes]
    hint: str
    special: dict[str, Callable[[Path], None]] = {}
    env: dict[str, str] = {}


JSONL_SOURCE = {"source": "data.jsonl", "generator": ""}
YAML_SOURCE = {"source": "data.yaml", "generator": ""}
PLUGIN = "plugins: [bad_plugin.py]\n"

CASES: dict[str, Case] = {
    # -- YAML limits (config) -------------------------------------------------------------
    "alias_bomb_in_runner_params": Case(
        {"pipeline.yaml": _pipeline("  params:\n" + _bomb()), "raw.csv": GOOD_CSV},
        "alias",
    ),
    "alias_bomb_in_metric_options": Case(
        {
            "pipeline.yaml": "bomb:\n" + _bomb().replace("    ", "  ") + _pipeline(),
            "raw.csv": GOOD_CSV,
        },
        "alias",
    ),
    "recursive_alias": Case(
        {"pipeline.yaml": _pipeline("  params: &p {self: *p}\n"), "raw.csv": GOOD_CSV},
        "pipeline.yaml",
    ),
    "too_many_aliases": Case(
        {
            "pipeline.yaml": _pipeline(
                "  params:\n    x: &x 1\n    list: [" + ", ".join(["*x"] * 1200) + "]\n"
            ),
            "raw.csv": GOOD_CSV,
        },
        "aliases",
    ),
    "deep_nesting_in_config": Case(
        {"pipeline.yaml": _pipeline(f"  params: {{deep: {_nested(500)}}}\n"), "raw.csv": GOOD_CSV},
        "pipeline.yaml",
    ),
    "nul_byte_in_pipeline": Case(
        {"pipeline.yaml": _pipeline().replace("name: hostile_case", "name: hostile\x00case")},
        "U+0000",
    ),
    "esc_byte_in_pipeline": Case(
        {
            "pipeline.yaml": _pipeline().replace("backend: echo", "backend: echo\x1b[2J"),
            "raw.csv": GOOD_CSV,
        },
        "U+001B",
    ),
    "del_byte_in_pipeline": Case(
        {"pipeline.yaml": _pipeline() + "# \x7f\n", "raw.csv": GOOD_CSV},
        "U+007F",
    ),
    # -- YAML limits (dataset) ------------------------------------------------------------
    "alias_bomb_in_dataset_metadata": Case(
        {
            "pipeline.yaml": _pipeline(**YAML_SOURCE),
            "data.yaml": "- id: a1\n  input: hi\n  metadata:\n" + _bomb(),
        },
        "data.yaml",
    ),
    "deep_nesting_in_dataset": Case(
        {
            "pipeline.yaml": _pipeline(**YAML_SOURCE),
            "data.yaml": f"- id: a1\n  input: hi\n  metadata: {{x: {_nested(300)}}}\n",
        },
        "data.yaml",
    ),
    "esc_byte_in_yaml_dataset": Case(
        {
            "pipeline.yaml": _pipeline(**YAML_SOURCE),
            "data.yaml": "- id: a1\n  input: hi \x1b]0;pwned\x07\n",
        },
        "data.yaml",
    ),
    # -- files that are not regular or too large ------------------------------------------
    "symlink_loop_dataset": Case(
        {"pipeline.yaml": _pipeline(source="loop_a.csv")},
        "symlink loop",
        special={"loop_a.csv": _loop},
    ),
    "fifo_csv_dataset": Case(
        {"pipeline.yaml": _pipeline(source="pipe.csv")}, "FIFO", special={"pipe.csv": _fifo}
    ),
    "fifo_jsonl_dataset": Case(
        {"pipeline.yaml": _pipeline(source="pipe.jsonl", generator="")},
        "FIFO",
        special={"pipe.jsonl": _fifo},
    ),
    "fifo_yaml_dataset": Case(
        {"pipeline.yaml": _pipeline(source="pipe.yaml", generator="")},
        "FIFO",
        special={"pipe.yaml": _fifo},
    ),
    "dev_zero_dataset": Case(
        {"pipeline.yaml": _pipeline(source="/dev/zero", generator="  format: csv\n")},
        "not a regular file",
    ),
    "symlink_to_dev_zero": Case(
        {"pipeline.yaml": _pipeline(source="zero.jsonl", generator="")},
        "not a regular file",
        special={"zero.jsonl": _to_dev_zero},
    ),
    "oversized_dataset_file": Case(
        {"pipeline.yaml": _pipeline(), "raw.csv": GOOD_CSV + "q3,x,y\n" * 200},
        "CHATBOT_TESTER_MAX_DATASET_BYTES",
        env={"CHATBOT_TESTER_MAX_DATASET_BYTES": "1000"},
    ),
    "oversized_dataset_line": Case(
        {"pipeline.yaml": _pipeline(), "raw.csv": GOOD_CSV + "q3," + "x" * 500 + ",y\n"},
        "CHATBOT_TESTER_MAX_LINE_BYTES",
        env={"CHATBOT_TESTER_MAX_LINE_BYTES": "200"},
    ),
    # -- plugins --------------------------------------------------------------------------
    "plugin_calls_sys_exit_0": Case(
        {
            "pipeline.yaml": _pipeline(top=PLUGIN),
            "raw.csv": GOOD_CSV,
            "bad_plugin.py": "import sys\nsys.exit(0)\n",
        },
        "sys.exit(0)",
    ),
    "plugin_raises_on_import": Case(
        {
            "pipeline.yaml": _pipeline(top=PLUGIN),
            "raw.csv": GOOD_CSV,
            "bad_plugin.py": "raise RuntimeError('boom at import')\n",
        },
        "boom at import",
    ),
    # -- numbers --------------------------------------------------------------------------
    "tiny_requests_per_minute": Case(
        {
            "pipeline.yaml": _pipeline("  rate_limit: {requests_per_minute: 1e-300}\n"),
            "raw.csv": GOOD_CSV,
        },
        "requests_per_minute",
    ),
    "fractional_tokens_per_minute": Case(
        {
            "pipeline.yaml": _pipeline("  rate_limit: {tokens_per_minute: 0.5}\n"),
            "raw.csv": GOOD_CSV,
        },
        "tokens_per_minute",
    ),
    "nan_threshold": Case(
        {
            "pipeline.yaml": _pipeline(metrics="[{type: exact_match, threshold: .nan}]"),
            "raw.csv": GOOD_CSV,
        },
        "threshold",
    ),
    "inf_threshold": Case(
        {
            "pipeline.yaml": _pipeline(metrics="[{type: token_f1, threshold: .inf}]"),
            "raw.csv": GOOD_CSV,
        },
        "threshold",
    ),
    "nan_timeout": Case(
        {"pipeline.yaml": _pipeline("  timeout_s: .nan\n"), "raw.csv": GOOD_CSV},
        "timeout_s",
    ),
    "inf_max_error_rate": Case(
        {"pipeline.yaml": _pipeline("  max_error_rate: -.inf\n"), "raw.csv": GOOD_CSV},
        "max_error_rate",
    ),
    "regex_timeout_nan": Case(
        {
            "pipeline.yaml": _pipeline(metrics="[{type: regex, pattern: a, timeout_s: .nan}]"),
            "raw.csv": GOOD_CSV,
        },
        "timeout_s",
    ),
    # -- JSON Schema references -----------------------------------------------------------
    "json_schema_self_ref": Case(
        {
            "pipeline.yaml": _pipeline(metrics="[{type: json_schema, schema: {$ref: '#'}}]"),
            "raw.csv": GOOD_CSV,
        },
        "loops back",
    ),
    "json_schema_ref_cycle": Case(
        {
            "pipeline.yaml": _pipeline(
                metrics="[{type: json_schema, schema: {$ref: '#/$defs/a', "
                "$defs: {a: {allOf: [{$ref: '#/$defs/b'}]}, b: {$ref: '#/$defs/a'}}}}]"
            ),
            "raw.csv": GOOD_CSV,
        },
        "loops back",
    ),
    "json_schema_unknown_ref": Case(
        {
            "pipeline.yaml": _pipeline(
                metrics="[{type: json_schema, schema: {properties: {a: {$ref: '#/$defs/nope'}}}}]"
            ),
            "raw.csv": GOOD_CSV,
        },
        "#/$defs/nope",
    ),
    "json_schema_remote_ref": Case(
        {
            "pipeline.yaml": _pipeline(
                metrics="[{type: json_schema, schema: {$ref: 'http://127.0.0.1:9/x.json'}}]"
            ),
            "raw.csv": GOOD_CSV,
        },
        "cannot be resolved",
    ),
}


def _setup(root: Path, case: Case) -> None:
    for name, content in case.files.items():
        target = root / name
        if isinstance(content, bytes):
            target.write_bytes(content)
        else:
            target.write_text(content, encoding="utf-8")
    for name, make in case.special.items():
        make(root / name)


def _empty_dirs(root: Path) -> list[Path]:
    return [
        p for p in root.rglob("*") if p.is_dir() and not p.is_symlink() and not any(p.iterdir())
    ]


@pytest.mark.parametrize("dry_run", [False, True], ids=["run", "dry-run"])
@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_input_is_one_line_and_exit_2(tmp_path: Path, name: str, dry_run: bool) -> None:
    case = CASES[name]
    _setup(tmp_path, case)
    args = ["run", "pipeline.yaml", *(["--dry-run"] if dry_run else [])]
    res = run_cli(*args, cwd=tmp_path, env=case.env, timeout=60)
    output = res.stdout + res.stderr
    assert res.code == 2, (res.code, output)
    assert "Traceback" not in output
    assert "\x1b" not in output and "\x00" not in output and "\x07" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert [line for line in res.stderr.splitlines() if line.strip()] == errors
    assert case.hint in errors[0], errors[0]
    assert not (tmp_path / "ws" / "runs").exists()
    assert _empty_dirs(tmp_path) == []


def test_case_count() -> None:
    """The issue asks for at least 25 hostile cases."""
    assert len(CASES) >= 25
