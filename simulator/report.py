"""Render an experiment's figures: a JSON file, a self-contained HTML page, a terminal table.

The HTML page carries everything inline (CSS, plots as base64 PNG), so it can be mailed or
archived on its own. Output is deterministic: the same figures give byte-identical files.

Plots are drawn on ``matplotlib.figure.Figure`` objects, which render with Agg and never touch
pyplot's global state or backend, so importing this module changes nothing for the caller.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
import matplotlib
import matplotlib.style
import numpy as np
from matplotlib.figure import Figure

from simulator.outcomes import ISSUE_TYPES, IssueType
from simulator.stats import (
    ArmComparison,
    ExperimentFigures,
    GroupFigures,
    SrmResult,
    to_jsonable,
)

GUARDRAILS: tuple[tuple[str, str], ...] = (  # (GroupFigures attribute, label)
    ("handoff_rate", "hand-off"),
    ("wrong_action_rate", "wrong action"),
    ("wrong_fact_rate", "wrong fact"),
    ("recontact_rate", "re-contact"),
    ("abandonment_rate", "abandonment"),
)
_DPI = 100


@dataclass(frozen=True)
class ReportFiles:
    """The files one report wrote."""

    html_path: Path
    json_path: Path


def write_report(figures: ExperimentFigures, out_dir: Path) -> ReportFiles:
    """Write ``experiment-<id>.json`` (every figure) and ``experiment-<id>.html`` to ``out_dir``.

    Args:
        figures: The experiment's figures, from ``simulator.stats.summarize``.
        out_dir: Directory to write into; created if missing. Existing reports are overwritten.

    Returns:
        The paths written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    stem = f"experiment-{figures.info.id}"
    json_path, html_path = out_dir / f"{stem}.json", out_dir / f"{stem}.html"
    json_path.write_text(
        json.dumps(figures.to_dict(), indent=2, sort_keys=True) + "\n", encoding="utf-8"
    )
    html_path.write_text(render_html(figures), encoding="utf-8")
    return ReportFiles(html_path=html_path, json_path=json_path)


def render_html(figures: ExperimentFigures) -> str:
    """The self-contained HTML report (autoescaped: names are user input)."""
    info = figures.info
    environment = jinja2.Environment(
        autoescape=True, undefined=jinja2.StrictUndefined, keep_trailing_newline=True
    )
    template = environment.from_string(_TEMPLATE)
    group_header = ["arm", "issue type", "contacts", "primary", "re-contacts", "automated"]
    group_header += ["automation rate", f"{_level(figures.alpha)} CI", "hand-off", "wrong action"]
    group_header += ["wrong fact", "re-contact", "abandonment", "turns / contact"]
    return template.render(
        info=info,
        figures=figures,
        level=_level(figures.alpha),
        verdicts=[_verdict(c, figures.alpha) for c in figures.comparisons if c.issue_type is None],
        srm_line=_srm_line(figures.srm),
        no_comparisons=_no_comparisons(figures),
        group_header=group_header,
        arm_rows=[_group_cells(arm.overall) for arm in figures.arms],
        issue_rows=[_group_cells(group) for arm in figures.arms for group in arm.by_issue],
        comparison_rows=[_comparison_cells(c) for c in figures.comparisons],
        instrument_version=_instrument_version(info.instrument),
        instrument_rows=list(_flatten(info.instrument)),
        automation_png=_automation_plot(figures),
        guardrail_png=_guardrail_plot(figures),
        curve_png=_curve_plot(figures) if figures.threshold_curves else "",
        curve_rows=[
            [
                c.arm,
                f"{p.threshold:.2f}",
                _pct(p.automation_rate),
                _pct(p.error_rate),
                _pct(p.handed_off_by_threshold),
            ]
            for c in figures.threshold_curves
            for p in c.points
        ],  # fmt: skip
    )


def summary_table(figures: ExperimentFigures) -> str:
    """A fixed-width table for the terminal: one row per arm, then comparisons and the SRM line."""
    header = ["arm", "contacts", "automated", "rate", f"{_level(figures.alpha)} CI", "hand-off"]
    header += ["wrong action", "wrong fact", "re-contact", "turns"]
    rows = [header]
    for arm in figures.arms:
        g = arm.overall
        rows.append(
            [
                arm.name,
                str(g.contacts),
                str(g.automated),
                _pct(g.automation_rate),
                _ci_pct(g.automation_ci),
                _pct(g.handoff_rate),
                _pct(g.wrong_action_rate),
                _pct(g.wrong_fact_rate),
                _pct(g.recontact_rate),
                f"{g.mean_turns:.2f}",
            ]
        )
    rows += [[name, "0"] + ["-"] * (len(header) - 2) for name in figures.empty_arms]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    lines = [
        "  ".join(
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(row, widths, strict=True))
        ).rstrip()
        for row in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    lines.append("")
    if not figures.comparisons:
        lines.append(_no_comparisons(figures))
    lines += [_verdict(c, figures.alpha) for c in figures.comparisons]
    lines.append(_srm_line(figures.srm))
    return "\n".join(lines) + "\n"


def _no_comparisons(figures: ExperimentFigures) -> str:
    if figures.control in figures.empty_arms:
        return f"no comparisons: control arm {figures.control!r} has no contacts"
    return "no comparisons: no treatment arm has contacts"


def _verdict(c: ArmComparison, alpha: float) -> str:
    """'B vs A: +3.1 pts [95% CI 1.2, 5.0], p = 0.001, significant'."""
    scope = "" if c.issue_type is None else f" ({c.issue_type})"
    k = c.comparison
    outcome = "significant" if k.significant else "no significant difference"
    return (
        f"{c.treatment} vs {c.control}{scope}: {_pts(k.difference)} pts "
        f"[{_level(alpha)} CI {100 * k.ci_low:.1f}, {100 * k.ci_high:.1f}], "
        f"{_p_text(k.p_value)}, {outcome}"
    )


def _srm_line(srm: SrmResult) -> str:
    arms = ", ".join(
        f"{arm} {srm.observed[arm]} (expected {srm.expected[arm]:.1f})" for arm in srm.observed
    )
    verdict = (
        "MISMATCH: the assignment is broken, these results must not be trusted"
        if srm.mismatch
        else "no mismatch"
    )
    return (
        f"Sample ratio: {arms}; chi-square = {srm.statistic:.2f}, p = {srm.p_value:.3g} "
        f"(threshold {srm.threshold:g}): {verdict}"
    )


def _group_cells(g: GroupFigures) -> list[str]:
    return [
        g.arm,
        "all" if g.issue_type is None else g.issue_type,
        str(g.contacts),
        str(g.primary_contacts),
        str(g.recontacts),
        str(g.automated),
        _pct(g.automation_rate),
        _ci_pct(g.automation_ci),
        *(_pct(getattr(g, attribute)) for attribute, _ in GUARDRAILS),
        f"{g.mean_turns:.2f}",
    ]


def _clustered_cells(c: ArmComparison) -> list[str]:
    k = c.clustered
    if k is None:
        return ["–", "–"]
    return [
        f"[{_pts(k.ci_low)}, {_pts(k.ci_high)}]",
        _p_text(k.p_value).removeprefix("p ").removeprefix("= "),
    ]


def _comparison_cells(c: ArmComparison) -> list[str]:
    k = c.comparison
    return [
        c.treatment,
        c.control,
        "all" if c.issue_type is None else c.issue_type,
        _pct(k.treatment_rate),
        _pct(k.control_rate),
        _pts(k.difference),
        f"[{_pts(k.ci_low)}, {_pts(k.ci_high)}]",
        _p_text(k.p_value).removeprefix("p ").removeprefix("= "),
        "yes" if k.significant else "no",
        f"{100 * c.mde:.1f}",
        *_clustered_cells(c),
    ]


def _flatten(params: Mapping[str, Any], prefix: str = "") -> Iterator[tuple[str, str]]:
    """Instrument parameters as (dotted key, text) rows, nested mappings unfolded, in order."""
    for key, value in params.items():
        name = f"{prefix}{key}"
        if isinstance(value, Mapping) and value:
            yield from _flatten(value, f"{name}.")
        else:
            yield name, _text(value)


def _instrument_version(params: Mapping[str, Any]) -> str | None:
    return _text(params["version"]) if "version" in params else None


def _text(value: Any) -> str:
    # The JSON file's conversion, so the page and the file never disagree.
    return value if isinstance(value, str) else json.dumps(to_jsonable(value), sort_keys=True)


def _level(alpha: float) -> str:
    return f"{100 * (1 - alpha):g}%"


def _pct(rate: float) -> str:
    return f"{100 * rate:.1f}%"


def _ci_pct(ci: tuple[float, float]) -> str:
    return f"[{100 * ci[0]:.1f}, {100 * ci[1]:.1f}]"


def _pts(difference: float) -> str:
    return f"{100 * difference:+.1f}"


def _p_text(p_value: float) -> str:
    return "p < 0.001" if p_value < 0.001 else f"p = {p_value:.3f}"


def _automation_plot(figures: ExperimentFigures) -> str:
    """Automation rate with Wilson error bars: one group of bars per scope, one bar per arm."""
    scopes: list[IssueType | None] = [None, *ISSUE_TYPES]
    heights: list[list[float]] = []  # [arm][scope]
    errors: list[list[list[float]]] = []  # [arm][below/above][scope]
    for arm in figures.arms:
        by_scope = {g.issue_type: g for g in (arm.overall, *arm.by_issue)}
        groups = [by_scope.get(scope) for scope in scopes]  # None where the arm has no contacts
        heights.append([np.nan if g is None else g.automation_rate for g in groups])
        errors.append(
            [
                [np.nan if g is None else g.automation_rate - g.automation_ci[0] for g in groups],
                [np.nan if g is None else g.automation_ci[1] - g.automation_rate for g in groups],
            ]
        )
    return _grouped_bars_png(
        [arm.name for arm in figures.arms],
        ["all" if scope is None else scope for scope in scopes],
        heights,
        errors,
        title=f"Automation rate per arm ({_level(figures.alpha)} Wilson intervals)",
        ylabel="automation rate",
        ytop=1.0,
    )


def _guardrail_plot(figures: ExperimentFigures) -> str:
    return _grouped_bars_png(
        [arm.name for arm in figures.arms],
        [label for _, label in GUARDRAILS],
        [[getattr(arm.overall, attr) for attr, _ in GUARDRAILS] for arm in figures.arms],
        None,
        title="Guardrails per arm",
        ylabel="share of contacts",
        ytop=None,  # guardrail rates are small: let the axis zoom in
    )


def _curve_plot(figures: ExperimentFigures) -> str:
    """Automation rate against error rate, one line per arm, one point per threshold (base64)."""
    buffer = io.BytesIO()
    with (
        matplotlib.style.context("default"),
        matplotlib.rc_context({"svg.hashsalt": "csbot-report", "text.parse_math": False}),
    ):
        fig = Figure(figsize=(6.4, 4), dpi=_DPI)
        ax = fig.add_subplot()
        for curve in figures.threshold_curves:
            xs = [p.error_rate for p in curve.points]
            ys = [p.automation_rate for p in curve.points]
            ax.plot(xs, ys, marker="o", label=curve.arm)
            for p in curve.points:
                ax.annotate(f"{p.threshold:g}", (p.error_rate, p.automation_rate), fontsize=7)
        ax.set_xlabel("error rate (wrong action or wrong fact)")
        ax.set_ylabel("automation rate")
        ax.set_title("Automation versus error over the auto-send threshold")
        ax.legend()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _grouped_bars_png(
    series: Sequence[str],
    groups: Sequence[str],
    heights: Sequence[Sequence[float]],  # [series][group]
    errors: Sequence[Sequence[Sequence[float]]] | None,  # [series][below/above][group]
    *,
    title: str,
    ylabel: str,
    ytop: float | None,
) -> str:
    """A grouped bar chart as base64 PNG, free of timestamps and version metadata."""
    buffer = io.BytesIO()
    # Matplotlib's defaults, not the user's matplotlibrc; mathtext off, since arm names are user
    # input and a stray "$" would otherwise be parsed (or fail to parse) as a formula.
    with (
        matplotlib.style.context("default"),
        matplotlib.rc_context({"svg.hashsalt": "csbot-report", "text.parse_math": False}),
    ):
        fig = Figure(figsize=(8, 4), dpi=_DPI)
        ax = fig.add_subplot()
        positions = np.arange(len(groups))  # (groups,)
        width = 0.8 / max(len(series), 1)
        for i, name in enumerate(series):
            offsets = positions - 0.4 + width * (i + 0.5)  # (groups,)
            yerr = (
                None if errors is None else np.clip(np.asarray(errors[i]), 0.0, None)
            )  # (2, groups)
            ax.bar(offsets, heights[i], width, yerr=yerr, capsize=3, label=name)
        ax.set_xticks(positions, list(groups))
        ax.set_ylim(bottom=0, top=ytop)
        ax.set_ylabel(ylabel)
        ax.set_title(title)
        if series:
            ax.legend()
        fig.tight_layout()
        fig.savefig(buffer, format="png", dpi=_DPI, metadata={"Software": None})
    return base64.b64encode(buffer.getvalue()).decode("ascii")


_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Experiment {{ info.id }}: {{ info.name }}</title>
<style>
body { font-family: sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #bbb; padding: 0.25em 0.6em; text-align: right; }
th:first-child, td:first-child { text-align: left; }
.warning { background: #fdd; border: 3px solid #c00; color: #900; font-weight: bold;
           padding: 1em; font-size: 1.2em; }
.verdict { font-size: 1.1em; }
</style>
</head>
<body>
<h1>Experiment {{ info.id }}: {{ info.name }}</h1>
<p>Seed {{ info.seed }}, {{ info.contacts }} primary contacts requested,
significance level {{ figures.alpha }}.
Arms: {% for arm in info.arms -%}
{{ arm.name }} (weight {{ arm.weight }}{{ ", control" if loop.first else "" }})
{{- ";" if not loop.last else "." }}
{% endfor -%}
{% if info.created_at %}Created {{ info.created_at.isoformat() }}.{% endif %}
{% if info.finished_at %}Finished {{ info.finished_at.isoformat() }}.{% endif %}</p>

{% if figures.srm.mismatch %}
<p class="warning" id="srm">{{ srm_line }}</p>
{% else %}
<p id="srm">{{ srm_line }}</p>
{% endif %}
{% if figures.empty_arms %}
<p class="warning">Arms without a single contact: {{ figures.empty_arms | join(", ") }}.</p>
{% endif %}

<h2>Verdict</h2>
{% for line in verdicts %}<p class="verdict">{{ line }}</p>
{% else %}<p class="warning">{{ no_comparisons }}</p>
{% endfor %}

<h2>Automation rate</h2>
<img alt="automation rate per arm and issue type" src="data:image/png;base64,{{ automation_png }}">
<h2>Guardrails</h2>
<img alt="guardrail rates per arm" src="data:image/png;base64,{{ guardrail_png }}">

{% macro table(header, rows) %}<table>
<tr>{% for cell in header %}<th>{{ cell }}</th>{% endfor %}</tr>
{% for row in rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>
{% endfor %}</table>{% endmacro %}
<h2>Per arm</h2>
{{ table(group_header, arm_rows) }}
<h2>Per arm and issue type</h2>
{{ table(group_header, issue_rows) }}
<h2>Comparisons with the control</h2>
<p>Differences and minimum detectable effects (power 0.8) in percentage points; Newcombe
{{ level }} intervals; two-sided score test. The last two columns repeat the interval and test
with standard errors clustered by customer (the randomization unit; contacts of one customer are
not independent).</p>
{{ table(["treatment", "control", "issue type", "treatment rate", "control rate", "difference",
          level ~ " CI", "p", "significant", "MDE", "clustered CI", "clustered p"],
         comparison_rows) }}
{% if figures.threshold_curves %}
<h2>Automation versus error over the auto-send threshold</h2>
<p>For arms with a list head: at threshold t a contact is automated only if every turn's
P(some candidate is acceptable) reached t; errors (wrong action or wrong fact) counted the same
way are a lower bound above the threshold the arm ran with.</p>
<img alt="automation versus error over the threshold" src="data:image/png;base64,{{ curve_png }}">
{{ table(["arm", "threshold", "automation rate", "error rate", "handed off by threshold"],
         curve_rows) }}
{% endif %}
<h2>Instrument</h2>
{% if instrument_version is none %}
<p class="warning">The instrument's version is not recorded: these figures cannot be compared
with any other run.</p>
{% else %}
<p>Simulator version {{ instrument_version }}. Figures from different instruments are not
comparable.</p>
{% endif %}
{{ table(["parameter", "value"], instrument_rows) }}
</body>
</html>
"""
