"""``plugins:`` in a pipeline: modules or files imported before the pipeline runs.

Importing them runs their ``@register_backend`` / ``@register_metric`` decorators, so a backend
or metric written in a local file is usable by name from the CLI, in every stage, without
packaging it. Configs are trusted input; datasets and model outputs never name code to import.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from chatbot_tester.errors import ChatbotTesterError, ConfigError

if TYPE_CHECKING:
    from chatbot_tester.common.config import PipelineConfig

__all__ = ["import_config_plugins", "import_plugins", "load_config"]

_loaded_files: dict[Path, str] = {}
"""Plugin files already imported in this process (a second import would register twice)."""


def _already_imported(path: Path) -> str | None:
    """The name of a module in ``sys.modules`` loaded from ``path`` (the user imported it)."""
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if file and file.endswith(path.name):
            try:
                if Path(file).resolve() == path:
                    return name
            except OSError:
                continue
    return None


def _import_file(path: Path) -> None:
    if path in _loaded_files:
        return
    existing = _already_imported(path)
    if existing is not None:  # imported by the user already: importing again would re-register
        _loaded_files[path] = existing
        return
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    name = f"chatbot_tester_plugin_{path.stem}_{digest}"
    spec = importlib.util.spec_from_file_location(name, path)
    if spec is None or spec.loader is None:
        raise ImportError(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    _loaded_files[path] = name


def import_plugins(plugins: Sequence[str], base_dir: Path, *, where: str = "plugins") -> None:
    """Import each ``pkg.module`` or ``file.py`` (relative to ``base_dir``); ConfigError on failure."""
    for i, ref in enumerate(plugins):
        field = f"{where}[{i}]"
        try:
            if ref.endswith(".py") or "/" in ref or "\\" in ref:
                path = Path(ref)
                path = (path if path.is_absolute() else base_dir / path).resolve()
                if not path.is_file():
                    raise ConfigError(f"{field}: no such file {path}")
                _import_file(path)
            else:
                importlib.import_module(ref)
        except ChatbotTesterError as exc:
            if isinstance(exc, ConfigError) and str(exc).startswith(field):
                raise
            raise ConfigError(f"{field}: importing '{ref}' failed: {exc}") from None
        except SystemExit as exc:
            # A plugin that exits on import must not end the run with its own (often 0) code.
            raise ConfigError(
                f"{field}: importing '{ref}' called sys.exit({exc.code!r}); "
                "a plugin must only define and register"
            ) from None
        except Exception as exc:
            raise ConfigError(
                f"{field}: importing '{ref}' failed: {type(exc).__name__}: {exc}"
            ) from None


def import_config_plugins(config: PipelineConfig, base_dir: Path | None = None) -> None:
    """Import ``config.plugins`` relative to ``base_dir`` (default: the config file's directory)."""
    if config.plugins:
        where = f"{config.source_file}: plugins" if config.source_file else "plugins"
        import_plugins(config.plugins, base_dir or config.base_dir, where=where)


def load_config(source: PipelineConfig | Path | str | dict[str, Any]) -> PipelineConfig:
    """The pipeline (a path, a dict or a config) with its ``plugins:`` imported."""
    from chatbot_tester.common.config import PipelineConfig
    from chatbot_tester.common.yaml_loader import load_pipeline

    config = source if isinstance(source, PipelineConfig) else load_pipeline(source)
    import_config_plugins(config)
    return config
