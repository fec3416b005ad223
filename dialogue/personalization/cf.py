"""Collaborative-filtering vectors: implicit-feedback ALS (``implicit``) on customers × items.

``implicit`` is used rather than a hand-written ALS: it is the maintained implementation of
Hu, Koren & Volinsky's weighted ALS (conjugate-gradient solver, native code), and it can fold a
customer the fit has not seen into the fitted item factors (``recalculate_user``) without a refit.
"""

from __future__ import annotations

import os
import threading
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from scipy.sparse import csr_matrix
from threadpoolctl import threadpool_limits

__all__ = ["ALSConfig", "CFVectors", "CustomerFoldIn", "fit_als", "fold_in_customer"]


@dataclass(frozen=True)
class ALSConfig:
    """ALS hyper-parameters (confidence = 1 + alpha · weight, as in Hu et al.)."""

    factors: int = 32
    regularization: float = 0.05
    alpha: float = 10.0
    iterations: int = 15
    seed: int = 0

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class CFVectors:
    """Fitted factors: one row per customer and one per item, in the given id / SKU order."""

    customers: list[int]
    skus: list[str]
    customer_factors: np.ndarray  # (n_customers, factors) float32
    item_factors: np.ndarray  # (n_items, factors) float32


def _import_als() -> Any:
    # Imported before threadpool_limits is entered: the limit applies to the BLAS libraries
    # loaded at that moment, and implicit's import loads SciPy's.
    from implicit.cpu.als import AlternatingLeastSquares

    return AlternatingLeastSquares


def _model(cfg: ALSConfig) -> Any:
    AlternatingLeastSquares = _import_als()  # noqa: N806 - a class
    # The native solver's threads: one per core, at most 2 here (the CI machine has 2).
    threads = max(1, min(2, os.cpu_count() or 1))
    return AlternatingLeastSquares(
        factors=cfg.factors,
        regularization=cfg.regularization,
        alpha=cfg.alpha,
        iterations=cfg.iterations,
        random_state=cfg.seed,
        num_threads=threads,
    )


def fit_als(
    confidence: Mapping[tuple[int, str], float],
    customers: Sequence[int],
    skus: Sequence[str],
    cfg: ALSConfig | None = None,
) -> CFVectors:
    """Fit ALS on the (customer, sku) → weight confidences; unknown ids are ignored.

    A customer or item with no interaction keeps a zero vector (the fusion then falls back to
    content alone for it).

    Raises:
        ValueError: A weight is negative or not finite, or there is nothing to fit.
    """
    cfg = cfg or ALSConfig()
    row = {c: i for i, c in enumerate(customers)}
    col = {s: j for j, s in enumerate(skus)}
    rows, cols, data = [], [], []
    for (customer, sku), weight in confidence.items():
        if not np.isfinite(weight) or weight < 0:
            raise ValueError(f"confidence for ({customer}, {sku!r}) is {weight!r}")
        if customer in row and sku in col and weight > 0:
            rows.append(row[customer])
            cols.append(col[sku])
            data.append(weight)
    if not data:
        raise ValueError("no purchases to fit: the store has no order lines")
    matrix = csr_matrix(
        (np.asarray(data, dtype=np.float32), (rows, cols)), shape=(len(customers), len(skus))
    )
    # implicit runs its own threads; BLAS threads under them only contend (implicit's advice).
    _import_als()
    with threadpool_limits(1, "blas"):
        model = _model(cfg)
        model.fit(matrix, show_progress=False)
    users = np.asarray(model.user_factors, dtype=np.float32)
    items = np.asarray(model.item_factors, dtype=np.float32)
    seen_users = np.diff(matrix.indptr) > 0
    seen_items = np.bincount(matrix.indices, minlength=len(skus)) > 0
    users[~seen_users] = 0.0
    items[~seen_items] = 0.0
    return CFVectors(list(customers), list(skus), users, items)


class CustomerFoldIn:
    """Folds customers the fit has not seen into fixed item factors (ALS's half-step for one
    user, ``implicit``'s ``recalculate_user``): a customer who bought after the fit gets a vector
    without a refit. One model is kept, so the item Gram matrix is computed once.
    """

    def __init__(self, item_factors: np.ndarray, cfg: ALSConfig) -> None:
        with warnings.catch_warnings():
            # A one-row solve: BLAS threading does not matter here (it does for a fit).
            warnings.filterwarnings(
                "ignore", message=".*configured to use", category=RuntimeWarning
            )
            self._model = _model(cfg)
        self._model.num_threads = 1
        self._model.item_factors = np.ascontiguousarray(item_factors, dtype=np.float32)
        self._lock = threading.Lock()

    def __call__(self, weights: Mapping[int, float]) -> np.ndarray:
        """(factors,) float32 from item row → confidence weight; zeros when there are none."""
        items = self._model.item_factors
        cols = [j for j, w in weights.items() if w > 0 and np.isfinite(w) and 0 <= j < len(items)]
        if not cols:
            return np.zeros(items.shape[1], dtype=np.float32)
        data = np.asarray([weights[j] for j in cols], dtype=np.float32)
        row = csr_matrix((data, ([0] * len(cols), cols)), shape=(1, items.shape[0]))
        with self._lock:
            return np.asarray(self._model.recalculate_user(0, row), dtype=np.float32)


def fold_in_customer(
    item_factors: np.ndarray, weights: Mapping[int, float], cfg: ALSConfig
) -> np.ndarray:
    """One customer's factors from their purchases alone (see :class:`CustomerFoldIn`).

    Args:
        item_factors: The fitted item factors.
        weights: item row → confidence weight for this customer.
        cfg: The configuration the factors were fitted with.
    """
    return CustomerFoldIn(item_factors, cfg)(weights)
