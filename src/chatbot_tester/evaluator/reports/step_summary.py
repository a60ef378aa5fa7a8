"""Appending Markdown to ``$GITHUB_STEP_SUMMARY`` (GitHub Actions shows it on the run page).

Called by the orchestrator for ``report.md`` and by ``compare`` for its summary.
"""

from __future__ import annotations

import logging
import os

__all__ = ["append_step_summary"]

log = logging.getLogger(__name__)


def append_step_summary(markdown: str) -> bool:
    """Append ``markdown`` to ``$GITHUB_STEP_SUMMARY`` when set; True when it was written.

    The summary is a convenience: a path that cannot be written logs one warning and the run
    goes on (its reports and exit code do not depend on it).
    """
    target = os.environ.get("GITHUB_STEP_SUMMARY")
    if not target:
        return False
    try:
        with open(target, "a", encoding="utf-8") as fh:
            fh.write(markdown + "\n")
    except OSError as exc:
        log.warning(
            "cannot append to $GITHUB_STEP_SUMMARY (%s): %s; summary skipped",
            target,
            exc.strerror or exc,
        )
        return False
    return True
