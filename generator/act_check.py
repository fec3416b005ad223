"""Does a draft say what its act token meant? The generator's own act reader.

Grounding (``generator.grounding``) checks the values a draft states and a list of status
phrasings. It cannot tell which act a free sentence performs: a draft decoded behind the act
token of "your refund is in progress" can still read as "your refund has been issued". The
reader here is a TF-IDF (word 1–2-grams) and multinomial logistic regression (scikit-learn),
fitted on the training split's rep replies, delexicalized exactly as the generator's targets
are, with their acts as labels. A draft whose text the reader does not read as its own act is
never auto-sent (``Drafter.drafts`` adds the problem to its grounding).

It is fitted with the generator (``train_generator``) and saved in the checkpoint's metadata as
plain lists, so loading stays ``weights_only``. Inference unpacks the fitted vectorizer and
model (the same arithmetic as ``predict_proba``; a test compares them).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from generator.data import delexicalize
from ranker.data import RankTurn

__all__ = ["ActReader", "ActReading", "accuracy", "fit_act_reader"]

_TOKEN = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern
FORMAT = "csbot-act-reader/1"


@dataclass(frozen=True)
class ActReading:
    act: str
    probability: float


class ActReader:
    """Reads the act of a delexicalized reply ("Your refund of [refund_amount] is on its way")."""

    def __init__(
        self,
        terms: Sequence[str],
        idf: Sequence[float],
        coef: Sequence[Sequence[float]],
        intercept: Sequence[float],
        labels: Sequence[str],
    ) -> None:
        self.labels = tuple(labels)
        self._columns = {t: i for i, t in enumerate(terms)}
        self._idf = np.asarray(idf, dtype=np.float64)
        self._coef = np.asarray(coef, dtype=np.float64).reshape(len(self.labels), len(terms))
        self._intercept = np.asarray(intercept, dtype=np.float64)
        if self._idf.shape != (len(terms),) or self._intercept.shape != (len(self.labels),):
            raise ValueError("act reader: inconsistent shapes")

    def probabilities(self, text: str) -> np.ndarray:
        """Per label, in :attr:`labels` order."""
        words = _TOKEN.findall(text.lower())
        grams = words + [f"{a} {b}" for a, b in zip(words, words[1:], strict=False)]
        counts: dict[int, int] = {}
        for g in grams:
            column = self._columns.get(g)
            if column is not None:
                counts[column] = counts.get(column, 0) + 1
        scores = self._intercept.copy()
        if counts:
            cols = np.fromiter(counts, dtype=np.int64)
            # sublinear tf, idf, then the l2 norm, as TfidfVectorizer(sublinear_tf=True) does
            values = np.array([1.0 + math.log(counts[c]) for c in counts]) * self._idf[cols]
            values /= np.linalg.norm(values)
            scores = scores + values @ self._coef[:, cols].T
        scores -= scores.max()
        exp = np.exp(scores)
        return np.asarray(exp / exp.sum())

    def read(self, text: str) -> ActReading:
        probs = self.probabilities(text)
        best = int(probs.argmax())
        return ActReading(self.labels[best], float(probs[best]))

    def to_json(self) -> dict[str, Any]:
        terms = sorted(self._columns, key=self._columns.__getitem__)
        return {
            "format": FORMAT,
            "terms": terms,
            "idf": self._idf.tolist(),
            "coef": self._coef.ravel().tolist(),
            "intercept": self._intercept.tolist(),
            "labels": list(self.labels),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ActReader:
        if data.get("format") != FORMAT:
            raise ValueError(f"not a {FORMAT} act reader")
        return cls(data["terms"], data["idf"], data["coef"], data["intercept"], data["labels"])


def _examples(turns: Sequence[RankTurn]) -> tuple[list[str], list[str]]:
    texts, acts = [], []
    for t in turns:
        if t.gold_act and t.gold_reply:
            texts.append(delexicalize(t.gold_reply, t.slots))
            acts.append(t.gold_act)
    return texts, acts


def fit_act_reader(turns: Sequence[RankTurn], *, seed: int = 0) -> ActReader:
    """Fit on the turns' delexicalized gold replies (at least two acts needed)."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    texts, acts = _examples(turns)
    if len(set(acts)) < 2:
        raise ValueError("the act reader needs replies of at least two acts")
    vectorizer = TfidfVectorizer(
        ngram_range=(1, 2), sublinear_tf=True, lowercase=True, token_pattern=_TOKEN.pattern
    )
    features = vectorizer.fit_transform(texts)
    clf = LogisticRegression(C=8.0, max_iter=2000, random_state=seed)
    clf.fit(features, acts)
    terms = sorted(vectorizer.vocabulary_, key=vectorizer.vocabulary_.__getitem__)
    coef = clf.coef_
    intercept = clf.intercept_
    if coef.shape[0] == 1:  # two classes: scikit-learn keeps one row (the second class's)
        coef = np.vstack([-coef, coef]) / 2
        intercept = np.array([-intercept[0], intercept[0]]) / 2
    return ActReader(terms, vectorizer.idf_, coef, intercept, [str(c) for c in clf.classes_])


def accuracy(reader: ActReader, turns: Sequence[RankTurn]) -> float:
    """Share of the turns' delexicalized gold replies read as their own act."""
    texts, acts = _examples(turns)
    if not texts:
        return math.nan
    return sum(reader.read(t).act == a for t, a in zip(texts, acts, strict=True)) / len(texts)
