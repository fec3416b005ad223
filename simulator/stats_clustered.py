"""The difference in automation rate with standard errors clustered by customer.

Customers are randomized but contacts are counted: one customer's contacts share a persona and
their re-contacts, so they are not independent, and the contact-level Newcombe interval and score
test can be too narrow. This is the check that respects the randomization unit: a linear
probability model ``automated ~ treatment`` with a cluster-robust (CR1) covariance by customer
(statsmodels), whose treatment coefficient is the difference in rates.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import statsmodels.api as sm

from simulator.outcomes import ContactOutcome


@dataclass(frozen=True)
class ClusteredDifference:
    """Treatment minus control, with a customer-clustered interval and p-value."""

    difference: float
    ci_low: float
    ci_high: float
    p_value: float
    significant: bool
    customers: int  # clusters


def clustered_difference(
    treatment: Sequence[ContactOutcome], control: Sequence[ContactOutcome], alpha: float = 0.05
) -> ClusteredDifference:
    """Difference in automation rate, standard error clustered by customer.

    Raises:
        ValueError: either group is empty.
    """
    if not treatment or not control:
        raise ValueError("both groups need contacts")
    rows = [*treatment, *control]
    y = np.array([float(o.automated) for o in rows])  # (n,)
    x = sm.add_constant(np.array([1.0] * len(treatment) + [0.0] * len(control)))  # (n, 2)
    groups = np.unique([o.customer_id for o in rows], return_inverse=True)[1]  # (n,)
    difference = float(y[: len(treatment)].mean() - y[len(treatment) :].mean())
    clusters = int(groups.max()) + 1
    if np.all(y == y[0]) or clusters < 2:
        # No variation (all automated or none): the model has nothing to estimate.
        return ClusteredDifference(difference, difference, difference, 1.0, False, clusters)
    fit = sm.OLS(y, x).fit(cov_type="cluster", cov_kwds={"groups": groups})
    low, high = (float(v) for v in fit.conf_int(alpha=alpha)[1])
    p_value = float(fit.pvalues[1])
    if not np.isfinite(p_value):
        p_value = 1.0
    return ClusteredDifference(difference, low, high, p_value, p_value < alpha, clusters)
