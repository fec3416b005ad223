"""Experiment reports: the JSON file, the self-contained HTML page and the terminal table."""

from __future__ import annotations

import base64
import json
import re
from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from simulator.outcomes import (
    ArmAssignmentCounts,
    ArmSpec,
    ContactOutcome,
    ExperimentInfo,
    IssueType,
)
from simulator.report import ReportFiles, render_html, summary_table, write_report
from simulator.stats import ExperimentFigures, summarize

T0 = datetime(2024, 3, 1, 9, 0, 0)
HOSTILE = "<script>alert(1)</script>"
INSTRUMENT = {
    "version": "sim-0.4.1",
    "persona_mix": {"calm": 0.6, "terse": 0.4},
    "typo_rate": 0.03,
    "recontact_probability": 0.1,
}


def contact(
    index: int, arm: str, issue_type: IssueType = "refund_status", **flags: bool
) -> ContactOutcome:
    fields: dict[str, Any] = {
        "is_recontact": False,
        "handed_off": False,
        "goal_met": True,
        "wrong_action": False,
        "wrong_fact": False,
        "abandoned": False,
        "recontacted_24h": False,
    } | flags
    return ContactOutcome(
        contact_key=f"c{index:06d}",
        customer_id=index,
        arm=arm,
        issue_type=issue_type,
        started_at=T0,
        turns=3,
        **fields,
    )


def two_arm_figures(
    control: str = "A",
    treatment: str = "B",
    *,
    treatment_automated: int = 70,
    name: str = "rules vs neural",
    customers: tuple[int, int] = (10, 10),
) -> ExperimentFigures:
    """100 refund_status contacts per arm: control 50 automated, treatment as asked.

    The treatment's last 10 contacts are handed off.
    """
    outcomes = [contact(i, control, goal_met=i < 50) for i in range(100)] + [
        contact(100 + i, treatment, goal_met=i < treatment_automated, handed_off=i >= 90)
        for i in range(100)
    ]
    info = ExperimentInfo(
        id=12,
        name=name,
        arms=(ArmSpec(control), ArmSpec(treatment)),
        seed=42,
        contacts=200,
        instrument=INSTRUMENT,
        created_at=T0,
        finished_at=datetime(2024, 3, 1, 10, 30, 0),
    )
    assignments = ArmAssignmentCounts(
        {control: customers[0], treatment: customers[1]}, {control: 1.0, treatment: 1.0}
    )
    return summarize(info, outcomes, assignments)


def written(figures: ExperimentFigures, out_dir: Path) -> tuple[ReportFiles, str]:
    files = write_report(figures, out_dir)
    return files, files.html_path.read_text(encoding="utf-8")


def test_write_report_names_the_files_after_the_experiment(tmp_path: Path) -> None:
    files = write_report(two_arm_figures(), tmp_path / "reports")
    assert files == ReportFiles(
        html_path=tmp_path / "reports" / "experiment-12.html",
        json_path=tmp_path / "reports" / "experiment-12.json",
    )
    assert sorted(p.name for p in (tmp_path / "reports").iterdir()) == [
        "experiment-12.html",
        "experiment-12.json",
    ]


def test_html_is_self_contained(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(), tmp_path)
    assert re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html) is None
    assert "http://" not in html and "https://" not in html
    assert "<script" not in html and "<link" not in html


def test_html_embeds_two_png_plots(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(), tmp_path)
    images = re.findall(r'<img [^>]*src="data:image/png;base64,([A-Za-z0-9+/=]+)"', html)
    assert len(images) == 2
    assert all(base64.b64decode(image).startswith(b"\x89PNG\r\n\x1a\n") for image in images)


@pytest.mark.parametrize(
    ("control", "treatment", "name"),
    [(HOSTILE, "B", "plain"), ("A", HOSTILE, "plain"), ("A", "B", HOSTILE)],
    ids=["control-arm", "treatment-arm", "experiment-name"],
)
def test_html_escapes_user_input(tmp_path: Path, control: str, treatment: str, name: str) -> None:
    _, html = written(two_arm_figures(control, treatment, name=name), tmp_path)
    assert HOSTILE not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


def test_html_states_experiment_verdict_srm_and_instrument(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(), tmp_path)
    assert "<h1>Experiment 12: rules vs neural</h1>" in html
    assert "Seed 42, 200 primary contacts requested" in html
    assert "Created 2024-03-01T09:00:00." in html and "Finished 2024-03-01T10:30:00." in html
    assert "B vs A: +20.0 pts [95% CI 6.4, 32.6], p = 0.004, significant" in html
    assert (
        '<p id="srm">Sample ratio: A 10 (expected 10.0), B 10 (expected 10.0); '
        "chi-square = 0.00, p = 1 (threshold 0.001): no mismatch</p>"
    ) in html
    assert "Simulator version sim-0.4.1." in html
    for row in [
        ("version", "sim-0.4.1"),
        ("persona_mix.calm", "0.6"),
        ("persona_mix.terse", "0.4"),
        ("typo_rate", "0.03"),
        ("recontact_probability", "0.1"),
    ]:
        assert f"<tr><td>{row[0]}</td><td>{row[1]}</td></tr>" in html


def test_html_tables_carry_every_figure(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(), tmp_path)
    assert (
        "<tr><td>B</td><td>all</td><td>100</td><td>100</td><td>0</td><td>70</td><td>70.0%</td>"
        "<td>[60.4, 78.1]</td><td>10.0%</td><td>0.0%</td><td>0.0%</td><td>0.0%</td><td>0.0%</td>"
        "<td>3.00</td></tr>"
    ) in html
    assert "<tr><td>B</td><td>refund_status</td><td>100</td>" in html
    assert (
        "<tr><td>B</td><td>A</td><td>all</td><td>70.0%</td><td>50.0%</td><td>+20.0</td>"
        "<td>[+6.4, +32.6]</td><td>0.004</td><td>yes</td><td>19.3</td>"
        "<td>[+6.6, +33.4]</td><td>0.003</td></tr>"
    ) in html


def test_html_no_significant_difference(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(treatment_automated=52), tmp_path)
    assert "B vs A: +2.0 pts [95% CI -11.6, 15.5], p = 0.778, no significant difference" in html


def test_html_warns_loudly_on_sample_ratio_mismatch(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(customers=(5300, 4700)), tmp_path)
    assert '<p class="warning" id="srm">' in html
    assert "MISMATCH: the assignment is broken, these results must not be trusted" in html


def test_html_warns_when_the_instrument_has_no_version(tmp_path: Path) -> None:
    figures = two_arm_figures()
    info = replace(figures.info, instrument={"typo_rate": 0.03})
    html = render_html(replace(figures, info=info))
    assert "The instrument's version is not recorded" in html


def test_json_round_trips_with_the_figures(tmp_path: Path) -> None:
    figures = two_arm_figures()
    files, _ = written(figures, tmp_path)
    payload = json.loads(files.json_path.read_text(encoding="utf-8"))
    assert payload == figures.to_dict()
    rates = {arm["name"]: arm["overall"]["automation_rate"] for arm in payload["arms"]}
    assert (
        rates
        == {arm.name: arm.overall.automation_rate for arm in figures.arms}
        == {
            "A": 0.5,
            "B": 0.7,
        }
    )
    assert payload["experiment"]["instrument"] == INSTRUMENT


def test_report_is_byte_identical_when_written_twice(tmp_path: Path) -> None:
    first = write_report(two_arm_figures(), tmp_path / "one")
    first_bytes = (first.html_path.read_bytes(), first.json_path.read_bytes())
    again = write_report(two_arm_figures(), tmp_path / "one")
    other = write_report(two_arm_figures(), tmp_path / "two")
    for files in (again, other):
        assert (files.html_path.read_bytes(), files.json_path.read_bytes()) == first_bytes


def test_summary_table() -> None:
    assert summary_table(two_arm_figures()) == (
        "arm  contacts  automated   rate        95% CI  hand-off  wrong action  wrong fact"
        "  re-contact  turns\n" + "-" * 100 + "\n"
        "A         100         50  50.0%  [40.4, 59.6]      0.0%          0.0%        0.0%"
        "        0.0%   3.00\n"
        "B         100         70  70.0%  [60.4, 78.1]     10.0%          0.0%        0.0%"
        "        0.0%   3.00\n"
        "\n"
        "B vs A: +20.0 pts [95% CI 6.4, 32.6], p = 0.004, significant\n"
        "B vs A (refund_status): +20.0 pts [95% CI 6.4, 32.6], p = 0.004, significant\n"
        "Sample ratio: A 10 (expected 10.0), B 10 (expected 10.0); chi-square = 0.00, p = 1"
        " (threshold 0.001): no mismatch\n"
    )


def test_summary_table_lists_empty_arms_and_missing_control() -> None:
    info = ExperimentInfo(
        id=3, name="x", arms=(ArmSpec("A"), ArmSpec("B")), seed=1, contacts=2, instrument={}
    )
    assignments = ArmAssignmentCounts({"A": 0, "B": 200}, {"A": 1.0, "B": 1.0})
    figures = summarize(info, [contact(1, "B"), contact(2, "B")], assignments)
    lines = summary_table(figures).splitlines()
    assert lines[2].split() == ["B", "2", "2", "100.0%", "[34.2,", "100.0]"] + ["0.0%"] * 4 + [
        "3.00"
    ]
    assert lines[3].split() == ["A", "0"] + ["-"] * 8
    assert lines[5] == "no comparisons: control arm 'A' has no contacts"
    assert lines[6].endswith(
        "MISMATCH: the assignment is broken, these results must not be trusted"
    )


def test_html_lists_the_arms_with_weights_and_control(tmp_path: Path) -> None:
    _, html = written(two_arm_figures(), tmp_path)
    assert "Arms: A (weight 1.0, control);\nB (weight 1.0).\n" in html


def test_single_arm_has_nothing_to_compare() -> None:
    info = ExperimentInfo(id=4, name="x", arms=(ArmSpec("A"),), seed=1, contacts=1)
    assignments = ArmAssignmentCounts({"A": 1}, {"A": 1.0})
    figures = summarize(info, [contact(1, "A")], assignments)
    assert "no comparisons: no treatment arm has contacts" in summary_table(figures)
    html = render_html(figures)
    assert '<p class="warning">no comparisons: no treatment arm has contacts</p>' in html
