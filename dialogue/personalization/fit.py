"""``csbot personalize fit``: read the store, fit ALS, embed the catalog, write the artifact."""

from __future__ import annotations

import logging
import time

import numpy as np
from sqlalchemy.orm import Session

from dialogue.personalization.artifact import PersonalizationArtifact
from dialogue.personalization.cf import ALSConfig, fit_als
from dialogue.personalization.content import SentenceEncoder
from dialogue.personalization.history import ConfidenceWeights, item_text, load_history

__all__ = ["fit_personalization"]

log = logging.getLogger(__name__)


def fit_personalization(
    session: Session,
    *,
    als: ALSConfig | None = None,
    weights: ConfidenceWeights | None = None,
    encoder: SentenceEncoder | None = None,
) -> PersonalizationArtifact:
    """Fit the CF and content vectors of the world in ``session``'s store (reads only).

    Raises:
        LookupError: The store holds no world.
        ValueError: The store has no order lines to fit.
    """
    als = als or ALSConfig()
    history = load_history(session, weights)
    skus = [item.sku for item in history.items]
    started = time.perf_counter()
    cf = fit_als(history.confidence, history.customers, skus, als)
    fit_seconds = time.perf_counter() - started
    log.info(
        "ALS fit: %d customers x %d items in %.2f s", len(cf.customers), len(skus), fit_seconds
    )
    texts = [item_text(item) for item in history.items]
    content = (encoder or SentenceEncoder())(texts)
    return PersonalizationArtifact(
        fingerprint=history.fingerprint,
        customers=np.asarray(history.customers, dtype=np.int64),
        customer_factors=cf.customer_factors,
        skus=np.asarray(skus, dtype=np.str_),
        item_factors=cf.item_factors,
        item_content=content,
        item_has_text=np.asarray([bool(t) for t in texts]),
        als=als,
        weights=weights or ConfidenceWeights(),
        orders=history.orders,
        fit_seconds=fit_seconds,
    )
