"""Text hygiene for reports: the shared sanitiser of ``common.text`` (kept at this path)."""

from __future__ import annotations

from chatbot_tester.common.text import clean_text, terminal_text

__all__ = ["clean_text", "terminal_text"]
