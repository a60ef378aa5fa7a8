"""A typed registry per plugin kind: decorator registration, lazy built-ins, entry points.

Built-ins are registered as lazy ``"module:attr"`` references so that importing the package
(or running ``--help``) imports no SDK. Third-party packages add entries through an
entry-point group; those load on the first lookup miss or listing, and a plugin that fails to
load is reported (``load_errors``), never fatal to the other plugins.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

from chatbot_tester.errors import PluginError

__all__ = [
    "BUILTIN_REPORTERS",
    "REPORTER_GROUP",
    "Registry",
    "did_you_mean",
    "import_object",
    "reporter_registry",
]

log = logging.getLogger(__name__)

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` when a close match exists, else the list of choices."""
    import difflib  # only on an unknown name

    options = sorted(set(choices))
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.6)
    if close:
        return f"did you mean '{close[0]}'?"
    if not options:
        return "none are available"
    return "choose one of: " + ", ".join(options)


def import_object(ref: str, *, what: str = "object") -> object:
    """Import ``"package.module:attr"`` (or ``package.module.attr``) and return the attribute."""
    if ":" in ref:
        module_name, _, attr = ref.partition(":")
    else:
        module_name, _, attr = ref.rpartition(".")
    if not module_name or not attr:
        raise PluginError(f"invalid {what} reference '{ref}': expected 'package.module:name'")
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise PluginError(f"cannot import {what} module '{module_name}': {exc}") from exc
    obj: object = module
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginError(f"module '{module_name}' has no {what} '{attr}'") from exc
    return obj


class Registry(Generic[T]):
    """Name -> plugin mapping for one kind (``backend``, ``metric``, ...)."""

    def __init__(
        self,
        kind: str,
        group: str,
        *,
        validate: Callable[[str, object], T] | None = None,
    ) -> None:
        self.kind = kind
        self.group = group
        self._items: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._validate = validate
        self._entry_points_loaded = False
        self.load_errors: dict[str, str] = {}
        """Plugins that failed to load: name -> one-line reason."""

    # -- registration -------------------------------------------------------------------
    def register(
        self, name: str, obj: T | None = None, *, replace: bool = False
    ) -> Callable[[T], T]:
        """Register ``obj`` under ``name``; usable as ``@registry.register("name")``."""

        def deco(target: T) -> T:
            self._check_name(name)
            if not replace and (name in self._items) and self._items[name] is not target:
                raise PluginError(f"{self.kind} '{name}' is already registered")
            self._items[name] = self._checked(name, target)
            self._lazy.pop(name, None)
            return target

        if obj is not None:
            deco(obj)
        return deco

    def register_lazy(self, name: str, ref: str) -> None:
        """Register ``name`` as ``"module:attr"``, imported on first use."""
        self._check_name(name)
        if name not in self._items:
            self._lazy[name] = ref

    def unregister(self, name: str) -> None:
        """Remove ``name`` (mainly for tests)."""
        self._items.pop(name, None)
        self._lazy.pop(name, None)

    # -- lookup -------------------------------------------------------------------------
    def get(self, name: str) -> T:
        """The plugin called ``name``; loads entry points on a miss; did-you-mean on failure."""
        if name not in self._items and name not in self._lazy:
            self.load_entry_points()
        if name in self._items:
            return self._items[name]
        if name in self._lazy:
            obj = import_object(self._lazy[name], what=self.kind)
            self._items[name] = self._checked(name, obj)
            del self._lazy[name]
            return self._items[name]
        if name in self.load_errors:
            raise PluginError(f"{self.kind} '{name}' failed to load: {self.load_errors[name]}")
        raise PluginError(f"unknown {self.kind} '{name}': {did_you_mean(name, self.names())}")

    def __contains__(self, name: object) -> bool:
        if not isinstance(name, str):
            return False
        if name not in self._items and name not in self._lazy:
            self.load_entry_points()
        return name in self._items or name in self._lazy

    def names(self) -> list[str]:
        """Every registered name (built-in, decorated and entry-point), sorted."""
        self.load_entry_points()
        return sorted(set(self._items) | set(self._lazy))

    def load_entry_points(self) -> None:
        """Register the entry points of the group (once); failures go to ``load_errors``."""
        if self._entry_points_loaded:
            return
        self._entry_points_loaded = True
        from importlib.metadata import entry_points  # ~8 ms: only when a name is not built in

        for ep in entry_points(group=self.group):
            if ep.name in self._items or ep.name in self._lazy:
                continue
            try:
                self._check_name(ep.name)
                self._lazy[ep.name] = ep.value
            except PluginError as exc:  # pragma: no cover - defensive
                self.load_errors[ep.name] = str(exc)
                log.warning("ignoring %s plugin %r: %s", self.kind, ep.name, exc)

    # -- helpers ------------------------------------------------------------------------
    def _checked(self, name: str, obj: object) -> T:
        if self._validate is None:
            return obj  # type: ignore[return-value]
        return self._validate(name, obj)

    def _check_name(self, name: str) -> None:
        if not name or any(c.isspace() for c in name) or name.startswith("."):
            raise PluginError(f"invalid {self.kind} name {name!r}")


REPORTER_GROUP = "chatbot_tester.reporters"
"""Entry-point group of the ``reporter`` kind."""

_R = "chatbot_tester.evaluator.reports"

BUILTIN_REPORTERS: dict[str, str] = {
    "json": f"{_R}.json_report:JsonReporter",
    "html": f"{_R}.html_report:HtmlReporter",
    "junit": f"{_R}.junit:JunitReporter",
    "md": f"{_R}.markdown:MarkdownReporter",
}
"""Built-in report format -> ``module:Class`` (imported on first use)."""


def _validate_reporter(name: str, obj: object) -> type:
    """A reporter is a class with a plain ``file_name`` and ``add``/``finish`` methods.

    Checked by shape here (the ``Reporter`` base class lives in ``evaluator.reports``, which
    the shared layer does not import); the config can then name any registered format.
    """
    file_name = getattr(obj, "file_name", None)
    if not isinstance(obj, type) or not callable(getattr(obj, "finish", None)):
        raise PluginError(f"reporter '{name}' must be a Reporter subclass, got {obj!r}")
    if not isinstance(file_name, str) or not file_name or "/" in file_name or file_name[0] == ".":
        raise PluginError(f"reporter '{name}' needs a plain file_name (e.g. 'report.txt')")
    return obj


reporter_registry: Registry[type] = Registry(
    "reporter", REPORTER_GROUP, validate=_validate_reporter
)
"""The one reporter registry: the built-ins (lazy), ``@register_reporter`` and entry points.
Known here so that ``evaluator.report.formats`` is checked when the config loads."""

for _name, _ref in BUILTIN_REPORTERS.items():
    reporter_registry.register_lazy(_name, _ref)
