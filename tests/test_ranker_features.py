"""Ranker feature tokens: the closed vocabulary, the no-account-data-before-authentication rule,
unknown values, bucket edges, the token cap, and the tracker's per-turn signals."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from dialogue import nlu
from dialogue.domain import CancelReason, Intent
from dialogue.nlu import Parse
from dialogue.state import Awaiting, DialogueState
from ranker.features import (
    MAX_FEATURE_TOKENS,
    PAD,
    SIGNALS,
    feature_ids,
    tracker_signals,
    tracker_view,
    vocabulary,
)
from templates.catalog import ACTS, FACTS

PROFILE: dict[str, Any] = {
    "membership": "gold",
    "tenure_days": 400,
    "orders": 3,
    "open_orders": 1,
    "refunds": 0,
    "recent_contacts": 2,
}
PROFILE_PREFIXES = (
    "membership=", "tenure_days=", "orders=", "open_orders=", "refunds=", "recent_contacts=",
)  # fmt: skip


def _tokens(ids: list[int]) -> list[str]:
    vocab = vocabulary()
    return [vocab[i] for i in ids]


def _profile_tokens(ids: list[int]) -> list[str]:
    return [t for t in _tokens(ids) if t.startswith(PROFILE_PREFIXES)]


def _parse(text: str = "", intent: str = "inform", confidence: float = 0.9, **fields: Any) -> Parse:
    base = Parse(
        intent=intent,
        confidence=confidence,
        order_numbers=(),
        unrecognized_order_refs=(),
        email=None,
        zip_code=None,
        name=None,
        bare_name=None,
        cancel_reason=None,
        mentions_last_order=False,
        ordinal=None,
        text=text,
    )
    return dataclasses.replace(base, **fields)


# ---- vocabulary ------------------------------------------------------------------------------
def test_vocabulary_is_unique_starts_with_pad_and_covers_the_catalog() -> None:
    vocab = vocabulary()
    assert vocab[PAD] == "<pad>" and PAD == 0
    assert len(set(vocab)) == len(vocab)
    assert vocab.count("<pad>") == 1
    assert {f"fact={f}" for f in FACTS} <= set(vocab)
    assert {f"last_act={a}" for a in ACTS} <= set(vocab)
    assert {f"signal={s}" for s in SIGNALS} <= set(vocab)
    assert {f"awaiting={a.value}" for a in Awaiting} <= set(vocab)
    assert vocabulary() is vocab  # cached: one fixed order per process


# ---- the safety rule: no account data before authentication ----------------------------------
@pytest.mark.parametrize(
    ("facts", "use_profile", "expected"),
    [
        (frozenset(), True, []),
        (frozenset({"not_authenticated"}), True, []),
        (frozenset({"order_identified", "order_cancellable"}), True, []),
        (frozenset({"authenticated"}), False, []),
        (
            frozenset({"authenticated"}),
            True,
            [
                "membership=gold",
                "tenure_days=3",
                "orders=3",
                "open_orders=1",
                "refunds=0",
                "recent_contacts=2",
            ],
        ),
    ],
    ids=["no-facts", "not-authenticated", "order-facts-only", "ablation-off", "authenticated"],
)
def test_profile_enters_only_after_authentication(
    facts: frozenset[str], use_profile: bool, expected: list[str]
) -> None:
    ids = feature_ids(PROFILE, None, facts, use_profile=use_profile)
    assert _profile_tokens(ids) == expected
    assert [t for t in _tokens(ids) if t.startswith("fact=")] == [
        f"fact={f}" for f in sorted(facts)
    ]


@pytest.mark.parametrize("profile", [None, {}], ids=["none", "empty"])
def test_no_profile_gives_no_profile_tokens_even_when_authenticated(
    profile: dict[str, Any] | None,
) -> None:
    assert _profile_tokens(feature_ids(profile, None, frozenset({"authenticated"}))) == []


def test_full_turn_gives_exactly_these_tokens_in_this_order() -> None:
    tracker = {
        "awaiting": "cancel_confirmation",
        "intent": "cancel_order",
        "last_act": "request_cancel_confirmation",
        "auth_failures": 0,
        "clarifications": 1,
        "order_misses": 0,
        "turns": 4,
        "nlu": "affirm",
        "nlu_confidence": 0.959,
        "tracked_intent": "cancel_order",
        "signals": ["said_yes"],
    }
    facts = frozenset({"order_identified", "authenticated", "order_cancellable"})
    assert _tokens(feature_ids(PROFILE, tracker, facts)) == [
        "membership=gold",
        "tenure_days=3",
        "orders=3",
        "open_orders=1",
        "refunds=0",
        "recent_contacts=2",
        "fact=authenticated",
        "fact=order_cancellable",
        "fact=order_identified",
        "awaiting=cancel_confirmation",
        "intent=cancel_order",
        "last_act=request_cancel_confirmation",
        "auth_failures=0",
        "clarifications=1",
        "order_misses=0",
        "turns=3",
        "nlu=affirm",
        "nlu_confidence=3",
        "tracked_intent=cancel_order",
        "signal=said_yes",
    ]


def test_no_tracker_and_no_facts_still_gives_defaults() -> None:
    assert _tokens(feature_ids(None, None, frozenset())) == [
        "awaiting=none",
        "intent=none",
        "last_act=none",
        "auth_failures=unknown",
        "clarifications=unknown",
        "order_misses=unknown",
        "turns=unknown",
    ]


# ---- unknown values ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "token"),
    [
        ("membership", "platinum", "membership=unknown"),
        ("membership", None, "membership=unknown"),
        ("membership", "GOLD", "membership=unknown"),
        ("membership", ["gold"], "membership=unknown"),
        ("tenure_days", None, "tenure_days=unknown"),
        ("tenure_days", float("nan"), "tenure_days=unknown"),
        ("tenure_days", "400", "tenure_days=unknown"),
        ("tenure_days", True, "tenure_days=unknown"),
        ("orders", float("nan"), "orders=unknown"),
        ("recent_contacts", None, "recent_contacts=unknown"),
    ],
    ids=[
        "membership-unknown-name",
        "membership-none",
        "membership-wrong-case",
        "membership-list",
        "tenure-none",
        "tenure-nan",
        "tenure-string",
        "tenure-bool",
        "orders-nan",
        "contacts-none",
    ],
)
def test_unknown_profile_values_map_to_unknown_tokens(field: str, value: Any, token: str) -> None:
    ids = feature_ids(PROFILE | {field: value}, None, frozenset({"authenticated"}))
    tokens = _profile_tokens(ids)
    assert token in tokens
    assert len(tokens) == 6  # one token per profile feature, never dropped
    assert PAD not in ids


def test_missing_profile_fields_map_to_unknown_tokens() -> None:
    ids = feature_ids({"membership": "silver"}, None, frozenset({"authenticated"}))
    assert _profile_tokens(ids) == [
        "membership=silver",
        "tenure_days=unknown",
        "orders=unknown",
        "open_orders=unknown",
        "refunds=unknown",
        "recent_contacts=unknown",
    ]


@pytest.mark.parametrize(
    ("tracker", "present", "absent"),
    [
        ({"last_act": "bogus_act"}, {"last_act=unknown"}, {"last_act=none"}),
        ({"last_act": None}, {"last_act=none"}, {"last_act=unknown"}),
        ({"intent": "<script>"}, {"intent=none"}, set()),
        ({"turns": float("nan")}, {"turns=unknown"}, set()),
        ({"turns": None}, {"turns=unknown"}, set()),
        (
            {"nlu": "weird", "nlu_confidence": "high", "tracked_intent": "x"},
            {"nlu=unknown", "tracked_intent=none"},
            {f"nlu_confidence={i}" for i in range(4)},
        ),
        ({"nlu": None, "nlu_confidence": 0.9}, set(), {f"nlu_confidence={i}" for i in range(4)}),
        ({"signals": ["said_yes", "made_up", ""]}, {"signal=said_yes"}, set()),
        ({"signals": "said_yes"}, set(), {"signal=said_yes"}),
        ({"awaiting": "bogus"}, set(), {"awaiting=none", "awaiting=bogus"}),
    ],
    ids=[
        "last-act-unknown",
        "last-act-none",
        "intent-hostile",
        "turns-nan",
        "turns-none",
        "nlu-unknown",
        "no-nlu-no-confidence",
        "unknown-signals-dropped",
        "signals-as-string",
        "awaiting-unknown-not-none",
    ],
)
def test_unknown_tracker_values(
    tracker: dict[str, Any], present: set[str], absent: set[str]
) -> None:
    ids = feature_ids(None, tracker, frozenset())
    tokens = set(_tokens(ids))
    assert present <= tokens
    assert not (absent & tokens)
    assert PAD not in ids


# ---- buckets -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("field", "value", "bucket"),
    [
        ("tenure_days", -3, 0),
        ("tenure_days", 0, 0),
        ("tenure_days", 29, 0),
        ("tenure_days", 30, 1),
        ("tenure_days", 89, 1),
        ("tenure_days", 90, 2),
        ("tenure_days", 1459, 4),
        ("tenure_days", 1460, 5),
        ("tenure_days", 10**9, 5),
        ("tenure_days", float("inf"), 5),
        ("orders", 0, 0),
        ("orders", 1, 1),
        ("orders", 4, 3),
        ("orders", 5, 4),
        ("orders", 10, 5),
        ("open_orders", 3, 3),
        ("refunds", 3.5, 2),
        ("recent_contacts", 4, 3),
    ],
    ids=lambda v: str(v),
)
def test_profile_bucket_edges(field: str, value: float, bucket: int) -> None:
    ids = feature_ids({field: value}, None, frozenset({"authenticated"}))
    assert f"{field}={bucket}" in _tokens(ids)


def test_tenure_29_and_30_days_differ() -> None:
    auth = frozenset({"authenticated"})
    a = feature_ids({"tenure_days": 29}, None, auth)
    b = feature_ids({"tenure_days": 30}, None, auth)
    assert a != b
    assert [x for x, y in zip(a, b, strict=True) if x != y] == [vocabulary().index("tenure_days=0")]


@pytest.mark.parametrize(
    ("confidence", "bucket"),
    [(0.0, 0), (0.399, 0), (0.4, 1), (0.6, 2), (0.8, 3), (1.0, 3)],
    ids=["zero", "below-0.4", "at-0.4", "at-0.6", "at-0.8", "one"],
)
def test_nlu_confidence_bucket_edges(confidence: float, bucket: int) -> None:
    tokens = _tokens(
        feature_ids(None, {"nlu": "affirm", "nlu_confidence": confidence}, frozenset())
    )
    assert [t for t in tokens if t.startswith("nlu_confidence=")] == [f"nlu_confidence={bucket}"]


@pytest.mark.parametrize(
    ("turns", "bucket"),
    [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3), (5, 4), (7, 4), (8, 5), (500, 5)],
    ids=lambda v: str(v),
)
def test_turn_counter_bucket_edges(turns: int, bucket: int) -> None:
    assert f"turns={bucket}" in _tokens(feature_ids(None, {"turns": turns}, frozenset()))


# ---- facts, cap, padding -------------------------------------------------------------------------
@pytest.mark.parametrize(
    "extra",
    [{"bogus"}, {"<script>alert(1)</script>"}, {""}, {"fact=authenticated"}, {"AUTHENTICATED"}],
    ids=["bogus", "html", "empty", "prefixed", "upper-case"],
)
def test_facts_outside_the_catalog_are_ignored(extra: set[str]) -> None:
    facts = frozenset({"order_identified"} | extra)
    assert feature_ids(None, None, facts) == feature_ids(
        None, None, frozenset({"order_identified"})
    )


def test_every_catalog_fact_has_its_token() -> None:
    ids = feature_ids(None, None, FACTS)
    assert [t for t in _tokens(ids) if t.startswith("fact=")] == [
        f"fact={f}" for f in sorted(FACTS)
    ]


def test_at_most_max_feature_tokens_and_never_padding() -> None:
    tracker = {
        "awaiting": "order",
        "intent": "refund_status",
        "last_act": "request_order",
        "nlu": "inform",
        "nlu_confidence": 0.5,
        "tracked_intent": "refund_status",
        "signals": list(SIGNALS) * 20,
    }
    ids = feature_ids(PROFILE, tracker, FACTS)
    assert len(ids) == MAX_FEATURE_TOKENS == 48
    assert PAD not in ids
    assert all(0 < i < len(vocabulary()) for i in ids)
    # The cap cuts the tail (signals), never the profile or the facts at the front.
    assert _tokens(ids)[:6] == _profile_tokens(ids)


def test_everything_known_fits_under_the_cap() -> None:
    tracker = {
        "awaiting": "order",
        "intent": "refund_status",
        "last_act": "request_order",
        "auth_failures": 1,
        "clarifications": 1,
        "order_misses": 1,
        "turns": 1,
        "nlu": "inform",
        "nlu_confidence": 0.5,
        "tracked_intent": "refund_status",
        "signals": list(SIGNALS),
    }
    ids = feature_ids(PROFILE, tracker, FACTS)
    assert len(ids) == 6 + len(FACTS) + 3 + 4 + 3 + len(SIGNALS) <= MAX_FEATURE_TOKENS
    assert len(set(ids)) == len(ids)


# ---- tracker view and signals ------------------------------------------------------------------
def test_tracker_view_of_a_fresh_and_a_busy_state() -> None:
    assert tracker_view(DialogueState()) == {
        "awaiting": None,
        "intent": None,
        "last_act": None,
        "auth_failures": 0,
        "clarifications": 0,
        "order_misses": 0,
        "turns": 0,
    }
    busy = DialogueState(
        intent=Intent.CANCEL_ORDER,
        awaiting=Awaiting.CANCEL_REASON,
        last_act="request_cancel_reason",
        auth_failures=1,
        clarifications=2,
        order_misses=0,
        turns=5,
        customer_id=7,
    )
    assert tracker_view(busy) == {
        "awaiting": "cancel_reason",
        "intent": "cancel_order",
        "last_act": "request_cancel_reason",
        "auth_failures": 1,
        "clarifications": 2,
        "order_misses": 0,
        "turns": 5,
    }


_FRESH = DialogueState()
_AUTHED = DialogueState(customer_id=7, intent=Intent.CANCEL_ORDER)


@pytest.mark.parametrize(
    ("parse", "before", "after", "signals"),
    [
        (_parse("yes please", "affirm"), _AUTHED, _AUTHED, ["said_yes"]),
        (_parse("yeah do it", "inform"), _AUTHED, _AUTHED, ["said_yes"]),
        (_parse("no, keep it", "deny"), _AUTHED, _AUTHED, ["said_no"]),
        (_parse("no yes", "affirm"), _AUTHED, _AUTHED, ["said_no"]),
        (_parse("", "unknown", 0.2), _FRESH, _FRESH, []),
        (
            _parse("a@b.com", email="a@b.com"),
            _FRESH,
            _FRESH.update(customer_id=3),
            ["authenticated_now", "gave_email"],
        ),
        (
            _parse("a@b.com", email="a@b.com"),
            _AUTHED,
            _AUTHED.update(customer_id=9),
            ["gave_email"],
        ),
        (
            _parse("x@y.com", email="x@y.com"),
            _FRESH,
            _FRESH.update(auth_failures=1),
            ["auth_lookup_failed", "gave_email"],
        ),
        (
            _parse("Jane Doe 12345", name=("Jane", "Doe"), zip_code="12345"),
            _FRESH.update(auth_failures=2),
            _FRESH.update(auth_failures=2),
            ["gave_name", "gave_zip"],
        ),
        (
            _parse("order #W1234567", order_numbers=("#W1234567",)),
            _AUTHED,
            _AUTHED.update(order_number="#W1234567"),
            ["gave_order_id", "order_identified_now"],
        ),
        (
            _parse("order #W1234567", order_numbers=("#W1234567",)),
            _AUTHED.update(order_number="#W1234567"),
            _AUTHED.update(order_number="#W1234567"),
            ["gave_order_id"],
        ),
        (
            _parse("order 12", unrecognized_order_refs=("12",)),
            _AUTHED,
            _AUTHED.update(order_misses=1),
            ["gave_unknown_order_id", "order_missed"],
        ),
        (
            _parse("my last order", mentions_last_order=True),
            _AUTHED,
            _AUTHED.update(candidate_orders=("#W1", "#W2")),
            ["order_candidates", "said_last_order"],
        ),
        (
            _parse("the mug"),
            _AUTHED.update(candidate_orders=("#W1", "#W2")),
            _AUTHED.update(candidate_orders=("#W1", "#W2")),
            [],
        ),
        (
            _parse("I ordered it by mistake", cancel_reason=CancelReason.ORDERED_BY_MISTAKE),
            _AUTHED,
            _AUTHED,
            ["gave_reason"],
        ),
    ],
    ids=[
        "yes",
        "yes-by-pattern",
        "no",
        "no-wins-over-yes",
        "empty",
        "authenticated-now",
        "already-authenticated",
        "auth-lookup-failed",
        "name-and-zip-no-lookup",
        "order-identified-now",
        "order-already-identified",
        "unknown-order-id",
        "last-order-candidates",
        "same-candidates-again",
        "reason",
    ],
)
def test_tracker_signals(
    parse: Parse, before: DialogueState, after: DialogueState, signals: list[str]
) -> None:
    out = tracker_signals(parse, before, after)
    assert out["signals"] == signals
    assert set(out) == {"nlu", "nlu_confidence", "tracked_intent", "signals"}


def test_tracker_signals_nlu_fields() -> None:
    out = tracker_signals(
        _parse("cancel it", "cancel_order", 0.98765),
        _FRESH,
        _FRESH.update(intent=Intent.CANCEL_ORDER),
    )
    assert out == {
        "nlu": "cancel_order",
        "nlu_confidence": 0.988,
        "tracked_intent": "cancel_order",
        "signals": [],
    }
    assert tracker_signals(_parse(), _FRESH, _FRESH)["tracked_intent"] is None


@pytest.mark.parametrize(
    ("text", "signals"),
    [
        ("yes please", ["said_yes"]),
        ("no, keep it", ["said_no"]),
        ("my email is jane@example.com", ["gave_email"]),
        ("order #W1234567 ordered by mistake", ["gave_order_id", "gave_reason"]),
        ("", []),
    ],
    ids=["yes", "no", "email", "order-and-reason", "empty"],
)
def test_tracker_signals_from_the_real_nlu(text: str, signals: list[str]) -> None:
    state = DialogueState(customer_id=1)
    out = tracker_signals(nlu.parse(text), state, state)
    assert out["signals"] == signals
    # Feature ids accept exactly what the tracker emits: one token per signal.
    tokens = _tokens(feature_ids(None, tracker_view(state) | out, frozenset()))
    assert [t for t in tokens if t.startswith("signal=")] == [f"signal={s}" for s in signals]
