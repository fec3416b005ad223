"""Experiment statistics: intervals, tests, SRM, MDE, and the grouping of contacts into figures."""

from __future__ import annotations

import json
import math
from datetime import datetime
from typing import Any

import pytest

from simulator.outcomes import (
    ArmAssignmentCounts,
    ArmSpec,
    ContactOutcome,
    ExperimentInfo,
    IssueType,
)
from simulator.stats import (
    compare_proportions,
    minimum_detectable_effect,
    sample_ratio_mismatch,
    summarize,
    wilson_interval,
)

T0 = datetime(2024, 3, 1, 9, 0, 0)


def contact(
    index: int,
    arm: str,
    issue_type: IssueType = "refund_status",
    *,
    goal_met: bool = True,
    turns: int = 3,
    **flags: bool,
) -> ContactOutcome:
    """An automated primary contact unless flags say otherwise."""
    fields: dict[str, Any] = {
        "is_recontact": False,
        "handed_off": False,
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
        turns=turns,
        goal_met=goal_met,
        **fields,
    )


def experiment(*arms: str, instrument: dict[str, Any] | None = None) -> ExperimentInfo:
    return ExperimentInfo(
        id=7,
        name="rules vs neural",
        arms=tuple(ArmSpec(arm) for arm in arms),
        seed=42,
        contacts=100,
        instrument=instrument or {"version": "1.0"},
        created_at=T0,
    )


def balanced(*arms: str) -> ArmAssignmentCounts:
    return ArmAssignmentCounts({arm: 10 for arm in arms}, {arm: 1.0 for arm in arms})


# --- wilson_interval -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("successes", "n", "expected"),
    [
        (50, 100, (0.4038, 0.5962)),
        (0, 10, (0.0, 0.2775)),
        (10, 10, (0.7225, 1.0)),
        (1, 1, (0.2065, 1.0)),
    ],
    ids=["half", "none", "all", "single"],
)
def test_wilson_interval(successes: int, n: int, expected: tuple[float, float]) -> None:
    assert wilson_interval(successes, n) == pytest.approx(expected, abs=1e-4)


def test_wilson_interval_narrows_with_alpha() -> None:
    assert wilson_interval(50, 100, alpha=0.01) == pytest.approx((0.3753, 0.6247), abs=1e-4)


@pytest.mark.parametrize(
    ("successes", "n"), [(0, 0), (3, 2), (-1, 5)], ids=["empty", "too-many", "negative"]
)
def test_wilson_interval_rejects_bad_counts(successes: int, n: int) -> None:
    with pytest.raises(ValueError, match="wilson_interval"):
        wilson_interval(successes, n)


# --- compare_proportions ---------------------------------------------------------------------


def test_compare_proportions_newcombe_interval_matches_hand_computation() -> None:
    result = compare_proportions(60, 100, 50, 100)
    # Newcombe's hybrid score interval from the two Wilson intervals, written out.
    l1, u1 = wilson_interval(60, 100)
    l2, u2 = wilson_interval(50, 100)
    assert result.difference == pytest.approx(0.1)
    assert result.ci_low == pytest.approx(0.1 - math.hypot(0.6 - l1, u2 - 0.5), abs=1e-12)
    assert result.ci_high == pytest.approx(0.1 + math.hypot(u1 - 0.6, 0.5 - l2), abs=1e-12)
    assert (result.ci_low, result.ci_high) == pytest.approx((-0.0373, 0.2321), abs=1e-4)
    assert result.p_value == pytest.approx(0.1563, abs=1e-4)
    assert (result.treatment_rate, result.control_rate) == (0.6, 0.5)
    assert result.significant is False


@pytest.mark.parametrize(
    ("counts", "p_value", "significant"),
    [
        ((600, 1000, 500, 1000), 0.0000066, True),
        ((500, 1000, 500, 1000), 1.0, False),
        ((5, 5, 0, 5), 0.0027, True),
        ((550, 1000, 500, 1000), 0.0252, True),
    ],
    ids=["large-difference", "identical", "all-vs-none", "borderline"],
)
def test_compare_proportions_significance(
    counts: tuple[int, int, int, int], p_value: float, significant: bool
) -> None:
    result = compare_proportions(*counts)
    assert result.p_value == pytest.approx(p_value, abs=1e-4)
    assert result.significant is significant
    assert result.ci_low <= result.difference <= result.ci_high


def test_compare_proportions_significance_follows_alpha() -> None:
    assert compare_proportions(550, 1000, 500, 1000, alpha=0.01).significant is False


@pytest.mark.parametrize(
    ("counts", "half_width"),
    [((0, 10, 0, 10), 0.2775), ((10, 10, 10, 10), 0.2775), ((0, 1, 0, 1), 0.7935)],
    ids=["both-zero", "both-one", "single-contact"],
)
def test_compare_proportions_degenerate_samples(
    counts: tuple[int, int, int, int], half_width: float
) -> None:
    result = compare_proportions(*counts)
    assert result.difference == 0.0
    assert result.p_value == 1.0
    assert result.significant is False
    assert (result.ci_low, result.ci_high) == pytest.approx((-half_width, half_width), abs=1e-4)


@pytest.mark.parametrize(
    "counts", [(0, 0, 1, 2), (1, 2, 0, 0), (3, 2, 1, 2)], ids=["treat-empty", "ctrl-empty", "k>n"]
)
def test_compare_proportions_rejects_bad_counts(counts: tuple[int, int, int, int]) -> None:
    with pytest.raises(ValueError, match="compare_proportions"):
        compare_proportions(*counts)


# --- sample_ratio_mismatch -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "weights", "statistic", "mismatch"),
    [
        ({"A": 5000, "B": 5000}, {"A": 0.5, "B": 0.5}, 0.0, False),
        ({"A": 5300, "B": 4700}, {"A": 0.5, "B": 0.5}, 36.0, True),
        ({"A": 5100, "B": 4900}, {"A": 1.0, "B": 1.0}, 4.0, False),
        ({"A": 6600, "B": 3400}, {"A": 2.0, "B": 1.0}, 2.0, False),
    ],
    ids=["even", "5300-4700", "small-drift", "unequal-weights"],
)
def test_sample_ratio_mismatch(
    counts: dict[str, int], weights: dict[str, float], statistic: float, mismatch: bool
) -> None:
    result = sample_ratio_mismatch(counts, weights)
    assert result.statistic == pytest.approx(statistic, abs=1e-2)
    assert result.mismatch is mismatch
    assert sum(result.expected.values()) == pytest.approx(sum(counts.values()))


def test_sample_ratio_mismatch_counts_an_arm_without_customers() -> None:
    result = sample_ratio_mismatch({"A": 100}, {"A": 1.0, "B": 1.0})
    assert result.observed == {"A": 100, "B": 0}
    assert result.expected == {"A": 50.0, "B": 50.0}
    assert result.statistic == pytest.approx(100.0)
    assert result.mismatch is True


def test_sample_ratio_mismatch_single_arm_has_nothing_to_test() -> None:
    result = sample_ratio_mismatch({"A": 10}, {"A": 1.0})
    assert (result.statistic, result.p_value, result.mismatch) == (0.0, 1.0, False)


@pytest.mark.parametrize(
    ("counts", "weights", "message"),
    [
        ({"A": 1, "C": 1}, {"A": 1.0}, "without a weight"),
        ({"A": 1}, {"A": 1.0, "B": 0.0}, "positive"),
        ({"A": 0}, {"A": 1.0, "B": 1.0}, "no customers"),
        ({}, {}, "positive"),
    ],
    ids=["unweighted-arm", "zero-weight", "no-customers", "no-arms"],
)
def test_sample_ratio_mismatch_rejects(
    counts: dict[str, int], weights: dict[str, float], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        sample_ratio_mismatch(counts, weights)


# --- minimum_detectable_effect ---------------------------------------------------------------


def test_minimum_detectable_effect_at_ten_thousand_per_arm() -> None:
    assert minimum_detectable_effect(0.5, 10_000, 10_000) == pytest.approx(0.0198, abs=1e-4)


def test_minimum_detectable_effect_shrinks_as_samples_grow() -> None:
    effects = [minimum_detectable_effect(0.3, n, n) for n in (100, 1_000, 10_000, 100_000)]
    assert effects == sorted(effects, reverse=True)
    assert 0.15 < effects[0] < 0.2 and 0.005 < effects[-1] < 0.01


@pytest.mark.parametrize(
    ("baseline", "n", "expected"),
    [(0.9, 1, 0.1), (1.0, 50, 0.001), (0.0, 10_000, 0.0016), (-0.5, 10_000, 0.0016)],
    ids=["capped-at-one", "baseline-one", "baseline-zero", "baseline-negative"],
)
def test_minimum_detectable_effect_edges(baseline: float, n: int, expected: float) -> None:
    assert minimum_detectable_effect(baseline, n, n) == pytest.approx(expected, abs=1e-4)


def test_minimum_detectable_effect_rejects_empty_group() -> None:
    with pytest.raises(ValueError, match="positive"):
        minimum_detectable_effect(0.5, 0, 100)


# --- summarize -------------------------------------------------------------------------------


def mixed_outcomes() -> list[ContactOutcome]:
    """Arm A (control) and arm B, hand-countable.

    A refund_status: 4 contacts, automated: #1 #2; #3 wrong fact (goal met), #4 handed off.
    A cancel_order: 2 contacts, automated: #5; #6 re-contacted within 24 h, and #7 is that
        re-contact (automated), abandoned: none.
    B refund_status: 3 contacts, all automated, 5 turns each.
    B cancel_order: 1 contact, wrong action and abandoned.
    B out_of_scope: none.
    """
    return [
        contact(1, "A", turns=2),
        contact(2, "A", turns=4),
        contact(3, "A", wrong_fact=True),
        contact(4, "A", goal_met=False, handed_off=True, turns=6),
        contact(5, "A", "cancel_order"),
        contact(6, "A", "cancel_order", recontacted_24h=True),
        contact(7, "A", "cancel_order", is_recontact=True),
        contact(8, "B", turns=5),
        contact(9, "B", turns=5),
        contact(10, "B", turns=5),
        contact(11, "B", "cancel_order", goal_met=False, wrong_action=True, abandoned=True),
    ]


def test_summarize_counts_per_arm() -> None:
    figures = summarize(experiment("A", "B"), mixed_outcomes(), balanced("A", "B"))
    a, b = (arm.overall for arm in figures.arms)
    assert (a.contacts, a.primary_contacts, a.recontacts, a.automated) == (7, 6, 1, 4)
    assert (a.handed_off, a.wrong_action, a.wrong_fact, a.recontacted, a.abandoned) == (
        1,
        0,
        1,
        1,
        0,
    )
    assert a.automation_rate == pytest.approx(4 / 7)
    assert a.automation_ci == wilson_interval(4, 7)
    assert a.mean_turns == pytest.approx(24 / 7)
    assert (a.handoff_rate, a.wrong_fact_rate, a.recontact_rate) == pytest.approx((1 / 7,) * 3)
    assert (b.contacts, b.automated, b.wrong_action, b.abandoned) == (4, 3, 1, 1)
    assert (b.wrong_action_rate, b.abandonment_rate, b.mean_turns) == (0.25, 0.25, 4.5)
    assert [arm.name for arm in figures.arms] == ["A", "B"]
    assert figures.empty_arms == ()
    assert figures.control == "A"


def test_summarize_groups_by_issue_type_in_order_skipping_empty() -> None:
    figures = summarize(experiment("A", "B"), mixed_outcomes(), balanced("A", "B"))
    by_issue = {
        arm.name: [(g.issue_type, g.contacts, g.automated) for g in arm.by_issue]
        for arm in figures.arms
    }
    assert by_issue == {
        "A": [("refund_status", 4, 2), ("cancel_order", 3, 2)],
        "B": [("refund_status", 3, 3), ("cancel_order", 1, 0)],
    }


def test_summarize_never_counts_a_wrong_fact_as_automated() -> None:
    outcomes = [contact(i, "A", wrong_fact=True) for i in range(5)] + [contact(9, "B")]
    figures = summarize(experiment("A", "B"), outcomes, balanced("A", "B"))
    assert figures.arms[0].overall.automated == 0
    assert figures.arms[0].overall.wrong_fact == 5


def test_summarize_compares_every_treatment_with_the_first_arm() -> None:
    outcomes = [*mixed_outcomes(), contact(20, "C", "out_of_scope"), contact(21, "C")]
    figures = summarize(experiment("A", "B", "C"), outcomes, balanced("A", "B", "C"))
    scopes = [(c.treatment, c.control, c.issue_type) for c in figures.comparisons]
    assert scopes == [
        ("B", "A", None),
        ("B", "A", "refund_status"),
        ("B", "A", "cancel_order"),
        ("C", "A", None),
        ("C", "A", "refund_status"),  # C's out_of_scope has no control group to face
    ]
    overall = figures.comparisons[0]
    assert overall.comparison == compare_proportions(3, 4, 4, 7)
    assert overall.mde == minimum_detectable_effect(4 / 7, 4, 7)


def test_summarize_lists_an_arm_without_contacts() -> None:
    figures = summarize(experiment("A", "B", "C"), mixed_outcomes(), balanced("A", "B", "C"))
    assert [arm.name for arm in figures.arms] == ["A", "B"]
    assert figures.empty_arms == ("C",)
    assert {c.treatment for c in figures.comparisons} == {"B"}


def test_summarize_without_control_contacts_has_no_comparisons() -> None:
    outcomes = [contact(1, "B"), contact(2, "C")]
    figures = summarize(experiment("A", "B", "C"), outcomes, balanced("A", "B", "C"))
    assert figures.empty_arms == ("A",)
    assert figures.comparisons == ()


def test_summarize_checks_sample_ratio() -> None:
    assignments = ArmAssignmentCounts({"A": 5300, "B": 4700}, {"A": 1.0, "B": 1.0})
    figures = summarize(experiment("A", "B"), mixed_outcomes(), assignments)
    assert figures.srm.mismatch is True
    assert figures.srm.observed == {"A": 5300, "B": 4700}


def test_summarize_rejects_no_contacts() -> None:
    with pytest.raises(ValueError, match="no contacts"):
        summarize(experiment("A", "B"), [], balanced("A", "B"))


def test_summarize_rejects_a_contact_of_an_unknown_arm() -> None:
    with pytest.raises(ValueError, match="'Z'"):
        summarize(experiment("A", "B"), [contact(1, "A"), contact(2, "Z")], balanced("A", "B"))


def test_to_dict_is_plain_json_with_the_experiment_spec() -> None:
    instrument = {"version": "1.0", "noise": {"typo_rate": 0.05}, "personas": ("calm", "terse")}
    figures = summarize(
        experiment("A", "B", instrument=instrument), mixed_outcomes(), balanced("A", "B")
    )
    payload = figures.to_dict()
    assert json.loads(json.dumps(payload, allow_nan=False)) == payload
    assert payload["experiment"] == {
        "id": 7,
        "name": "rules vs neural",
        "arms": [
            {"name": "A", "weight": 1.0, "agent": ""},
            {"name": "B", "weight": 1.0, "agent": ""},
        ],
        "seed": 42,
        "contacts": 100,
        "control": "A",
        "instrument": {
            "version": "1.0",
            "noise": {"typo_rate": 0.05},
            "personas": ["calm", "terse"],
        },
        "created_at": "2024-03-01T09:00:00",
        "finished_at": None,
    }
    assert payload["arms"][0]["overall"]["automation_rate"] == pytest.approx(4 / 7)
    assert payload["arms"][0]["by_issue"][1]["issue_type"] == "cancel_order"
    assert (
        payload["comparisons"][0]["comparison"]["p_value"]
        == figures.comparisons[0].comparison.p_value
    )
    assert payload["srm"]["observed"] == {"A": 10, "B": 10}


def _contacts(arm: str, automated: int, n: int, per_customer: int, first_id: int) -> list[Any]:
    """``n`` contacts, ``per_customer`` per customer, outcomes constant within a customer."""
    out = []
    for i in range(n):
        customer = first_id + i // per_customer
        ok = (i // per_customer) < automated // per_customer
        out.append(
            ContactOutcome(
                contact_key=f"{arm}{i}",
                customer_id=customer,
                arm=arm,
                issue_type="refund_status",
                started_at=datetime(2026, 11, 2),
                is_recontact=False,
                turns=3,
                handed_off=False,
                goal_met=ok,
                wrong_action=False,
                wrong_fact=False,
                abandoned=False,
                recontacted_24h=False,
            )
        )
    return out


def test_clustered_difference_widens_when_customers_repeat() -> None:
    from simulator.stats_clustered import clustered_difference

    independent = clustered_difference(
        _contacts("B", 70, 100, 1, 0), _contacts("A", 50, 100, 1, 1000)
    )
    clustered = clustered_difference(
        _contacts("B", 70, 100, 10, 0), _contacts("A", 50, 100, 10, 1000)
    )
    assert independent.difference == clustered.difference == pytest.approx(0.2)
    assert (independent.customers, clustered.customers) == (200, 20)
    assert independent.significant and independent.p_value < 0.01
    assert clustered.ci_high - clustered.ci_low > 2 * (independent.ci_high - independent.ci_low)
    assert clustered.p_value > independent.p_value


def test_clustered_difference_without_variation_is_not_significant() -> None:
    from simulator.stats_clustered import clustered_difference

    same = clustered_difference(_contacts("B", 0, 20, 2, 0), _contacts("A", 0, 20, 2, 100))
    assert (same.difference, same.p_value, same.significant) == (0.0, 1.0, False)
    with pytest.raises(ValueError, match="both groups"):
        clustered_difference([], _contacts("A", 0, 5, 1, 0))
