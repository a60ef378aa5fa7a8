"""Safe YAML loading with ``file:line:col`` errors, and ``pipeline.yaml`` validation.

Only plain YAML data is accepted (a ``SafeLoader`` subclass; ``!!python/...`` and other
custom tags are rejected). Duplicate keys are errors. Booleans follow YAML 1.2
(``true``/``false`` only, so ``no`` stays the string ``"no"``) and dates stay strings. While
loading, the position of every key and value is kept, so that a pydantic error on
``runner.concurency`` becomes ``pipeline.yaml:12:5: runner.concurency: unknown key (did you
mean 'concurrency'?)``. ``${VAR}`` references are left untouched (``common.config.resolve_env``
resolves them in memory when a backend is created).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from yaml.error import Mark
from yaml.events import AliasEvent
from yaml.nodes import MappingNode, Node, ScalarNode, SequenceNode

from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.validation import describe_validation_error, unknown_key_hint
from chatbot_tester.errors import ConfigError

__all__ = [
    "PositionMap",
    "SafeYamlLoader",
    "load_pipeline",
    "load_yaml_text",
    "load_yaml_with_positions",
]

_BOOL = "tag:yaml.org,2002:bool"
_TIMESTAMP = "tag:yaml.org,2002:timestamp"
_MERGE = "tag:yaml.org,2002:merge"
_INT = "tag:yaml.org,2002:int"

Loc = tuple[int | str, ...]

_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x84\x86-\x9f\ufffe\uffff]")
"""Characters YAML forbids in a stream (PyYAML would fail with a raw, unlocated error)."""


class SafeYamlLoader(yaml.SafeLoader):
    """``yaml.SafeLoader`` with YAML 1.2 booleans and without implicit timestamps.

    It also remembers where each alias (``*name``) was written, so errors inside an aliased
    value point at the alias rather than at the anchor.
    """

    def __init__(self, stream: str) -> None:
        super().__init__(stream)
        self.alias_marks: dict[tuple[int, int], Mark] = {}
        self.aliases = 0
        self.depth = 0

    def compose_node(self, parent: Node | None, index: Any) -> Node | None:
        """Compose as usual, recording the mark of an alias and enforcing the alias/depth caps."""
        if self.check_event(AliasEvent):
            where = index if isinstance(index, int) else id(index)
            event = self.peek_event()  # type: ignore[no-untyped-call]
            self.alias_marks[(id(parent), where)] = event.start_mark
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise _LimitError(f"more than {MAX_ALIASES} aliases (*name)", event.start_mark)
        self.depth += 1
        try:
            if self.depth > MAX_DEPTH:
                mark = self.peek_event().start_mark  # type: ignore[no-untyped-call]
                raise _LimitError(f"nesting deeper than {MAX_DEPTH} levels", mark)
            node: Node | None = super().compose_node(parent, index)
        finally:
            self.depth -= 1
        return node


MAX_ALIASES = 1000
"""Most ``*alias`` references one YAML document may hold."""
MAX_DEPTH = 100
"""Deepest nesting of mappings and lists in one YAML document."""
MAX_NODES = 1_000_000
"""Most values a document may expand to once its aliases are followed (stops alias bombs)."""


class _LimitError(Exception):
    """A YAML document over one of the safety limits (turned into a ``ConfigError``)."""

    def __init__(self, text: str, mark: Mark | None) -> None:
        super().__init__(text)
        self.text = text
        self.mark = mark


def _expanded_size(root: Node) -> int:
    """How many nodes ``root`` stands for with every alias expanded (memoised, no expansion).

    Raises ``_LimitError`` past ``MAX_NODES``; a recursive alias counts as over the limit.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(node: Node) -> int:
        key = id(node)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise _LimitError("a recursive alias (a value that contains itself)", node.start_mark)
        active.add(key)
        total = 1
        if isinstance(node, MappingNode):
            for k, v in node.value:
                total += size(k) + size(v)
                if total > MAX_NODES:
                    break
        elif isinstance(node, SequenceNode):
            for item in node.value:
                total += size(item)
                if total > MAX_NODES:
                    break
        active.discard(key)
        if total > MAX_NODES:
            raise _LimitError(
                f"expands to more than {MAX_NODES} values through aliases (an alias bomb?)",
                node.start_mark,
            )
        sizes[key] = total
        return total

    return size(root)


SafeYamlLoader.yaml_implicit_resolvers = {
    first: [(tag, rx) for tag, rx in resolvers if tag not in (_BOOL, _TIMESTAMP)]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}
SafeYamlLoader.add_implicit_resolver(
    _BOOL, re.compile(r"^(?:true|True|TRUE|false|False|FALSE)$"), list("tTfF")
)


@dataclass
class PositionMap:
    """Where each key and value of a loaded YAML document is: path -> 1-based (line, col)."""

    file: str | None = None
    keys: dict[Loc, tuple[int, int]] = field(default_factory=dict)
    values: dict[Loc, tuple[int, int]] = field(default_factory=dict)

    def locate(self, loc: Loc, *, value: bool = False) -> tuple[int, int] | None:
        """Position of ``loc`` (its value's with ``value=True``), else of its nearest parent."""
        if value and loc in self.values:
            return self.values[loc]
        for end in range(len(loc), -1, -1):
            pos = self.keys.get(loc[:end])
            if pos is not None:
                return pos
        return None

    def error(self, message: str, loc: Loc, *, value: bool = False) -> ConfigError:
        """A ``ConfigError`` for ``loc`` with this file's line and column."""
        pos = self.locate(loc, value=value)
        line, col = pos if pos is not None else (None, None)
        return ConfigError(message, file=self.file, line=line, col=col)


def _pos(mark: Mark) -> tuple[int, int]:
    return mark.line + 1, mark.column + 1


def _syntax_error(exc: yaml.YAMLError, file: str | None) -> ConfigError:
    if isinstance(exc, yaml.MarkedYAMLError) and exc.problem_mark is not None:
        text = exc.problem or "invalid YAML"
        if exc.context:
            text += f" ({exc.context}"
            if exc.context_mark is not None and exc.context_mark.line != exc.problem_mark.line:
                text += f" started at line {exc.context_mark.line + 1}"
            text += ")"
        line, col = _pos(exc.problem_mark)
        return ConfigError(f"YAML syntax error: {text}", file=file, line=line, col=col)
    return ConfigError(f"YAML syntax error: {exc}", file=file)


class _Walker:
    """Records positions, rejects duplicate keys and unsafe tags on the composed node tree."""

    def __init__(self, positions: PositionMap, alias_marks: dict[tuple[int, int], Mark]) -> None:
        self.positions = positions
        self.alias_marks = alias_marks
        self.seen: set[int] = set()

    def walk(self, node: Node, path: Loc) -> None:
        self.positions.values.setdefault(path, _pos(node.start_mark))
        if id(node) in self.seen:  # an alias of a node already walked (or recursion)
            return
        self.seen.add(id(node))
        self._check_tag(node)
        if isinstance(node, MappingNode):
            first_at: dict[tuple[str, str], int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == _MERGE:
                    self.walk(value_node, path)
                    continue
                self._check_tag(key_node)
                if not isinstance(key_node, ScalarNode):
                    line, col = _pos(key_node.start_mark)
                    raise ConfigError(
                        "mapping keys must be plain scalars",
                        file=self.positions.file,
                        line=line,
                        col=col,
                    )
                ident = (key_node.tag, key_node.value)
                line, col = _pos(key_node.start_mark)
                if ident in first_at:
                    raise ConfigError(
                        f"duplicate key '{key_node.value}' (first defined at line "
                        f"{first_at[ident]})",
                        file=self.positions.file,
                        line=line,
                        col=col,
                    )
                first_at[ident] = line
                part: int | str = key_node.value
                if key_node.tag == _INT and key_node.value.lstrip("-").isdigit():
                    part = int(key_node.value)
                child = (*path, part)
                self.positions.keys.setdefault(child, (line, col))
                alias = self.alias_marks.get((id(node), id(key_node)))
                if alias is not None:
                    self.positions.values.setdefault(child, _pos(alias))
                self.walk(value_node, child)
        elif isinstance(node, SequenceNode):
            for index, item in enumerate(node.value):
                child = (*path, index)
                mark = self.alias_marks.get((id(node), index), item.start_mark)
                self.positions.keys.setdefault(child, _pos(mark))
                self.positions.values.setdefault(child, _pos(mark))
                self.walk(item, child)

    def _check_tag(self, node: Node) -> None:
        tag = node.tag or ""
        if tag == _MERGE or tag in SafeYamlLoader.yaml_constructors:
            return
        short = tag.replace("tag:yaml.org,2002:", "!!")
        line, col = _pos(node.start_mark)
        raise ConfigError(
            f"unsupported YAML tag '{short}': only plain YAML data is allowed",
            file=self.positions.file,
            line=line,
            col=col,
        )


def load_yaml_text(text: str, *, file: str | Path | None = None) -> tuple[Any, PositionMap]:
    """Parse one YAML document safely; return the data and where each key/value is."""
    positions = PositionMap(file=str(file) if file is not None else None)
    bad = _CONTROL.search(text)
    if bad is not None:
        line = text.count("\n", 0, bad.start()) + 1
        col = bad.start() - (text.rfind("\n", 0, bad.start()) + 1) + 1
        raise ConfigError(
            f"control character U+{ord(bad.group()):04X} is not allowed in YAML; remove it "
            "(write escapes like \\x1b inside double quotes instead)",
            file=positions.file,
            line=line,
            col=col,
        )
    loader = SafeYamlLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None, positions
        positions.keys[()] = _pos(node.start_mark)
        _expanded_size(node)
        _Walker(positions, loader.alias_marks).walk(node, ())
        data = loader.construct_document(node)
    except yaml.YAMLError as exc:
        raise _syntax_error(exc, positions.file) from None
    except _LimitError as exc:
        where = _pos(exc.mark) if exc.mark is not None else None
        raise ConfigError(
            f"YAML over the safety limit: {exc.text}",
            file=positions.file,
            line=where[0] if where else None,
            col=where[1] if where else None,
        ) from None
    except RecursionError:
        raise ConfigError("YAML nesting is too deep", file=positions.file) from None
    finally:
        loader.dispose()
    return data, positions


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise ConfigError("file not found", file=path) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, expected a YAML file", file=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror or exc}", file=path) from None
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            f"not valid UTF-8 (byte 0x{raw[exc.start]:02x}); save the file as UTF-8",
            file=path,
            line=line,
        ) from None


def load_yaml_with_positions(path: Path) -> tuple[Any, PositionMap]:
    """Load a YAML file safely; return the data and the position of every key and value."""
    path = Path(path)
    return load_yaml_text(_read_text(path), file=path)


def _validation_error(exc: ValidationError, positions: PositionMap) -> ConfigError:
    loc, etype, phrase, value = describe_validation_error(exc)
    where = ".".join(str(p) for p in loc) or "top level"
    if etype == "extra_forbidden":
        hint = unknown_key_hint(PipelineConfig, loc)
        return positions.error(f"{where}: unknown key{hint}", loc)
    if etype == "missing":
        parent = ".".join(str(p) for p in loc[:-1])
        text = f"missing required key '{loc[-1]}'"
        return positions.error(f"{parent}: {text}" if parent else text, loc[:-1])
    if "${" in phrase:
        phrase += (
            " (${VAR} references are resolved in text fields only: write numbers and "
            "switches as values)"
        )
    # Point at a scalar that is wrong; at the key for rules about a whole mapping or list.
    at_value = not isinstance(value, (dict, list))
    return positions.error(f"{where}: {phrase}", loc, value=at_value)


def load_pipeline(source: Path | str | dict[str, Any]) -> PipelineConfig:
    """Load and validate a pipeline config from a YAML file (or an already-parsed dict).

    The first problem is raised as one ``ConfigError`` line with ``file:line:col``, the dotted
    key, and a did-you-mean for unknown keys. Relative paths in the config are relative to
    the YAML file's directory (the current directory for a dict).
    """
    if isinstance(source, dict):
        data: Any = source
        positions = PositionMap()
        path: Path | None = None
    else:
        path = Path(source)
        data, positions = load_yaml_with_positions(path)
    if data is None:
        raise ConfigError("the pipeline file is empty", file=path)
    if not isinstance(data, dict):
        raise positions.error(
            f"expected a mapping of pipeline settings at the top level, got {type(data).__name__}",
            (),
        )
    try:
        config = PipelineConfig.model_validate(data)
    except ValidationError as exc:
        raise _validation_error(exc, positions) from None
    base_dir = path.parent.resolve() if path is not None else Path.cwd()
    config.bind(base_dir=base_dir, source_file=path, raw=data)
    return config
