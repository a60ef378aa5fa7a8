"""Field descriptions from attribute docstrings, filled in on demand (``common.field_docs``)."""

from __future__ import annotations

import subprocess
import sys

from pydantic import BaseModel, ConfigDict, Field

from chatbot_tester.common.field_docs import attribute_docstrings, documented


class _Leaf(BaseModel):
    size: int = 1
    """How big.

    Second paragraph."""
    plain: int = 0
    named: str = Field(default="x", description="explicit wins")
    """ignored: the explicit description wins"""


class _Base(BaseModel):
    inherited: int = 0
    """From the base."""
    redeclared: int = 0
    """The base's words."""


class _Child(_Base):
    redeclared: int = 1
    leaf: _Leaf | None = None
    """A nested model."""
    leaves: list[_Leaf] = []
    """Also nested."""

    class Inner(BaseModel):
        deep: int = 0
        """Inside a class."""

    if True:
        guarded: int = 0
        """In a block, as pydantic reads it."""


class _Docs(BaseModel):
    """The reference: the same classes built by pydantic's own option."""

    model_config = ConfigDict(use_attribute_docstrings=True)


def _pydantic_docs() -> dict[str, dict[str, str | None]]:
    """The same three models built with ``use_attribute_docstrings=True``, for comparison."""

    class Leaf(_Docs):
        size: int = 1
        """How big.

        Second paragraph."""
        plain: int = 0
        named: str = Field(default="x", description="explicit wins")
        """ignored: the explicit description wins"""

    class Base(_Docs):
        inherited: int = 0
        """From the base."""
        redeclared: int = 0
        """The base's words."""

    class Child(Base):
        redeclared: int = 1
        leaf: Leaf | None = None
        """A nested model."""
        leaves: list[Leaf] = []
        """Also nested."""

        if True:
            guarded: int = 0
            """In a block, as pydantic reads it."""

    return {
        m.__name__: {k: v.description for k, v in m.model_fields.items()}
        for m in (Leaf, Base, Child)
    }


def test_descriptions_match_pydantics_attribute_docstrings() -> None:
    documented(_Child)
    ours = {
        m.__name__.lstrip("_"): {k: v.description for k, v in m.model_fields.items()}
        for m in (_Leaf, _Base, _Child)
    }
    assert ours == _pydantic_docs()
    assert ours["Child"]["inherited"] == "From the base."
    assert ours["Child"]["redeclared"] is None
    assert ours["Leaf"]["size"] == "How big.\n\nSecond paragraph."


def test_nested_models_and_the_json_schema_carry_them() -> None:
    schema = documented(_Child).model_json_schema()
    assert schema["properties"]["leaf"]["description"] == "A nested model."
    assert schema["$defs"]["_Leaf"]["properties"]["size"]["description"].startswith("How big.")
    assert _Child(leaf={"size": 3}).leaf == _Leaf(size=3)  # still validates after the rebuild


def test_nested_and_local_classes_are_found() -> None:
    assert attribute_docstrings(_Child.Inner) == {"deep": "Inside a class."}

    def make() -> type[BaseModel]:
        class Local(BaseModel):
            opt: int = 0
            """A plugin's option declared in a function."""

        return Local

    assert documented(make()).model_fields["opt"].description == (
        "A plugin's option declared in a function."
    )


def test_config_models_are_created_without_reading_their_source() -> None:
    """The point of the module: creating the models reads no class's source block."""
    code = (
        "import inspect\n"
        "calls = []\n"
        "real = inspect.getblock\n"
        "inspect.getblock = lambda *a, **k: calls.append(1) or real(*a, **k)\n"
        "import chatbot_tester.common.config, chatbot_tester.common.schemas\n"
        "import chatbot_tester.evaluator.metrics.base, chatbot_tester.common.backends.base\n"
        "import chatbot_tester.evaluator.report_model, chatbot_tester.generator.synthetic\n"
        "from chatbot_tester.common.config import RunnerConfig\n"
        "assert RunnerConfig.model_fields['timeout_s'].description is None\n"
        "print(len(calls))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "0"
