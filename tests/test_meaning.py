"""The meaning reader (ranker.meaning): labels from corpus turns, thresholds chosen for precision,
a fit on hand-made messages with the real frozen encoder, a lossless round trip through the
checkpoint, and clear errors for a malformed or mismatched reader."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from ranker.checkpoint import CheckpointError, save_checkpoint
from ranker.config import TINY
from ranker.data import CUSTOMER, REP, RankTurn
from ranker.encoder import TextEncoder
from ranker.meaning import (
    AFFIRM_FLOOR,
    LABELS,
    TOLERANCE,
    MeaningReader,
    _figures,
    _threshold,
    at_least,
    fit_meaning,
    meaning_example,
)
from ranker.model import TemplateRanker
from ranker.scorer import NeuralRanker


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs with torch on one thread (conftest.one_torch_thread)."""


@pytest.fixture(scope="module")
def encoder(_one_thread: None) -> TextEncoder:
    return TextEncoder(layers=TINY.encoder_layers)


CANCEL = [
    "I want to cancel my order",
    "please cancel order #W1234567",
    "can you help me canceling purchase #W7140544 ? me@example.com",
    "i need to kill an order",
    "cancel the blue water bottle i bought",
    "stop my order from shipping",
]
REFUND = [
    "where is my refund",
    "I don't see a reufnd in my account",
    "still no refund for #W2372685, what's the holdup",
    "im waiting for a reimbursement of 1200 dollars",
    "my money for the returned chair never arrived",
    "refund status on #W8540416",
]
OUT_OF_SCOPE = [
    "what are your store opening hours",
    "do you sell gift cards",
    "can I change my password",
    "tell me a joke",
]
SWITCH = [
    "ok skip the refund thing, cancel my order",
    "forget the refund, i want to cancel instead",
]
SWITCH_BACK = ["actually what about my refund", "never mind the cancellation, where is my refund"]
MID_FLOW = [
    "me@example.com",
    "#W1234567",
    "the blue water bottle",
    "thanks",
    "I ordered it by mistake",
]
AFFIRM = ["yes", "go on then", "uh huh", "yes please do it", "That's right, thank you.", "ya"]
OTHER = ["hm", "what do you mean", "which order is that", "wait", "?", "let me think about it"]


def _examples() -> list[tuple[str, str, str]]:
    return (
        [("opening", t, "cancel_order") for t in CANCEL]
        + [("opening", t, "refund_status") for t in REFUND]
        + [("opening", t, "out_of_scope") for t in OUT_OF_SCOPE]
        + [("confirmation", t, "affirm") for t in AFFIRM]
        + [("confirmation", t, "other") for t in OTHER]
        + [("switch", t, "cancel_order") for t in SWITCH]
        + [("switch", t, "refund_status") for t in SWITCH_BACK]
        + [("switch", t, "other") for t in MID_FLOW]
    )


@pytest.fixture(scope="module")
def fitted(encoder: TextEncoder) -> tuple[MeaningReader, dict[str, Any]]:
    examples = _examples()
    reader, report = fit_meaning(examples, examples, encoder)
    assert reader is not None
    return reader, report


# ---- labels ------------------------------------------------------------------------------------
def _turn(text: str, *, meaning: str | None, awaiting: str | None, intent: str | None) -> RankTurn:
    return RankTurn(
        context=((REP, "Hi!"), (CUSTOMER, text)),
        facts=frozenset(),
        tracker={"awaiting": awaiting, "intent": intent},
        meaning=meaning,
    )


@pytest.mark.parametrize(
    ("meaning", "awaiting", "intent", "expected"),
    [
        ("cancel_order", None, None, ("opening", "cancel_order")),
        ("out_of_scope", None, None, ("opening", "out_of_scope")),
        ("inform", None, None, None),  # no issue named: not an opening example
        ("refund_status", None, "cancel_order", ("switch", "refund_status")),
        ("inform", "order", "refund_status", ("switch", "other")),
        ("affirm", "cancel_confirmation", "cancel_order", ("confirmation", "affirm")),
        ("deny", "cancel_confirmation", "cancel_order", ("confirmation", "deny")),
        ("cancel_order", "cancel_confirmation", "cancel_order", ("confirmation", "other")),
        (None, "cancel_confirmation", "cancel_order", ("confirmation", "other")),
        ("affirm", "cancel_reason", "cancel_order", ("switch", "other")),  # another question
    ],
)
def test_corpus_turns_become_labelled_examples(
    meaning: str | None,
    awaiting: str | None,
    intent: str | None,
    expected: tuple[str, str] | None,
) -> None:
    example = meaning_example(
        _turn("the message", meaning=meaning, awaiting=awaiting, intent=intent)
    )
    if expected is None:
        assert example is None
    else:
        assert example == (expected[0], "the message", expected[1])


def test_a_turn_whose_newest_utterance_is_the_reps_teaches_nothing() -> None:
    turn = RankTurn(context=((CUSTOMER, "cancel"), (REP, "Sure")), facts=frozenset(), meaning="x")
    assert meaning_example(turn) is None
    assert meaning_example(RankTurn(context=(), facts=frozenset())) is None


# ---- thresholds --------------------------------------------------------------------------------
def test_the_threshold_is_the_lowest_reaching_the_precision() -> None:
    probs = np.array([0.99, 0.95, 0.9, 0.8, 0.7, 0.6])
    right = np.array([True, True, True, False, True, True])
    # Accepting down to 0.9: 3/3; down to 0.8: 3/4; down to 0.6: 5/6 = 0.83.
    assert _threshold(probs, right, precision=1.0, floor=0.0) == pytest.approx(0.9)
    assert _threshold(probs, right, precision=0.8, floor=0.0) == pytest.approx(0.6)
    assert _threshold(probs, right, precision=0.75, floor=0.75) == pytest.approx(0.8)


def test_ties_are_accepted_or_refused_together_and_no_threshold_can_be_never() -> None:
    probs = np.array([0.9, 0.9, 0.5])
    assert _threshold(probs, np.array([True, False, True]), precision=1.0, floor=0.0) > 1.0
    assert _threshold(probs, np.array([False, True, True]), precision=1.0, floor=0.0) > 1.0
    assert _threshold(probs[:0], np.array([], dtype=bool), precision=1.0, floor=0.0) > 1.0
    # Within float noise of each other is a tie too: the wrong reading would be accepted with
    # the right one whenever its text's probability came out a hair higher.
    near = np.array([0.9, 0.9 - TOLERANCE / 2, 0.5])
    assert _threshold(near, np.array([True, False, True]), precision=1.0, floor=0.0) > 1.0
    apart = np.array([0.9, 0.9 - 4 * TOLERANCE, 0.5])
    assert _threshold(apart, np.array([True, False, True]), precision=1.0, floor=0.0) == 0.9


def test_a_reading_a_hair_under_its_threshold_is_at_it() -> None:
    """A threshold is a validation reading's probability; read again (alone instead of in a
    padded batch, or on another runtime) the same text comes out about 1e-7 off, as "please go
    ahead and cancel" did against the default reader's confirmation threshold."""
    threshold = 0.9703471064567566
    assert at_least(0.970346987247467, threshold)  # the default reader's case
    assert not at_least(threshold - 10 * TOLERANCE, threshold)
    probs = np.array([[0.970346987247467, 0.02, 0.01]])
    figures = _figures(("affirm", "deny", "other"), [threshold, 2.0, 2.0], probs, np.array([0]))
    assert figures["affirm"]["accepted"] == 1


# ---- fitting and reading -----------------------------------------------------------------------
def test_the_fitted_reader_reads_its_examples(
    fitted: tuple[MeaningReader, dict[str, Any]], encoder: TextEncoder
) -> None:
    reader, report = fitted
    assert reader.situations == frozenset(LABELS)
    for situation, text, label in _examples():
        reading = reader.read(situation, text, encoder)
        assert reading is not None and reading.label == label, (text, reading)
    assert report["opening"]["accuracy"] == 1.0
    assert report["confirmation"]["affirm"]["threshold"] >= AFFIRM_FLOOR
    assert report["confirmation"]["deny"]["threshold"] > 1.0  # never seen: never read


def test_a_reading_is_accepted_only_at_its_threshold(
    fitted: tuple[MeaningReader, dict[str, Any]], encoder: TextEncoder
) -> None:
    reader, _ = fitted
    for situation, text, _label in _examples():
        reading = reader.read(situation, text, encoder)
        assert reading is not None
        threshold = reader.thresholds(situation)[reading.label]
        assert reading.accepted == (reading.prob >= threshold - TOLERANCE)
    assert reader.read("no such situation", "yes", encoder) is None


def test_a_situation_with_one_label_is_skipped(encoder: TextEncoder) -> None:
    only_openings = [e for e in _examples() if e[0] == "opening"]
    reader, report = fit_meaning(only_openings, only_openings, encoder)
    assert reader is not None and reader.situations == frozenset({"opening"})
    assert "skipped" in report["confirmation"] and "skipped" in report["switch"]
    one_label = [("opening", t, "cancel_order") for t in CANCEL]
    assert fit_meaning(one_label, one_label, encoder)[0] is None


def test_the_reader_round_trips_through_json(
    fitted: tuple[MeaningReader, dict[str, Any]], encoder: TextEncoder
) -> None:
    reader, _ = fitted
    again = MeaningReader.from_json(reader.to_json())
    embeddings = encoder.pooled(AFFIRM + OTHER)
    for situation in LABELS:
        assert torch.equal(
            reader.probabilities(situation, embeddings), again.probabilities(situation, embeddings)
        )
        assert reader.thresholds(situation) == again.thresholds(situation)


def _malformed(data: dict[str, Any], case: str) -> dict[str, Any]:
    head = data["heads"]["opening"]
    if case == "shape":
        head["coef"] = head["coef"][:2]
    elif case == "nan":
        head["intercept"][0] = math.nan
    elif case == "thresholds":
        head["thresholds"] = head["thresholds"][:1]
    elif case == "situation":
        data["heads"]["elsewhere"] = data["heads"].pop("opening")
    elif case == "missing":
        del head["coef"]
    elif case == "labels":
        head["labels"] = list(reversed(head["labels"]))
    elif case == "nan-threshold":
        head["thresholds"][0] = math.nan
    return data


@pytest.mark.parametrize(
    "case", ["shape", "nan", "thresholds", "situation", "missing", "labels", "nan-threshold"]
)
def test_a_malformed_reader_is_refused(
    fitted: tuple[MeaningReader, dict[str, Any]], case: str
) -> None:
    data = _malformed(fitted[0].to_json(), case)
    with pytest.raises((ValueError, KeyError)):
        MeaningReader.from_json(data)


# ---- in the checkpoint -------------------------------------------------------------------------
def _checkpoint(path: Path, meaning: Any) -> Path:
    torch.manual_seed(0)
    save_checkpoint(path, TemplateRanker(TINY).eval(), TINY, meta={"meaning": meaning})
    return path


def test_the_served_ranker_reads_with_the_checkpoints_reader(
    fitted: tuple[MeaningReader, dict[str, Any]], tmp_path: Path
) -> None:
    reader, _ = fitted
    ranker = NeuralRanker.load(_checkpoint(tmp_path / "r.pt", reader.to_json()))
    reading = ranker.read_meaning("opening", "I don't see a reufnd in my account")
    assert reading is not None and reading.label == "refund_status"
    plain = NeuralRanker.load(_checkpoint(tmp_path / "plain.pt", None))
    assert plain.read_meaning("opening", "where is my refund") is None


@pytest.mark.parametrize("case", ["shape", "layers"])
def test_a_bad_reader_in_the_checkpoint_is_a_checkpoint_error(
    fitted: tuple[MeaningReader, dict[str, Any]], tmp_path: Path, case: str
) -> None:
    data = fitted[0].to_json()
    if case == "layers":
        data["encoder_layers"] = TINY.encoder_layers + 1
    else:
        data = _malformed(data, case)
    path = _checkpoint(tmp_path / "bad.pt", data)
    with pytest.raises(CheckpointError, match="bad.pt"):
        NeuralRanker.load(path)
