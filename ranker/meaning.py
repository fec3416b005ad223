"""What the customer means, read from the message's MiniLM embedding and learned from transcripts.

The deployed tracker's TF-IDF intent classifier misreads messages an expert rep understands: an
opening that names the issue and the order reads as ``inform`` ("can you help me canceling purchase
#W7140544?"), a refund question as out of scope ("I don't see a reufnd in my account"), a
confirmation as nothing or as a goodbye ("go on then", "uh huh", "That's right, thank you.").
:class:`MeaningReader` reads three situations from the frozen encoder's sentence embedding (the
same cached token states the ranker reads, mean-pooled), each with a multinomial logistic
regression (scikit-learn) fitted on the corpus's train split:

- ``opening`` (no issue tracked yet): the issue the message raises, ``cancel_order``,
  ``refund_status`` or ``out_of_scope``;
- ``confirmation`` (a cancellation awaits the customer's yes): ``affirm``, ``deny`` or ``other``;
- ``switch`` (an issue is tracked, no confirmation pending): the issue the message raises, if it
  raises one (``cancel_order``, ``refund_status``), else ``other`` ("ok skip the refund thing,
  cancel my order" switches flows; the tracker's NLU often reads it too weakly to switch).

The labels are the corpus's intent annotation (``meaning``: what the expert rep understood each
customer message to mean).

Each label has its own acceptance threshold, chosen on the validation split: the lowest
probability at which the reading's precision there is at least :data:`PRECISION` (for ``affirm``,
with no false reading at all, and never below :data:`AFFIRM_FLOOR`). A reading under its threshold
is no reading. The reader only ever names a meaning: the tracker still authenticates, identifies
the order, checks its facts, and a cancellation still needs the confirmation it asked for
(``dialogue.pipeline``).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from ranker.data import CUSTOMER, RankTurn
from ranker.encoder import TextEncoder

__all__ = [
    "AFFIRM_FLOOR",
    "LABELS",
    "PRECISION",
    "TOLERANCE",
    "MeaningReader",
    "Reading",
    "at_least",
    "fit_meaning",
    "meaning_example",
    "measure",
]

# The labels of each situation (the first two of "opening" are the issues a contact is about).
LABELS: Mapping[str, tuple[str, ...]] = {
    "opening": ("cancel_order", "refund_status", "out_of_scope"),
    "confirmation": ("affirm", "deny", "other"),
    "switch": ("cancel_order", "refund_status", "other"),
}
PRECISION = 0.99  # a label's reading is accepted where its validation precision is at least this
AFFIRM_FLOOR = 0.9  # a confirmation is never read below this probability
_NEVER = 2.0  # the threshold of a label no probability qualifies for
# A threshold is the probability of a validation reading, and the same text read again gives that
# probability only up to float noise (its encoding alone or in a padded batch, on torch or ONNX
# Runtime: about 1e-7 apart). A reading within this of its threshold is at it: accepted, and
# thresholds are chosen so that readings this close are accepted or refused together.
TOLERANCE = 1e-6


@dataclass(frozen=True)
class Reading:
    """The reader's best label for a message, its probability, and whether it is accepted."""

    label: str
    prob: float
    accepted: bool


def meaning_example(turn: RankTurn) -> tuple[str, str, str] | None:
    """(situation, text, label) of a corpus turn, or None if the turn teaches no reading.

    The turn's tracker view says what the state was before the turn; its ``meaning`` is what the
    rep understood the customer's message to mean (the corpus's intent annotation).
    """
    tracker = turn.tracker or {}
    if not turn.context or turn.context[-1][0] != CUSTOMER:
        return None
    text = turn.context[-1][1]
    if tracker.get("awaiting") == "cancel_confirmation":
        label = turn.meaning if turn.meaning in ("affirm", "deny") else "other"
        return "confirmation", text, label
    if tracker.get("intent") is None:
        return ("opening", text, turn.meaning) if turn.meaning in LABELS["opening"] else None
    label = turn.meaning if turn.meaning in ("cancel_order", "refund_status") else "other"
    return "switch", text, label


class MeaningReader:
    """Per-situation logistic regressions over the encoder's sentence embedding.

    Args:
        heads: situation -> {"labels", "coef" (labels × 384), "intercept", "thresholds"}.
        encoder_layers: The encoder depth the heads were fitted on (they read its embedding).
    """

    def __init__(self, heads: Mapping[str, Mapping[str, Any]], *, encoder_layers: int) -> None:
        self.encoder_layers = encoder_layers
        self._heads: dict[str, tuple[tuple[str, ...], torch.Tensor, torch.Tensor, list[float]]] = {}
        for situation, head in heads.items():
            labels = tuple(str(x) for x in head["labels"])
            coef = torch.tensor(head["coef"], dtype=torch.float32)
            intercept = torch.tensor(head["intercept"], dtype=torch.float32)
            thresholds = [float(t) for t in head["thresholds"]]
            if (
                situation not in LABELS
                or labels != LABELS[situation]
                or any(t != t for t in thresholds)  # NaN
                or coef.shape != (len(labels), TextEncoder.dim)
                or intercept.shape != (len(labels),)
                or len(thresholds) != len(labels)
                or not torch.isfinite(coef).all()
                or not torch.isfinite(intercept).all()
            ):
                raise ValueError(f"malformed meaning head {situation!r}")
            self._heads[situation] = (labels, coef, intercept, thresholds)

    @property
    def situations(self) -> frozenset[str]:
        return frozenset(self._heads)

    def probabilities(self, situation: str, embeddings: torch.Tensor) -> torch.Tensor:
        """P(label) for each row of ``embeddings`` ((N, 384) pooled, normalised): (N, labels)."""
        _, coef, intercept, _ = self._heads[situation]
        return torch.softmax(embeddings @ coef.T + intercept, dim=-1)

    def read(self, situation: str, text: str, encoder: TextEncoder) -> Reading | None:
        """The reading of one message in ``situation`` (None if the reader has no such head)."""
        if situation not in self._heads:
            return None
        labels, _, _, thresholds = self._heads[situation]
        probs = self.probabilities(situation, encoder.pooled([text]))[0]
        best = int(torch.argmax(probs))
        prob = float(probs[best])
        return Reading(labels[best], prob, at_least(prob, thresholds[best]))

    def thresholds(self, situation: str) -> dict[str, float]:
        labels, _, _, thresholds = self._heads[situation]
        return dict(zip(labels, thresholds, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "encoder_layers": self.encoder_layers,
            "heads": {
                s: {
                    "labels": list(labels),
                    "coef": coef.tolist(),
                    "intercept": intercept.tolist(),
                    "thresholds": list(thresholds),
                }
                for s, (labels, coef, intercept, thresholds) in self._heads.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> MeaningReader:
        """Raises ValueError (or KeyError/TypeError) on a malformed payload."""
        return cls(data["heads"], encoder_layers=int(data["encoder_layers"]))


def at_least(prob: Any, threshold: float) -> Any:
    """Whether ``prob`` (a float or an array) reaches ``threshold``, up to :data:`TOLERANCE`."""
    return prob >= threshold - TOLERANCE


def _threshold(probs: np.ndarray, correct: np.ndarray, *, precision: float, floor: float) -> float:
    """The lowest threshold ≥ ``floor`` at which the readings at or above it reach ``precision``;
    :data:`_NEVER` if none does. Readings of equal probability (up to :data:`TOLERANCE`) are
    accepted or refused together."""
    order = np.argsort(-probs, kind="stable")
    probs, correct = probs[order], correct[order]
    best = _NEVER
    hits = np.cumsum(correct)
    for i, p in enumerate(probs):
        if p < floor:
            break
        if i + 1 < len(probs) and at_least(probs[i + 1], p):
            continue
        if hits[i] / (i + 1) >= precision:
            best = float(p)
    return best


def fit_meaning(
    train: Sequence[tuple[str, str, str]],
    valid: Sequence[tuple[str, str, str]],
    encoder: TextEncoder,
    *,
    seed: int = 0,
) -> tuple[MeaningReader | None, dict[str, Any]]:
    """Fit the reader on ``train`` examples and choose its thresholds on ``valid``.

    Args:
        train: (situation, text, label) examples (see :func:`meaning_example`).
        valid: The same, from the validation split (thresholds and the figures returned).
        encoder: The frozen encoder the ranker reads (its depth is recorded).

    Returns:
        The reader (None if no situation had two labels to tell apart) and its validation
        figures per situation: examples, accuracy, and per label the threshold, the readings
        accepted and their precision.
    """
    from sklearn.linear_model import LogisticRegression

    heads: dict[str, dict[str, Any]] = {}
    report: dict[str, Any] = {}
    for situation, labels in LABELS.items():
        rows = [(t, y) for s, t, y in train if s == situation]
        seen = sorted({y for _, y in rows})
        if len(seen) < 2:  # nothing to tell apart: the reader makes no reading here
            report[situation] = {"train_examples": len(rows), "skipped": f"labels seen: {seen}"}
            continue
        x = encoder.pooled([t for t, _ in rows]).numpy()
        y = np.array([labels.index(y) for _, y in rows])
        model = LogisticRegression(C=10.0, max_iter=2000, random_state=seed).fit(x, y)
        coef = np.zeros((len(labels), TextEncoder.dim), dtype=np.float32)
        intercept = np.full(len(labels), -1e4, dtype=np.float32)  # a label never seen: never read
        for row, k in enumerate(model.classes_):
            if len(model.classes_) == 2:  # scikit-learn keeps one row for two classes
                sign = 1.0 if row == 1 else -1.0
                coef[k] = sign * model.coef_[0] / 2
                intercept[k] = sign * model.intercept_[0] / 2
            else:
                coef[k] = model.coef_[row]
                intercept[k] = model.intercept_[row]
        heads[situation] = {
            "labels": list(labels),
            "coef": coef.tolist(),
            "intercept": intercept.tolist(),
            "thresholds": [_NEVER] * len(labels),
        }
        report[situation] = {"train_examples": len(rows)}
    if not heads:
        return None, report
    probe = MeaningReader(heads, encoder_layers=encoder.layers)  # thresholds do not move probs
    for situation, labels in LABELS.items():
        if situation not in heads:
            continue
        rows = [(t, y) for s, t, y in valid if s == situation]
        figures: dict[str, Any] = {"examples": len(rows)}
        if rows:
            probs, gold = _scored(probe, situation, rows, encoder)
            guess = probs.argmax(axis=1)
            for k, label in enumerate(labels):
                mine = guess == k
                heads[situation]["thresholds"][k] = _threshold(
                    probs[mine, k],
                    gold[mine] == k,
                    precision=1.0 if label == "affirm" else PRECISION,
                    floor=AFFIRM_FLOOR if label == "affirm" else 0.0,
                )
            figures |= _figures(labels, heads[situation]["thresholds"], probs, gold)
        report[situation].update(figures)
    return MeaningReader(heads, encoder_layers=encoder.layers), report


def measure(
    reader: MeaningReader, examples: Sequence[tuple[str, str, str]], encoder: TextEncoder
) -> dict[str, dict[str, Any]]:
    """Per situation: examples, accuracy of the best label, and per label its threshold, the
    readings accepted (of the examples with that label) and their precision."""
    out: dict[str, dict[str, Any]] = {}
    for situation in sorted(reader.situations):
        rows = [(t, y) for s, t, y in examples if s == situation]
        figures: dict[str, Any] = {"examples": len(rows)}
        if rows:
            probs, gold = _scored(reader, situation, rows, encoder)
            thresholds = reader.thresholds(situation)
            labels = LABELS[situation]
            figures |= _figures(labels, [thresholds[x] for x in labels], probs, gold)
        out[situation] = figures
    return out


def _scored(
    reader: MeaningReader, situation: str, rows: Sequence[tuple[str, str]], encoder: TextEncoder
) -> tuple[np.ndarray, np.ndarray]:
    """P(label) of each (text, label) row, and the gold label indices."""
    labels = LABELS[situation]
    probs = reader.probabilities(situation, encoder.pooled([t for t, _ in rows])).numpy()
    return probs, np.array([labels.index(y) for _, y in rows])


def _figures(
    labels: Sequence[str], thresholds: Sequence[float], probs: np.ndarray, gold: np.ndarray
) -> dict[str, Any]:
    guess = probs.argmax(axis=1)
    figures: dict[str, Any] = {"accuracy": round(float((guess == gold).mean()), 4)}
    for k, label in enumerate(labels):
        accepted = (guess == k) & at_least(probs[:, k], thresholds[k])
        figures[label] = {
            "threshold": round(float(thresholds[k]), 4),
            "accepted": int(accepted.sum()),
            "of": int((gold == k).sum()),
            "precision": round(float((gold[accepted] == k).mean()), 4) if accepted.any() else None,
        }
    return figures
