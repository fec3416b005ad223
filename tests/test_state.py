"""Dialogue state: dialogue.state.DialogueState (JSON round trip, forget_order)."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest

from dialogue.domain import CancelReason, Intent
from dialogue.state import Awaiting, DialogueState

FULL = DialogueState(
    intent=Intent.CANCEL_ORDER,
    customer_id=42,
    auth_failures=2,
    pending_name=("Jane", "O'Neil"),
    order_number="#W1234567",
    pending_order_ref="#W0000009",
    candidate_orders=("#W1234567", "#W7654321", "#W0000001"),
    cancel_reason=CancelReason.FOUND_BETTER_PRICE,
    awaiting=Awaiting.CANCEL_CONFIRMATION,
    confirmation_for="#W1234567",
    resolved=(
        "refund_status:#W0000001",
        "cancel_order:#W7654321",
        "{{ 7*7 }}",
        "'; DROP TABLE orders; --",
        "\u00e9\U0001f600",
    ),
    clarifications=1,
    order_misses=2,
    turns=9,
    handed_off=True,
    ended=True,
    last_act="request_cancel_confirmation",
)


def roundtrip(state: DialogueState) -> DialogueState:
    return DialogueState.from_json(json.loads(json.dumps(state.to_json())))


def test_full_fixture_sets_every_field_away_from_its_default() -> None:
    default = DialogueState()
    unchanged = [
        f.name
        for f in dataclasses.fields(DialogueState)
        if getattr(FULL, f.name) == getattr(default, f.name)
    ]
    assert unchanged == []


def test_default_state_to_json_exact() -> None:
    assert DialogueState().to_json() == {
        "intent": None,
        "customer_id": None,
        "auth_failures": 0,
        "pending_name": None,
        "order_number": None,
        "pending_order_ref": None,
        "candidate_orders": [],
        "cancel_reason": None,
        "awaiting": None,
        "confirmation_for": None,
        "resolved": [],
        "clarifications": 0,
        "order_misses": 0,
        "turns": 0,
        "handed_off": False,
        "ended": False,
        "last_act": None,
    }


def test_default_state_round_trip() -> None:
    assert roundtrip(DialogueState()) == DialogueState()


def test_full_state_round_trip_exact() -> None:
    restored = roundtrip(FULL)
    assert restored == FULL
    assert type(restored.intent) is Intent
    assert type(restored.cancel_reason) is CancelReason
    assert type(restored.awaiting) is Awaiting
    assert type(restored.pending_name) is tuple
    assert type(restored.candidate_orders) is tuple
    assert type(restored.resolved) is tuple


def test_full_state_json_is_plain() -> None:
    data = json.loads(json.dumps(FULL.to_json()))
    assert data == {
        "intent": "cancel_order",
        "customer_id": 42,
        "auth_failures": 2,
        "pending_name": ["Jane", "O'Neil"],
        "order_number": "#W1234567",
        "pending_order_ref": "#W0000009",
        "candidate_orders": ["#W1234567", "#W7654321", "#W0000001"],
        "cancel_reason": "found_better_price",
        "awaiting": "cancel_confirmation",
        "confirmation_for": "#W1234567",
        "resolved": [
            "refund_status:#W0000001",
            "cancel_order:#W7654321",
            "{{ 7*7 }}",
            "'; DROP TABLE orders; --",
            "\u00e9\U0001f600",
        ],
        "clarifications": 1,
        "order_misses": 2,
        "turns": 9,
        "handed_off": True,
        "ended": True,
        "last_act": "request_cancel_confirmation",
    }


def test_to_json_does_not_alias_state() -> None:
    data = FULL.to_json()
    data["candidate_orders"].append("#W9999999")
    assert FULL.candidate_orders == ("#W1234567", "#W7654321", "#W0000001")


@pytest.mark.parametrize("intent", list(Intent), ids=[i.value for i in Intent])
def test_round_trip_every_intent(intent: Intent) -> None:
    state = DialogueState(intent=intent)
    assert roundtrip(state) == state


@pytest.mark.parametrize("reason", list(CancelReason), ids=[r.value for r in CancelReason])
def test_round_trip_every_cancel_reason(reason: CancelReason) -> None:
    state = DialogueState(cancel_reason=reason)
    assert roundtrip(state) == state


@pytest.mark.parametrize("awaiting", list(Awaiting), ids=[a.value for a in Awaiting])
def test_round_trip_every_awaiting(awaiting: Awaiting) -> None:
    state = DialogueState(awaiting=awaiting)
    assert roundtrip(state) == state


@pytest.mark.parametrize("data", [None, {}], ids=["none", "empty-dict"])
def test_from_json_missing_is_default(data: dict[str, Any] | None) -> None:
    assert DialogueState.from_json(data) == DialogueState()


def test_from_json_ignores_unknown_keys() -> None:
    data = {
        **DialogueState(customer_id=3, turns=4).to_json(),
        "legacy_field": "x",
        "__class__": "os.system",
        "": None,
    }
    assert DialogueState.from_json(data) == DialogueState(customer_id=3, turns=4)


def test_from_json_only_unknown_keys_is_default() -> None:
    assert DialogueState.from_json({"unexpected": 1}) == DialogueState()


def test_from_json_partial_dict_keeps_defaults() -> None:
    restored = DialogueState.from_json({"intent": "refund_status", "resolved": ["a"]})
    assert restored == DialogueState(intent=Intent.REFUND_STATUS, resolved=("a",))


def test_from_json_rejects_unknown_enum_value() -> None:
    with pytest.raises(ValueError):
        DialogueState.from_json({"intent": "delete_everything"})


def test_forget_order_clears_exactly_the_order_fields() -> None:
    forgotten = FULL.forget_order()
    cleared = {
        "order_number": None,
        "candidate_orders": (),
        "cancel_reason": None,
        "confirmation_for": None,
        "order_misses": 0,
    }
    for name, value in cleared.items():
        assert getattr(forgotten, name) == value, name
    # Everything else is kept as it was. pending_order_ref (a pre-authentication reference, not
    # the current order) is deliberately left out of this claim: see the report on forget_order.
    kept = [
        f.name
        for f in dataclasses.fields(DialogueState)
        if f.name not in cleared and f.name != "pending_order_ref"
    ]
    assert len(kept) == 11
    for name in kept:
        assert getattr(forgotten, name) == getattr(FULL, name), name


def test_forget_order_returns_new_state() -> None:
    forgotten = FULL.forget_order()
    assert forgotten is not FULL
    assert FULL.order_number == "#W1234567"


def test_update_changes_only_named_fields() -> None:
    updated = DialogueState().update(turns=3, awaiting=Awaiting.AUTH)
    assert updated == DialogueState(turns=3, awaiting=Awaiting.AUTH)


def test_update_unknown_field_raises() -> None:
    with pytest.raises(TypeError):
        DialogueState().update(no_such_field=1)
