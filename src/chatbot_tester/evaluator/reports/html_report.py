"""``report.html``: one self-contained file, safe to open whatever the chatbot answered.

No external URL of any kind; a Content-Security-Policy that only lets our own inline script
(pinned by its sha256) run; the data sits in a ``<script type="application/json">`` block
with ``<``, ``>``, ``&``, U+2028 and U+2029 escaped so no payload can end the block, and the
script renders it with ``textContent`` only.
"""

from __future__ import annotations

import base64
import hashlib
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any

import jinja2
import orjson
from markupsafe import Markup

from chatbot_tester.evaluator.reports.payload import DEFAULT_MAX_TEXT, build_payload

__all__ = ["csp_for", "embed_json", "render_html", "render_html_payload"]

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


def render_html_payload(payload: dict[str, Any]) -> bytes:
    """Render an already-built payload (see ``payload.build_payload``) to the HTML bytes."""
    template, script, css = _template()
    title = str(payload["summary"].get("title") or "chatbot-tester report")
    html = template.render(
        title=title,
        csp=Markup(csp_for(script)),  # our own constant: no quote or angle bracket in it
        css=Markup(css),
        script=Markup(script),
        data=Markup(embed_json(payload)),
    )
    return html.encode("utf-8")


def render_html(
    summary: dict[str, Any],
    dataset_path: Path,
    results_path: Path,
    scores_path: Path,
    *,
    max_text: int = DEFAULT_MAX_TEXT,
) -> bytes:
    """The whole ``report.html`` for an evaluation (summary plus every record and score)."""
    payload = build_payload(summary, dataset_path, results_path, scores_path, max_text=max_text)
    return render_html_payload(payload)
