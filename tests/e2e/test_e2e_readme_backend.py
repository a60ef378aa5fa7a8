"""The README's "Custom backends" example, copied verbatim, serves every stage through the CLI.

The code block is read from README.md (so the test follows the README); only a stub
``call_my_bot`` is put in front of it, playing the generator, the chatbot and the judge.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from e2e_helpers import run_cli

README = Path(__file__).resolve().parents[2] / "README.md"

STUB = """
import json
import re


async def call_my_bot(endpoint, messages):
    assert endpoint == "http://127.0.0.1:9/bot"
    text = "\\n".join(m.content for m in messages)
    if '{"samples": [' in text:
        items = [{"input": f"What is {i} plus {i}?", "expected": str(2 * i)} for i in range(3)]
        return json.dumps({"samples": items})
    if '"score"' in text and '"reason"' in text:
        return '{"score": 5, "reason": "the answer is the expected number"}'
    return str(sum(int(n) for n in re.findall(r"\\d+", messages[-1].content)))

"""


def readme_backend_example() -> str:
    text = README.read_text(encoding="utf-8")
    section = text.split("### Custom backends", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.S)
    assert match is not None, "the Custom backends section lost its example"
    return match.group(1)


def test_readme_custom_backend_serves_generator_runner_and_judge(tmp_path: Path) -> None:
    example = readme_backend_example()
    assert '@register_backend("my_llm")' in example
    (tmp_path / "my_backends.py").write_text(STUB + example)
    options = "{endpoint: 'http://127.0.0.1:9/bot'}"
    (tmp_path / "pipeline.yaml").write_text(
        "name: readme_backend\nplugins: [my_backends.py]\nworkspace: ./ws\n"
        "generator:\n  synthetic:\n"
        f"    backend: my_llm\n    options: {options}\n"
        "    instructions: arithmetic\n    count: 3\n"
        f"runner: {{backend: my_llm, options: {options}}}\n"
        "evaluator:\n  metrics: [{type: exact_match}, {type: llm_judge, rubric: 'Is it right?'}]\n"
        f"  judge: {{backend: my_llm, options: {options}}}\n"
    )
    res = run_cli("run", "pipeline.yaml", cwd=tmp_path)
    assert res.code == 0, res.stderr
    run_dir = Path(res.last_line)
    dataset = (run_dir / "dataset.jsonl").read_text().splitlines()
    assert len(dataset) == 3 and "plus" in json.loads(dataset[0])["input"]
    report = json.loads((run_dir / "report.json").read_text())
    assert report["metrics"]["exact_match"]["pass_rate"] == 1.0
    assert report["metrics"]["llm_judge"]["pass_rate"] == 1.0
