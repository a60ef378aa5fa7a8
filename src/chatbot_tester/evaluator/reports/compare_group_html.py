"""Self-contained HTML page comparing several variants with a baseline variant.

One table shows every metric with each variant side by side (value, delta against the
baseline, Holm-adjusted p, verdict); below it, per variant, the flipped samples with the
question and both answers. Same safety as ``compare_html``: a CSP meta tag allowing inline
styles only, no scripts, and Jinja2 autoescaping of every value (answers are model output).
"""

from __future__ import annotations

from chatbot_tester.evaluator.compare_group_model import GroupComparison
from chatbot_tester.evaluator.compare_model import MetricComparison
from chatbot_tester.evaluator.reports.compare_md import fmt_num, fmt_p, fmt_signed
from chatbot_tester.evaluator.reports.compare_page import render_page

__all__ = ["metric_cells", "render_group_html"]

_BODY = """{% if g.regressed %}
<p class="banner bad">Regression against baseline variant {{ g.baseline.name }}: {{ g.regressed | join(", ") }}</p>
{% else %}
<p class="banner good">No variant regressed against baseline variant {{ g.baseline.name }}</p>
{% endif %}
{% for name, problem in g.problems.items() %}<p class="banner bad">{{ name }}: not compared ({{ problem }})</p>{% endfor %}
<h2>Variants</h2>
<table id="variants">
<thead><tr><th>variant</th><th>run</th><th>role</th></tr></thead>
<tbody>
<tr><td>{{ g.baseline.name }}</td><td><code>{{ g.baseline.run_id }}</code></td><td>baseline</td></tr>
{% for v in g.variants %}<tr><td>{{ v.name }}</td><td><code>{{ v.run_id }}</code></td><td>candidate</td></tr>
{% endfor %}
</tbody>
</table>
<h2>Metrics</h2>
<table id="metrics">
<thead>
<tr><th rowspan="2">metric</th><th>{{ g.baseline.name }} (baseline)</th>
{% for v in g.variants %}<th colspan="4">{{ v.name }}</th>{% endfor %}</tr>
<tr><th>value</th>{% for v in g.variants %}<th>value</th><th>&Delta;</th><th>p adj.</th><th>verdict</th>{% endfor %}</tr>
</thead>
<tbody>
{% for metric in metrics %}
<tr><td>{{ metric }}</td><td class="n">{{ base_value(metric) }}</td>
{% for v in g.variants %}{% set m = cell(v.name, metric) %}
{% if m is none %}<td class="n">-</td><td class="n">-</td><td class="n">-</td><td>-</td>
{% else %}{% set x = cells(m) %}<td class="n">{{ x.value }}</td><td class="n">{{ x.delta }}</td><td class="n">{{ pval(m.p_adjusted) }}</td><td class="{{ m.verdict }}">{{ m.verdict | replace("_", " ") }}</td>
{% endif %}{% endfor %}</tr>
{% endfor %}
</tbody>
</table>
<p>Values are pass rates for pass/fail metrics, else means; p-values are Holm-adjusted across metrics per variant (alpha {{ "%g" | format(alpha) }}).</p>
{% for v in g.variants %}{% set flips = g.flipped.get(v.name, []) %}
<section class="flipped" data-variant="{{ v.name }}">
<h2>Flipped samples: {{ v.name }} vs {{ g.baseline.name }}</h2>
{% if flips %}
<table>
<thead><tr><th>metric</th><th>flip</th><th>sample</th><th>question</th><th>{{ g.baseline.name }} answered</th><th>{{ v.name }} answered</th></tr></thead>
<tbody>
{% for f in flips %}
<tr class="flip"><td>{{ f.metric }}</td><td class="{{ 'regression' if f.flip == 'pass_to_fail' else 'improvement' }}">{{ "pass → fail" if f.flip == "pass_to_fail" else "fail → pass" }}</td>
<td><code>{{ f.sample_id }}</code></td><td><pre>{{ f.question }}</pre></td>
<td><pre class="baseline-answer">{{ f.baseline_answer if f.baseline_answer is not none else "(error)" }}</pre></td>
<td><pre class="variant-answer">{% if f.variant_answer is not none %}{{ f.variant_answer }}{% else %}(error: {{ f.variant_error or "no answer" }}){% endif %}</pre></td></tr>
{% endfor %}
</tbody>
</table>
{% else %}<p>No sample flipped.</p>{% endif %}
</section>
{% endfor %}
"""


def metric_cells(m: MetricComparison) -> dict[str, str]:
    """A metric's variant value and delta: the pass rate when it has verdicts, else the mean."""
    if m.candidate_pass_rate is not None:
        return {
            "value": f"{100 * m.candidate_pass_rate:.0f}%",
            "delta": fmt_signed(None if m.pass_rate_delta is None else 100 * m.pass_rate_delta, 1)
            + (" pp" if m.pass_rate_delta is not None else ""),
        }
    return {"value": fmt_num(m.candidate_mean), "delta": fmt_signed(m.delta)}


def render_group_html(group: GroupComparison, *, title: str = "Variant comparison") -> str:
    """The group comparison as one self-contained HTML page (no scripts, everything escaped)."""
    by_variant = {name: {m.metric: m for m in c.metrics} for name, c in group.comparisons.items()}
    metrics = sorted({metric for table in by_variant.values() for metric in table})

    def cell(variant: str, metric: str) -> MetricComparison | None:
        return by_variant.get(variant, {}).get(metric)

    def base_value(metric: str) -> str:
        for table in by_variant.values():
            m = table.get(metric)
            if m is not None:
                if m.baseline_pass_rate is not None:
                    return f"{100 * m.baseline_pass_rate:.0f}%"
                return fmt_num(m.baseline_mean)
        return "-"

    alpha = next(iter(group.comparisons.values())).alpha if group.comparisons else 0.05
    return render_page(
        _BODY,
        g=group,
        title=title,
        metrics=metrics,
        cell=cell,
        cells=metric_cells,
        base_value=base_value,
        pval=fmt_p,
        alpha=alpha,
    )
