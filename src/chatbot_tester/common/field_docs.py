"""Field descriptions from attribute docstrings, filled in only where they are shown.

A field's docstring (the string literal right after ``name: type = ...``) is its
documentation: the JSON Schema, the README config reference and the option tables of
``backends`` and ``metrics`` show it. Pydantic's ``use_attribute_docstrings`` would read and
tokenize every model's source when its class is created, about a third of the CPU of a
one-sample ``run`` that never shows a description; so the models are created without it and
``documented`` fills the descriptions in on demand, with one ``ast`` pass per module and the
same rules as pydantic (an explicit ``Field(description=...)`` wins; an inherited field keeps
the description it has in the base class that declares it), then rebuilds the models so that
their JSON Schema carries them.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import types
import typing
from collections.abc import Iterable
from functools import cache
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = ["attribute_docstrings", "documented"]

M = TypeVar("M", bound=type[BaseModel])

_DONE: set[type[BaseModel]] = set()


class _Visitor(ast.NodeVisitor):
    """Pydantic's rule: a string expression right after an annotated assignment documents it."""

    def __init__(self) -> None:
        self.target: str | None = None
        self.docs: dict[str, str] = {}
        self.previous: type[ast.AST] | None = None

    def visit(self, node: ast.AST) -> Any:
        result = super().visit(node)
        self.previous = type(node)
        return result

    def visit_AnnAssign(self, node: ast.AnnAssign) -> None:
        if isinstance(node.target, ast.Name):
            self.target = node.target.id

    def visit_Expr(self, node: ast.Expr) -> None:
        value = node.value
        if isinstance(value, ast.Constant) and isinstance(value.value, str):
            if self.previous is ast.AnnAssign and self.target:
                self.docs[self.target] = inspect.cleandoc(value.value)
            self.target = None

    # Nested classes and functions hold attributes of their own, not of this class.
    def visit_ClassDef(self, node: ast.ClassDef) -> None:
        pass

    def visit_FunctionDef(self, node: ast.FunctionDef) -> None:
        pass

    def visit_AsyncFunctionDef(self, node: ast.AsyncFunctionDef) -> None:
        pass


@cache
def _module_classes(module_name: str) -> dict[str, ast.ClassDef]:
    """Every class statement of a module by qualified name (``Outer.Inner``, ``f.<locals>.C``)."""
    try:
        source = inspect.getsource(importlib.import_module(module_name))
    except (OSError, TypeError, ImportError):
        return {}
    found: dict[str, ast.ClassDef] = {}

    def walk(nodes: Iterable[ast.AST], prefix: str) -> None:
        for node in nodes:
            if isinstance(node, ast.ClassDef):
                found.setdefault(prefix + node.name, node)
                walk(node.body, f"{prefix}{node.name}.")
            elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                walk(node.body, f"{prefix}{node.name}.<locals>.")
            elif isinstance(node, (ast.stmt, ast.excepthandler)):  # if/try/with blocks
                walk(ast.iter_child_nodes(node), prefix)

    walk(ast.parse(source).body, "")
    return found


def attribute_docstrings(cls: type[Any]) -> dict[str, str]:
    """The docstrings of the attributes ``cls`` itself declares (not its bases')."""
    node = _module_classes(cls.__module__).get(cls.__qualname__)
    if node is None:
        return {}
    visitor = _Visitor()
    visitor.generic_visit(node)
    return visitor.docs


def _nested_models(tp: Any) -> list[type[BaseModel]]:
    """The models an annotation refers to (``list[X]``, ``X | None``, ``dict[str, X]``...)."""
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return [tp]
    out: list[type[BaseModel]] = []
    if typing.get_origin(tp) is not None or isinstance(tp, types.UnionType):
        for arg in typing.get_args(tp):
            out.extend(_nested_models(arg))
    return out


def _fill(cls: type[BaseModel]) -> None:
    """Set the descriptions of ``cls``'s fields the way ``use_attribute_docstrings`` would.

    A field ``cls`` annotates gets its own docstring; an inherited one is a copy of the
    nearest base's field, so it gets that field's description (bases are filled first).
    """
    own = inspect.get_annotations(cls)
    docs = attribute_docstrings(cls)
    for name, info in cls.__pydantic_fields__.items():
        if info.description is not None:
            continue
        if name in own:
            info.description = docs.get(name)
            continue
        for base in cls.__mro__[1:]:
            base_fields: dict[str, Any] = base.__dict__.get("__pydantic_fields__", {})
            if name in base_fields:
                info.description = base_fields[name].description
                break


def documented(model: M) -> M:
    """``model`` with its and its nested models' field descriptions filled in (once each)."""
    if model in _DONE:
        return model
    _DONE.add(model)
    for base in model.__mro__[1:]:
        if isinstance(base, type) and issubclass(base, BaseModel) and base is not BaseModel:
            documented(base)
    for info in model.__pydantic_fields__.values():
        for nested in _nested_models(info.annotation):
            documented(nested)
    _fill(model)
    # Nested models first: a model's schema embeds the schemas its fields' models hold.
    model.model_rebuild(force=True, _types_namespace={})
    return model
