"""The generator's act reader: the fitted model's arithmetic, its round trip, bad payloads."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression

from generator.act_check import ActReader, accuracy, fit_act_reader
from ranker.data import CUSTOMER, RankTurn

REPLIES = {
    "refund_in_progress": [
        "Your refund of [refund_amount] is in progress and should arrive [refund_timing].",
        "The refund for [order_id] is being processed; expect it [refund_timing].",
        "We have started your refund; it is still in progress.",
    ],
    "refund_completed": [
        "Your refund of [refund_amount] was completed on [refund_date].",
        "The refund for [order_id] has been issued to [refund_method].",
        "Good news: the refund went through on [refund_date].",
    ],
    "closing": ["Thanks for contacting us, goodbye!", "Have a great day!", "Take care, bye!"],
}


def _turns() -> list[RankTurn]:
    return [
        RankTurn(context=((CUSTOMER, "hi"),), facts=frozenset(), gold_act=act, gold_reply=reply)
        for act, replies in REPLIES.items()
        for reply in replies
    ]


def test_the_reader_computes_what_scikit_learn_computes() -> None:
    turns = _turns()
    reader = fit_act_reader(turns)
    texts = [t.gold_reply for t in turns if t.gold_reply]
    acts = [t.gold_act for t in turns]
    vec = TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, token_pattern=r"(?u)\b\w\w+\b")
    clf = LogisticRegression(C=8.0, max_iter=2000, random_state=0).fit(
        vec.fit_transform(texts), acts
    )
    probe = ["your refund is in progress", "the refund was completed, bye bye", "", "zzz qqq"]
    expected = clf.predict_proba(vec.transform(probe))
    got = np.stack([reader.probabilities(p) for p in probe])
    assert list(reader.labels) == list(clf.classes_)
    np.testing.assert_allclose(got, expected, atol=1e-9)
    assert accuracy(reader, turns) == 1.0
    assert reader.read("Your refund of [refund_amount] was completed.").act == "refund_completed"


def test_the_reader_round_trips_through_json_and_two_acts_work() -> None:
    reader = fit_act_reader(_turns())
    again = ActReader.from_json(json.loads(json.dumps(reader.to_json())))
    text = "the refund has been issued"
    np.testing.assert_allclose(again.probabilities(text), reader.probabilities(text))
    two = fit_act_reader([t for t in _turns() if t.gold_act != "closing"])
    assert two.read("it is still in progress").act == "refund_in_progress"
    assert two.read("it went through, it was issued").act == "refund_completed"


def test_bad_input_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="two acts"):
        fit_act_reader([t for t in _turns() if t.gold_act == "closing"])
    data = fit_act_reader(_turns()).to_json()
    with pytest.raises(ValueError, match="not a csbot-act-reader"):
        ActReader.from_json({**data, "format": "other/1"})
    with pytest.raises(ValueError):
        ActReader.from_json({**data, "idf": data["idf"][:-1]})
    # Huge or hostile text reads as some act, never raises.
    reader = ActReader.from_json(data)
    assert reader.read("<script>" * 10_000).act in reader.labels
