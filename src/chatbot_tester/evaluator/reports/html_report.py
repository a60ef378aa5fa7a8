"""``report.html``: one self-contained file, safe to open whatever the chatbot answered.

No external URL of any kind; a Content-Security-Policy that only lets our own inline script
(pinned by its sha256) run; the data sits in a ``<script type="application/json">`` block
with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped so no payload can end the block, and the
script renders it with ``textContent`` only. The page is written streaming (``HtmlReporter``).
"""

from __future__ import annotations

import base64
import hashlib
import tempfile
from functools import lru_cache
from importlib import resources
from typing import IO, Any, ClassVar

import jinja2
import orjson
from markupsafe import Markup

from chatbot_tester.evaluator.report_model import EvalReport
from chatbot_tester.evaluator.reports.base import Reporter, Row
from chatbot_tester.evaluator.reports.payload import DEFAULT_MAX_TEXT, row_payload

__all__ = ["HtmlReporter", "csp_for", "embed_json"]

_ESCAPES = (
    (b"<", b"\\u003c"),
    (b">", b"\\u003e"),
    (b"&", b"\\u0026"),
    ("\u2028".encode(), b"\\u2028"),
    ("\u2029".encode(), b"\\u2029"),
)


def embed_json(data: Any) -> str:
    """JSON safe to place inside ``<script type="application/json">`` (nothing can close the tag)."""
    blob = orjson.dumps(data, option=orjson.OPT_NON_STR_KEYS | orjson.OPT_SERIALIZE_NUMPY)
    for raw, escaped in _ESCAPES:
        blob = blob.replace(raw, escaped)
    return blob.decode()


def csp_for(script: str) -> str:
    """The Content-Security-Policy allowing exactly ``script`` (by hash) and nothing external."""
    digest = base64.b64encode(hashlib.sha256(script.encode()).digest()).decode()
    return (
        f"default-src 'none'; script-src 'sha256-{digest}'; style-src 'unsafe-inline'; "
        "img-src data:; base-uri 'none'; form-action 'none'"
    )


def _asset(name: str) -> str:
    return (resources.files("chatbot_tester.evaluator.reports") / "templates" / name).read_text(
        "utf-8"
    )


@lru_cache(maxsize=1)
def _template() -> tuple[jinja2.Template, str, str]:
    env = jinja2.Environment(autoescape=True, keep_trailing_newline=True)
    script = _asset("report.js")
    if "</script" in script.lower():  # our own script must not end its own tag
        raise AssertionError("report.js must not contain '</script'")
    return env.from_string(_asset("report.html.j2")), script, _asset("report.css")


_SLOT = "\ue000data\ue000"


class HtmlReporter(Reporter):
    """``report.html``, written streaming: rows are spooled to a temporary file as they go by.

    The page's head carries the title, known only with the report, so each row's compact
    JSON goes to a temporary file first and ``finish`` writes the page around it: memory holds
    one row at a time whatever the number of samples.
    """

    file_name = "report.html"
    max_text: ClassVar[int] = DEFAULT_MAX_TEXT

    def __init__(self, out: IO[bytes], *, baseline: EvalReport | None = None) -> None:
        """Start an empty report on ``out``."""
        super().__init__(out, baseline=baseline)
        self._spool: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by close()
        self._metrics: dict[str, int] = {}
        self._rows = 0

    def add(self, row: Row) -> None:
        """Take one row (see ``Reporter.add``)."""
        if self._rows:
            self._spool.write(b",")
        self._rows += 1
        self._spool.write(embed_json(row_payload(row, self._metrics, self.max_text)).encode())

    def finish(self, report: EvalReport) -> None:
        """Write the report (see ``Reporter.finish``)."""
        template, script, css = _template()
        metrics = list(self._metrics)
        metrics += [m for m in report.metric_labels() if m not in self._metrics]
        html = template.render(
            title=report.title or "chatbot-tester report",
            csp=Markup(csp_for(script)),  # our own constant: no quote or angle bracket in it
            css=Markup(css),
            script=Markup(script),
            data=Markup(_SLOT),
        )
        head, tail = html.encode("utf-8").split(_SLOT.encode("utf-8"), 1)
        out = self.out
        out.write(head)
        out.write(b'{"v":1,"max_text":%d,"metrics":' % self.max_text)
        out.write(embed_json(metrics).encode())
        out.write(b',"summary":')
        out.write(embed_json(report.to_json_dict()).encode())
        out.write(b',"rows":[')
        self._spool.seek(0)
        while chunk := self._spool.read(1 << 20):
            out.write(chunk)
        out.write(b"]}")
        out.write(tail)

    def close(self) -> None:
        """Drop the spooled rows."""
        self._spool.close()
