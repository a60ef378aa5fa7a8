"""``chatbot-tester generate``: from a pipeline, from --source, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from chatbot_tester.cli.main import main

QUICKSTART = Path(__file__).resolve().parents[2] / "examples" / "quickstart"


def run_cli(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    try:
        main(args)
        code = 0
    except SystemExit as exc:
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err


def test_generate_from_the_quickstart_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("pipeline.yaml", "raw.csv", "kb.yaml"):
        shutil.copy(QUICKSTART / name, tmp_path / name)
    out = tmp_path / "ds.jsonl"
    code, stdout, stderr = run_cli(
        ["generate", str(tmp_path / "pipeline.yaml"), "-o", str(out)], capsys
    )
    assert code == 0, stderr
    assert stdout.strip() == str(out)
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) >= 36 and rows[0]["id"] == "q01" and rows[0]["tags"] == ["orders"]
    assert "support_v1" in stderr


def test_generate_converts_a_source_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "faq.csv").write_text("key,ask\nk1,hello\n")
    code, stdout, stderr = run_cli(
        ["generate", "--source", "faq.csv", "-c", "id=key", "-c", "input=ask"], capsys
    )
    assert code == 0, stderr
    assert Path(stdout.strip()) == tmp_path / "faq.jsonl"
    assert json.loads((tmp_path / "faq.jsonl").read_text())["id"] == "k1"


def test_generate_bad_file_is_one_line_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "bad.csv").write_text("id,question\n1,\n")
    code, _, stderr = run_cli(
        ["generate", "--source", str(tmp_path / "bad.csv"), "-o", str(tmp_path / "o.jsonl")], capsys
    )
    assert code == 2
    assert stderr.strip().splitlines() == [
        f"error: {tmp_path / 'bad.csv'}:2: empty 'question' cell (the input); fill it in or delete the row"
    ]
    assert not (tmp_path / "o.jsonl").exists()


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        ([], "give a PIPELINE file or --source FILE"),
        (["--source", "x.csv", "-c", "input"], "FIELD=COLUMN"),
    ],
)
def test_generate_usage_errors(
    args: list[str], needle: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, stderr = run_cli(["generate", *args], capsys)
    assert code == 2 and needle in stderr
