"""The pipeline YAML reference, generated from the pydantic models.

The README embeds the output between ``<!-- config-reference:start -->`` and
``<!-- config-reference:end -->``; a test fails when the two drift apart. Regenerate with
``python -m chatbot_tester.common.config_reference --write README.md``.
"""

from __future__ import annotations

import argparse
import re
import types
import typing
from pathlib import Path
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from chatbot_tester.common.config import (
    BackoffConfig,
    DocumentsConfig,
    EvaluatorConfig,
    GeneratorConfig,
    JudgeConfig,
    MetricSpec,
    PipelineConfig,
    Price,
    RateLimitConfig,
    RayConfig,
    ReportConfig,
    RunnerConfig,
    SyntheticConfig,
    VariantConfig,
)
from chatbot_tester.common.config_generator import Persona, PerturbationsConfig
from chatbot_tester.common.config_simulation import SimulatedUserConfig
from chatbot_tester.common.field_docs import documented

__all__ = ["MARK_END", "MARK_START", "render_reference", "replace_in"]

MARK_START = "<!-- config-reference:start -->"
MARK_END = "<!-- config-reference:end -->"

SECTIONS: list[tuple[str, type[BaseModel]]] = [
    ("(top level)", PipelineConfig),
    ("generator", GeneratorConfig),
    ("generator.synthetic", SyntheticConfig),
    ("generator.documents", DocumentsConfig),
    ("generator.documents.personas[]", Persona),
    ("generator.perturbations", PerturbationsConfig),
    ("runner", RunnerConfig),
    ("runner.backoff", BackoffConfig),
    ("runner.simulated_user", SimulatedUserConfig),
    ("runner.rate_limit / evaluator.judge.rate_limit", RateLimitConfig),
    ("runner.prices.<model>", Price),
    ("runner.ray", RayConfig),
    ("variants[]", VariantConfig),
    ("evaluator", EvaluatorConfig),
    ("evaluator.metrics[]", MetricSpec),
    ("evaluator.judge", JudgeConfig),
    ("evaluator.report", ReportConfig),
]


def _type_name(tp: Any) -> str:
    origin = typing.get_origin(tp)
    if origin is typing.Annotated:  # e.g. the strict Int alias of common.config
        return _type_name(typing.get_args(tp)[0])
    if origin in (typing.Union, types.UnionType):
        return " | ".join(_type_name(a) for a in typing.get_args(tp))
    if origin is typing.Literal:
        return " | ".join(repr(a) for a in typing.get_args(tp))
    if origin in (list, dict):
        args = ", ".join(_type_name(a) for a in typing.get_args(tp))
        return f"{origin.__name__}[{args}]"
    if tp is type(None):
        return "null"
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return "mapping"
    if tp is Path:
        return "path"
    return getattr(tp, "__name__", str(tp))


def _default(info: Any) -> str:
    if info.is_required():
        return "**required**"
    default = info.get_default(call_default_factory=True)
    if default is PydanticUndefined or default is None:
        return "-"
    if isinstance(default, BaseModel):
        return "(see below)"
    if default in ({}, []):
        return "`" + repr(default) + "`"
    return f"`{default}`"


def render_reference() -> str:
    """Markdown tables of every pipeline section: key, type, default, meaning."""
    out: list[str] = []
    for title, model in SECTIONS:
        out.append(f"#### `{title}`\n")
        out.append("| key | type | default | meaning |")
        out.append("|---|---|---|---|")
        for name, info in documented(model).model_fields.items():
            desc = (info.description or "").replace("|", "\\|").replace("\n", " ")
            typ = _type_name(info.annotation).replace("|", "\\|")
            out.append(f"| `{name}` | {typ} | {_default(info)} | {desc} |")
        if model is MetricSpec:
            out.append(
                "| *other keys* | any | - | The metric's own options (`chatbot-tester metrics`). |"
            )
        out.append("")
    return "\n".join(out).rstrip() + "\n"


def replace_in(text: str) -> str:
    """``text`` with the block between the markers replaced by the current reference."""
    pattern = re.compile(re.escape(MARK_START) + r".*?" + re.escape(MARK_END), re.S)
    block = f"{MARK_START}\n{render_reference()}{MARK_END}"
    if not pattern.search(text):
        raise ValueError("config reference markers not found")
    return pattern.sub(lambda _: block, text)


def main(argv: list[str] | None = None) -> None:
    """Print the reference, or rewrite it in place inside a Markdown file."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--write", type=Path, help="Markdown file to update in place")
    args = parser.parse_args(argv)
    if args.write:
        args.write.write_text(replace_in(args.write.read_text(encoding="utf-8")), encoding="utf-8")
    else:
        print(render_reference())


if __name__ == "__main__":
    main()
