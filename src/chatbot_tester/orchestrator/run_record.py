"""A shared run index (``index_url``) kept current: checked before a run, written as it goes.

The workspace's own SQLite index refreshes itself whenever it is read; a shared one is read
by machines that may not reach the workspace, so each run writes its row when it starts and
when it ends. A failure to write is a warning, never a failed run: the row is rebuilt from
the run directory by the next ``runs list --workspace ... --index-url ...``.
"""

from __future__ import annotations

import logging

from chatbot_tester.common.artifacts.run_index import RunIndex, open_store
from chatbot_tester.common.artifacts.workspace import Workspace
from chatbot_tester.common.config import PipelineConfig
from chatbot_tester.common.redact import redact
from chatbot_tester.errors import ChatbotTesterError, ConfigError

__all__ = ["check_index", "record_run"]

log = logging.getLogger(__name__)


def check_index(config: PipelineConfig, ws: Workspace) -> None:
    """Reach the pipeline's shared index now (one-line ``ConfigError`` naming ``index_url``)."""
    try:
        url = config.resolved_index_url()
        if url:
            open_store(url, ws).close()
    except ConfigError as exc:
        if config.source_file is None or exc.file is not None:
            raise
        raise ConfigError(exc.message, file=config.source_file) from None


def record_run(config: PipelineConfig, ws: Workspace, run_id: str) -> None:
    """Write run ``run_id``'s row into the pipeline's shared index, if it has one."""
    if config.index_url is None:
        return
    try:
        url = config.resolved_index_url()
        assert url is not None
        with RunIndex(ws, open_store(url, ws)) as index:
            index.record(run_id)
    except Exception as exc:  # the index is a cache: it never fails a run
        if not isinstance(exc, ChatbotTesterError):
            exc = ConfigError(
                redact(f"index_url: cannot record the run: {type(exc).__name__}: {exc}")
            )
        log.warning(
            "%s; run %s is recorded by the next `chatbot-tester runs list --workspace %s "
            "--index-url ...`",
            exc,
            run_id,
            ws.location,
        )
