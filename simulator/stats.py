"""Figures of an automation-rate experiment, computed from its outcome records (no I/O).

Every interval and test comes from statsmodels or scipy; this module only picks the methods,
handles the degenerate cases they answer with ``nan``, and groups the contacts.

Methods:
    * automation rate: Wilson score interval;
    * difference of rates (treatment - control): Newcombe hybrid score interval, and the
      two-sided score test of equal proportions (``test_proportions_2indep(method="score")``,
      the Miettinen-Nurminen statistic). The score test was picked over Wald because Wald's
      variance vanishes when one rate is 0 or 1 (5/5 vs 0/5 gives z = inf, p = 0). The verdict
      ``significant`` follows the test; at the margin the interval may still touch 0;
    * minimum detectable effect: normal power analysis of Cohen's h;
    * sample-ratio mismatch: chi-square goodness of fit of customers per arm.

Caveat: the unit of randomization is the customer, but rates are per contact, and a customer's
re-contact is not independent of their first contact. The tests treat contacts as independent,
so intervals are slightly too narrow when re-contacts are frequent.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, fields, is_dataclass
from datetime import date, datetime
from typing import Any

import numpy as np
from scipy.stats import chisquare
from statsmodels.stats.power import NormalIndPower
from statsmodels.stats.proportion import (
    confint_proportions_2indep,
    proportion_confint,
    test_proportions_2indep,
)

from simulator.outcomes import (
    ISSUE_TYPES,
    ArmAssignmentCounts,
    ContactOutcome,
    ExperimentInfo,
    IssueType,
)
from simulator.stats_clustered import ClusteredDifference, clustered_difference
from simulator.threshold import ThresholdCurve, threshold_curves


@dataclass(frozen=True)
class Comparison:
    """Treatment rate against control rate."""

    treatment_rate: float
    control_rate: float
    difference: float  # treatment - control
    ci_low: float  # Newcombe interval of the difference, level 1 - alpha
    ci_high: float
    p_value: float  # two-sided score test of equal proportions
    significant: bool  # p_value < alpha
    alpha: float


@dataclass(frozen=True)
class SrmResult:
    """Chi-square goodness of fit of customers per arm against the intended weights."""

    observed: Mapping[str, int]
    expected: Mapping[str, float]
    statistic: float
    p_value: float
    threshold: float
    # p_value < threshold: the assignment is broken and no other figure is to be trusted.
    mismatch: bool


@dataclass(frozen=True)
class GroupFigures:
    """Every figure of one group of contacts: one arm, all issue types or one of them."""

    arm: str
    issue_type: IssueType | None  # None: all issue types
    contacts: int
    primary_contacts: int
    recontacts: int
    automated: int
    automation_rate: float
    automation_ci: tuple[float, float]  # Wilson, level 1 - alpha
    handed_off: int
    wrong_action: int
    wrong_fact: int
    recontacted: int  # contacts followed by a re-contact within 24 h
    abandoned: int
    handoff_rate: float
    wrong_action_rate: float
    wrong_fact_rate: float
    recontact_rate: float
    abandonment_rate: float
    mean_turns: float


@dataclass(frozen=True)
class ArmFigures:
    """One arm's figures, overall and per issue type (ISSUE_TYPES order, empty types skipped)."""

    name: str
    weight: float
    overall: GroupFigures
    by_issue: tuple[GroupFigures, ...]


@dataclass(frozen=True)
class ArmComparison:
    """A treatment arm against the control arm, overall or within one issue type."""

    treatment: str
    control: str
    issue_type: IssueType | None  # None: all issue types
    comparison: Comparison
    mde: float  # absolute difference detectable at these sizes (baseline: the control rate)
    # The same difference with standard errors clustered by customer (the randomization unit).
    clustered: ClusteredDifference | None = None


@dataclass(frozen=True)
class ExperimentFigures:
    """Everything a report shows about one experiment."""

    info: ExperimentInfo
    alpha: float
    arms: tuple[ArmFigures, ...]  # arms with contacts, in info.arms order
    empty_arms: tuple[str, ...]  # arms without a single contact
    comparisons: tuple[ArmComparison, ...]  # empty when the control arm has no contacts
    srm: SrmResult
    # Automation versus error over the auto-send threshold, for arms with a list head.
    threshold_curves: tuple[ThresholdCurve, ...] = ()

    @property
    def control(self) -> str:
        """The control arm's name: the first arm of the experiment."""
        return self.info.arms[0].name

    def to_dict(self) -> dict[str, Any]:
        """Every figure, field by field, in plain JSON types; the spec under "experiment".

        Returns:
            A dict of dicts, lists, str, int, float, bool and None; datetimes as ISO strings.
        """
        result: dict[str, Any] = to_jsonable(self)
        result["experiment"] = result.pop("info") | {"control": self.control}
        return result


def wilson_interval(successes: int, n: int, alpha: float = 0.05) -> tuple[float, float]:
    """Wilson score interval of a proportion.

    Args:
        successes: Number of successes, 0 <= successes <= n.
        n: Number of trials; must be positive (callers skip empty groups).
        alpha: One minus the confidence level.

    Returns:
        (low, high), both within [0, 1].

    Raises:
        ValueError: n is not positive or successes is out of range.
    """
    _check_counts(successes, n, "wilson_interval")
    low, high = proportion_confint(successes, n, alpha=alpha, method="wilson")
    return float(low), float(high)


def compare_proportions(
    k_treat: int, n_treat: int, k_ctrl: int, n_ctrl: int, alpha: float = 0.05
) -> Comparison:
    """Difference of two independent proportions: Newcombe interval and score test.

    Degenerate samples (both rates 0 or both 1) make the score statistic 0/0; the p-value is
    then 1.0 (no evidence of a difference). Should the library return a ``nan`` bound, the
    widest possible interval (-1, 1) is used instead.

    Args:
        k_treat: Successes in the treatment group.
        n_treat: Size of the treatment group, positive.
        k_ctrl: Successes in the control group.
        n_ctrl: Size of the control group, positive.
        alpha: Significance level and one minus the interval's confidence level.

    Returns:
        The comparison; ``significant`` is ``p_value < alpha``.

    Raises:
        ValueError: A group is empty or a count is out of range.
    """
    _check_counts(k_treat, n_treat, "compare_proportions (treatment)")
    _check_counts(k_ctrl, n_ctrl, "compare_proportions (control)")
    with np.errstate(divide="ignore", invalid="ignore"):  # 0/0 in degenerate samples
        low, high = confint_proportions_2indep(
            k_treat, n_treat, k_ctrl, n_ctrl, method="newcomb", compare="diff", alpha=alpha
        )
        test = test_proportions_2indep(
            k_treat, n_treat, k_ctrl, n_ctrl, method="score", compare="diff"
        )
    p_value = float(test.pvalue)
    if math.isnan(p_value):
        p_value = 1.0
    ci_low = -1.0 if math.isnan(low) else float(low)
    ci_high = 1.0 if math.isnan(high) else float(high)
    treatment_rate, control_rate = k_treat / n_treat, k_ctrl / n_ctrl
    return Comparison(
        treatment_rate=treatment_rate,
        control_rate=control_rate,
        difference=treatment_rate - control_rate,
        ci_low=ci_low,
        ci_high=ci_high,
        p_value=p_value,
        significant=p_value < alpha,
        alpha=alpha,
    )


def sample_ratio_mismatch(
    counts: Mapping[str, int], weights: Mapping[str, float], threshold: float = 0.001
) -> SrmResult:
    """Chi-square goodness of fit of the customers per arm against the intended weights.

    Every arm in ``weights`` is tested, an arm missing from ``counts`` as 0 customers. With a
    single arm there is nothing to test: statistic 0, p-value 1.

    Args:
        counts: Customers assigned per arm.
        weights: Intended share per arm (any positive scale; normalized here).
        threshold: p-values below it are a mismatch (0.001 is the usual, strict, SRM level).

    Returns:
        Observed and expected counts, the chi-square statistic, p-value and verdict.

    Raises:
        ValueError: No arms, no customers, a non-positive weight, or an arm counted but not
            weighted.
    """
    unweighted = sorted(set(counts) - set(weights))
    if unweighted:
        raise ValueError(f"sample_ratio_mismatch: arms without a weight: {unweighted}")
    if not weights or not all(w > 0 for w in weights.values()):  # nan fails too
        raise ValueError(f"sample_ratio_mismatch: weights must be positive, got {dict(weights)}")
    observed = {arm: int(counts.get(arm, 0)) for arm in weights}
    total = sum(observed.values())
    if total <= 0:
        raise ValueError("sample_ratio_mismatch: no customers assigned")
    weight_sum = sum(weights.values())
    expected = {arm: total * weight / weight_sum for arm, weight in weights.items()}
    if len(observed) == 1:
        statistic, p_value = 0.0, 1.0
    else:
        result = chisquare(list(observed.values()), list(expected.values()))
        statistic, p_value = float(result.statistic), float(result.pvalue)
    return SrmResult(
        observed=observed,
        expected=expected,
        statistic=statistic,
        p_value=p_value,
        threshold=threshold,
        mismatch=p_value < threshold,
    )


def minimum_detectable_effect(
    baseline: float, n_treat: int, n_ctrl: int, alpha: float = 0.05, power: float = 0.8
) -> float:
    """Smallest absolute rise over ``baseline`` a two-sided test detects with ``power``.

    Solves the normal power equation for Cohen's h, then converts h back to a proportion above
    the baseline: p2 = sin(asin(sqrt(p1)) + h/2)**2.

    Args:
        baseline: Control rate; clamped into [0.001, 0.999].
        n_treat: Treatment group size, positive.
        n_ctrl: Control group size, positive.
        alpha: Two-sided significance level.
        power: Probability of detecting an effect of that size.

    Returns:
        p2 - p1, at most 1 - p1 (when not even a rise to 1 is reliably detected).

    Raises:
        ValueError: A group is empty.
    """
    if n_treat <= 0 or n_ctrl <= 0:
        raise ValueError(
            f"minimum_detectable_effect: group sizes must be positive, got {n_treat}, {n_ctrl}"
        )
    p1 = min(max(baseline, 0.001), 0.999)
    h = float(
        NormalIndPower().solve_power(
            effect_size=None, nobs1=n_treat, ratio=n_ctrl / n_treat, alpha=alpha, power=power
        )
    )
    angle = math.asin(math.sqrt(p1)) + h / 2
    if math.isnan(h) or angle >= math.pi / 2:  # past the top of the arcsine scale: p2 = 1
        return 1.0 - p1
    return min(math.sin(angle) ** 2 - p1, 1.0 - p1)


def summarize(
    info: ExperimentInfo,
    outcomes: Sequence[ContactOutcome],
    assignments: ArmAssignmentCounts,
    alpha: float = 0.05,
) -> ExperimentFigures:
    """Group the contacts by arm and issue type and compute every figure of the report.

    The first arm of ``info.arms`` is the control; each other arm is compared with it overall
    and within each issue type both arms have contacts in.

    Args:
        info: The experiment's spec.
        outcomes: One record per contact, re-contacts included.
        assignments: Customers per arm and intended weights, for the sample-ratio check.
        alpha: Significance level and one minus the confidence level of every interval.

    Returns:
        The experiment's figures.

    Raises:
        ValueError: No contacts, or a contact of an arm or issue type the experiment lacks.
    """
    if not outcomes:
        raise ValueError(f"no contacts in experiment {info.id}: nothing to summarize")
    arm_names = [arm.name for arm in info.arms]
    for outcome in outcomes:
        if outcome.arm not in arm_names:
            raise ValueError(
                f"contact {outcome.contact_key} is in arm {outcome.arm!r}, "
                f"which is not an arm of experiment {info.id} ({arm_names})"
            )
        if outcome.issue_type not in ISSUE_TYPES:
            raise ValueError(
                f"contact {outcome.contact_key} has unknown issue type {outcome.issue_type!r}"
            )
    arms: list[ArmFigures] = []
    empty_arms: list[str] = []
    for spec in info.arms:
        contacts = [o for o in outcomes if o.arm == spec.name]
        if not contacts:
            empty_arms.append(spec.name)
            continue
        by_issue = tuple(
            _group_figures(spec.name, issue, group, alpha)
            for issue in ISSUE_TYPES
            if (group := [o for o in contacts if o.issue_type == issue])
        )
        overall = _group_figures(spec.name, None, contacts, alpha)
        arms.append(ArmFigures(spec.name, float(spec.weight), overall, by_issue))
    return ExperimentFigures(
        info=info,
        alpha=alpha,
        arms=tuple(arms),
        empty_arms=tuple(empty_arms),
        comparisons=_comparisons(arms, control=arm_names[0], alpha=alpha, outcomes=outcomes),
        srm=sample_ratio_mismatch(assignments.customers, assignments.weights),
        threshold_curves=threshold_curves(outcomes),
    )


def _comparisons(
    arms: Sequence[ArmFigures],
    *,
    control: str,
    alpha: float,
    outcomes: Sequence[ContactOutcome] = (),
) -> tuple[ArmComparison, ...]:
    if not arms or arms[0].name != control:  # the control arm has no contacts
        return ()
    control_groups = {arms[0].overall.issue_type: arms[0].overall} | {
        group.issue_type: group for group in arms[0].by_issue
    }
    result: list[ArmComparison] = []
    for arm in arms[1:]:
        for treat in (arm.overall, *arm.by_issue):
            ctrl = control_groups.get(treat.issue_type)
            if ctrl is None:
                continue
            comparison = compare_proportions(
                treat.automated, treat.contacts, ctrl.automated, ctrl.contacts, alpha=alpha
            )
            mde = minimum_detectable_effect(
                ctrl.automation_rate, treat.contacts, ctrl.contacts, alpha=alpha
            )
            clustered = None
            if outcomes:
                treated, controls = (
                    [
                        o
                        for o in outcomes
                        if o.arm == name
                        and (treat.issue_type is None or o.issue_type == treat.issue_type)
                    ]
                    for name in (arm.name, control)
                )
                clustered = clustered_difference(treated, controls, alpha=alpha)
            result.append(
                ArmComparison(arm.name, control, treat.issue_type, comparison, mde, clustered)
            )
    return tuple(result)


def _group_figures(
    arm: str, issue_type: IssueType | None, contacts: Sequence[ContactOutcome], alpha: float
) -> GroupFigures:
    n = len(contacts)
    automated = sum(o.automated for o in contacts)
    handed_off = sum(o.handed_off for o in contacts)
    wrong_action = sum(o.wrong_action for o in contacts)
    wrong_fact = sum(o.wrong_fact for o in contacts)
    recontacted = sum(o.recontacted_24h for o in contacts)
    abandoned = sum(o.abandoned for o in contacts)
    recontacts = sum(o.is_recontact for o in contacts)
    return GroupFigures(
        arm=arm,
        issue_type=issue_type,
        contacts=n,
        primary_contacts=n - recontacts,
        recontacts=recontacts,
        automated=automated,
        automation_rate=automated / n,
        automation_ci=wilson_interval(automated, n, alpha),
        handed_off=handed_off,
        wrong_action=wrong_action,
        wrong_fact=wrong_fact,
        recontacted=recontacted,
        abandoned=abandoned,
        handoff_rate=handed_off / n,
        wrong_action_rate=wrong_action / n,
        wrong_fact_rate=wrong_fact / n,
        recontact_rate=recontacted / n,
        abandonment_rate=abandoned / n,
        mean_turns=sum(o.turns for o in contacts) / n,
    )


def _check_counts(successes: int, n: int, where: str) -> None:
    if n <= 0:
        raise ValueError(f"{where}: the group is empty (n = {n}); skip empty groups")
    if not 0 <= successes <= n:
        raise ValueError(f"{where}: successes = {successes} is outside [0, {n}]")


def to_jsonable(value: Any) -> Any:
    """Plain JSON types: dataclasses and mappings to dicts, sequences to lists, dates to ISO text.

    Args:
        value: A figure or an instrument parameter.

    Returns:
        The value built of dict, list, str, int, float, bool and None only; sets come out sorted,
        and a value of any other type as its ``str``.
    """
    if value is None or isinstance(value, str | bool | int | float):
        return value
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in fields(value)}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [to_jsonable(item) for item in items]
    return str(value)  # anything else an instrument parameter might be: its text, not a crash
