"""Self-contained HTML rendering of a run comparison.

No scripts and no external resources: a Content-Security-Policy meta tag allows inline
styles only, and every value goes through Jinja2 autoescaping (metric names and sample ids
come from untrusted datasets).
"""

from __future__ import annotations

from chatbot_tester.evaluator.compare_model import Comparison
from chatbot_tester.evaluator.reports.compare_md import MAX_IDS, fmt_num, fmt_p, fmt_signed
from chatbot_tester.evaluator.reports.compare_page import CSP, render_page

__all__ = ["CSP", "render_html"]  # CSP: re-exported for callers of this view

_BODY = """{% set missing = ([c.missing_in_candidate] + (c.metrics | map(attribute="missing_in_candidate") | list)) | max %}
{% if missing %}<p class="banner bad">{{ missing }} baseline samples are missing, errored or unscored in the candidate (counted as fails / worst values)</p>{% endif %}
{% if c.partial_candidate %}<p class="banner bad">The candidate run did not complete ({{ "accepted with --allow-partial" if c.allow_partial else "a regression" }})</p>{% endif %}
{% for d in c.differences %}<p class="banner bad">Not like-for-like (compared with --force): {{ d }}</p>{% endfor %}
{% if c.has_regression %}
<p class="banner bad">Regression{% if c.regressed_metrics %} in {{ c.regressed_metrics | join(", ") }}{% endif %} (alpha {{ "%g" | format(c.alpha) }}, {{ "Holm-corrected" if c.correction == "holm" else "uncorrected" }})</p>
{% else %}
<p class="banner good">No significant regression (alpha {{ "%g" | format(c.alpha) }})</p>
{% endif %}
<p>Baseline <code>{{ c.baseline.run_id }}</code> ({{ c.baseline.samples }} samples) &rarr;
candidate <code>{{ c.candidate.run_id }}</code> ({{ c.candidate.samples }} samples).</p>
<h2>Metrics</h2>
<table>
<thead><tr><th>metric</th><th>better</th><th>n</th><th>missing</th><th>baseline</th><th>candidate</th><th>&Delta; mean</th>
<th>CI</th><th>pass rate</th><th>pass&rarr;fail</th><th>fail&rarr;pass</th><th>p</th><th>p adj.</th><th>verdict</th></tr></thead>
<tbody>
{% for m in c.metrics %}
<tr><td>{{ m.metric }}</td><td>{{ m.direction }}</td><td class="n">{{ m.n_paired }}</td><td class="n">{{ m.missing_in_candidate }}</td>
<td class="n">{{ num(m.baseline_mean) }}</td><td class="n">{{ num(m.candidate_mean) }}</td>
<td class="n">{{ signed(m.delta) }}</td>
<td class="n">{% if m.delta_ci_low is not none %}[{{ signed(m.delta_ci_low) }}, {{ signed(m.delta_ci_high) }}]{% else %}-{% endif %}</td>
<td>{% if m.baseline_pass_rate is not none %}{{ "%.0f%%" | format(100 * m.baseline_pass_rate) }} &rarr; {{ "%.0f%%" | format(100 * m.candidate_pass_rate) }}{% else %}-{% endif %}</td>
<td class="n">{{ m.pass_to_fail }}</td><td class="n">{{ m.fail_to_pass }}</td>
<td class="n">{{ pval(m.p_value) }}</td><td class="n">{{ pval(m.p_adjusted) }}</td>
<td class="{{ m.verdict }}">{{ m.verdict | replace("_", " ") }}</td></tr>
{% endfor %}
</tbody>
</table>
{% if c.operational %}
<h2>Operational</h2>
<table>
<thead><tr><th>figure</th><th>baseline</th><th>candidate</th><th>&Delta;</th></tr></thead>
<tbody>
{% for s in c.operational %}
<tr><td>{{ s.name }}</td><td class="n">{{ num(s.baseline) }}</td><td class="n">{{ num(s.candidate) }}</td><td class="n">{{ signed(s.delta) }}</td></tr>
{% endfor %}
</tbody>
</table>
{% endif %}
{% if c.metrics | selectattr("regressions") | list or c.metrics | selectattr("improvements") | list %}
<h2>Flipped samples</h2>
<ul>
{% for m in c.metrics if m.regressions or m.improvements %}
{% if m.regressions %}<li><strong>{{ m.metric }}</strong> pass&rarr;fail: {{ ids(m.regressions, m.error_regressions) }}</li>{% endif %}
{% if m.improvements %}<li><strong>{{ m.metric }}</strong> fail&rarr;pass: {{ ids(m.improvements) }}</li>{% endif %}
{% endfor %}
</ul>
{% endif %}
{% if c.only_in_baseline or c.only_in_candidate %}
<h2>Unpaired samples</h2>
<ul>
{% if c.only_in_baseline %}<li>only in baseline: {{ ids(c.only_in_baseline) }}</li>{% endif %}
{% if c.only_in_candidate %}<li>only in candidate: {{ ids(c.only_in_candidate) }}</li>{% endif %}
</ul>
{% endif %}
{% for n in c.notes %}<p class="note">{{ n }}</p>{% endfor %}
"""


def _ids(ids: list[str], errored: list[str] | None = None) -> str:
    """Up to MAX_IDS ids, the ones that errored marked "(error)" (escaped by the template)."""
    marked = set(errored or ())
    more = len(ids) - MAX_IDS
    shown = [i + (" (error)" if i in marked else "") for i in ids[:MAX_IDS]]
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def render_html(comparison: Comparison, *, title: str = "Run comparison") -> str:
    """The comparison as one self-contained HTML page (no scripts, everything escaped)."""
    return render_page(
        _BODY,
        c=comparison,
        title=title,
        num=fmt_num,
        signed=fmt_signed,
        pval=fmt_p,
        ids=_ids,
    )
