"""The page both comparison views share: head, Content-Security-Policy and styles.

No scripts and no external resources: the CSP meta tag allows inline styles only, and
every value goes through Jinja2 autoescaping (metric names, sample ids and answers come
from untrusted datasets and model output). A view's template extends ``page`` and fills
``{% block body %}``.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
import markupsafe

__all__ = ["CSP", "render_page"]

CSP = "default-src 'none'; style-src 'unsafe-inline'"
"""Content-Security-Policy of the page: nothing but inline styles."""

_PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{ title }}</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:2rem auto;max-width:1200px;padding:0 1rem;color:#1f2328}
h1{font-size:1.4rem}h2{font-size:1.1rem;margin-top:2rem}h3{font-size:1rem}
table{border-collapse:collapse;width:100%;margin:.5rem 0}
th,td{border-bottom:1px solid #d0d7de;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f6f8fa}td.n{text-align:right;font-variant-numeric:tabular-nums}
.banner{padding:.75rem 1rem;border-radius:6px;font-weight:600}
.bad{background:#ffebe9;color:#82071e}.good{background:#dafbe1;color:#116329}
.regression{color:#cf222e;font-weight:600}.improvement{color:#1a7f37;font-weight:600}.no_change{color:#57606a}
code{background:#f6f8fa;padding:0 .25rem;border-radius:4px;word-break:break-all}
pre{white-space:pre-wrap;word-break:break-word;margin:0;font:inherit}
.note{color:#57606a}
</style>
</head>
<body>
<h1>{{ title }}</h1>
{% block body %}{% endblock %}
</body>
</html>
"""


@functools.cache
def _template(body: str) -> jinja2.Template:
    loader = jinja2.DictLoader({"page": _PAGE})
    env = jinja2.Environment(loader=loader, autoescape=True, undefined=jinja2.StrictUndefined)
    return env.from_string('{% extends "page" %}{% block body %}' + body + "{% endblock %}")


def render_page(body: str, *, title: str, **context: Any) -> str:
    """A self-contained page titled ``title`` whose body is the template source ``body``."""
    csp = markupsafe.Markup(CSP)  # a constant of ours; escaping would mangle its quotes
    return _template(body).render(title=title, csp=csp, **context)
