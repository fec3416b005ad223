"""The generator's text layer: delexicalized targets, filled drafts, prompts within their window,
readable detokenization, and grounding that names every fact the store does not hold."""

from __future__ import annotations

from typing import Any

import pytest

from generator.codec import Codec
from generator.config import TINY, GeneratorConfig
from generator.data import (
    PromptParts,
    delexicalize,
    detokenize,
    lexicalize,
    prompt_parts,
    target_text,
)
from generator.grounding import StoreFacts, ground
from generator.model import load_tokenizer
from ranker.data import CUSTOMER, REP, RankTurn

SLOTS: dict[str, Any] = {
    "first_name": "Logan",
    "order_id": "#W7140544",
    "item_summary": "Brown Leather Hiking Boots, Size 7",
    "order_total": "$875.85",
    "refund_amount": "$875.85",
    "order_date": "January 30, 2026",
    "shipped_date": "February 1, 2026",
    "delivered_date": "February 6, 2026",
    "refund_method": "your Mastercard ending in 2556",
    "membership": "silver",
}
OPTIONS = [
    {"order_id": "#W7745705", "item_summary": "Board Game", "order_date": "October 9, 2026",
     "status": "delivered"},
    {"order_id": "#W9095433", "item_summary": "Camping Lantern and 2 more items",
     "order_date": "September 2, 2025", "status": "pending"},
]  # fmt: skip


@pytest.fixture(scope="module")
def codec() -> Codec:
    return Codec(load_tokenizer(TINY), TINY)


def test_delexicalize_puts_placeholders_for_values_longest_first() -> None:
    text = "Order #W7140544 reached you on February 6, 2026; $875.85 goes to your Mastercard ending in 2556."  # noqa: E501
    assert delexicalize(text, SLOTS) == (
        "Order [order_id] reached you on [delivered_date]; [order_total] goes to [refund_method]."
    )


def test_lexicalize_fills_from_the_slots_and_names_the_missing() -> None:
    text, missing = lexicalize(
        "Order [order_id] of [order_total], refunded on [refund_date].", SLOTS
    )
    assert text == "Order #W7140544 of $875.85, refunded on [refund_date]."
    assert missing == ("refund_date",)


def test_order_options_become_one_placeholder_and_render_back() -> None:
    reply = (
        "I see two: 1) #W7745705, Board Game (placed on October 9, 2026, status: delivered), "
        "2) #W9095433, Camping Lantern and 2 more items (placed on September 2, 2025, status: "
        "pending). Which one?"
    )
    delex = delexicalize(reply, {"order_options": OPTIONS})
    assert delex == "I see two: 1) [order_options]. Which one?"
    filled, missing = lexicalize(delex, {"order_options": OPTIONS})
    assert missing == ()
    assert "#W7745705 (Board Game, placed October 9, 2026, delivered)" in filled
    assert "#W9095433" in filled


def test_target_text_opens_with_the_act_token() -> None:
    assert target_text("closing", "Bye Logan!", SLOTS) == "[act_closing] Bye [first_name]!"


@pytest.mark.parametrize(
    ("pieces", "text"),
    [
        (
            ["i", "'", "ve", "cancelled", "order", "[order_id]", "."],
            "I've cancelled order [order_id].",
        ),
        (["it", "won", "'", "t", "ship", ",", "sorry", "!"], "It won't ship, sorry!"),
        (["thanks", "!", "bye", "for", "now", "."], "Thanks! Bye for now."),
        (["a", "5", "-", "7", "day", "wait", "(", "ok", ")"], "A 5-7 day wait (ok)"),
        (["hel", "##lo", "there"], "Hello there"),
        ([], ""),
    ],
    ids=["contraction", "negation", "sentences", "hyphen-parens", "wordpieces", "empty"],
)
def test_detokenize(pieces: list[str], text: str) -> None:
    assert detokenize(pieces) == text


def _turn(*utterances: str, facts: frozenset[str] = frozenset({"authenticated"})) -> RankTurn:
    context = tuple((CUSTOMER if i % 2 == 0 else REP, u) for i, u in enumerate(utterances))
    return RankTurn(
        context=context,
        facts=facts,
        slots=dict(SLOTS),
        profile={"membership": "silver", "tenure_days": 586, "orders": 1, "open_orders": 0,
                 "refunds": 0},
        tracker={"awaiting": "order", "last_act": "request_order", "intent": "cancel_order"},
    )  # fmt: skip


def test_prompt_holds_profile_facts_and_delexicalized_context() -> None:
    parts = prompt_parts(_turn("cancel #W7140544 please"))
    assert parts.head.startswith("profile: silver member, 586 days")
    assert "facts: authenticated" in parts.head and "slots: " in parts.head
    assert parts.utterances == ("customer: cancel [order_id] please",)


def test_no_profile_before_authentication_or_when_switched_off() -> None:
    unauth = prompt_parts(_turn("hi", facts=frozenset({"not_authenticated"})))
    assert "profile" not in unauth.head
    assert "profile" not in prompt_parts(_turn("hi"), use_profile=False).head


def test_context_past_the_window_drops_the_oldest_first(codec: Codec) -> None:
    parts = PromptParts(
        head="facts: none", utterances=tuple(f"customer: message {i} " * 6 for i in range(30))
    )
    ids = codec.prompt_ids(parts)
    assert len(ids) <= TINY.max_prompt_tokens
    text = codec.tok.decode(ids)
    assert "message 29" in text and "message 0 " not in text


def test_one_huge_message_keeps_its_end(codec: Codec) -> None:
    parts = PromptParts(head="facts: none", utterances=("customer: " + "word " * 5000 + "finale",))
    ids = codec.prompt_ids(parts)
    assert len(ids) <= TINY.max_prompt_tokens
    assert "finale" in codec.tok.decode(ids)


def test_empty_context_still_makes_a_prompt(codec: Codec) -> None:
    ids = codec.prompt_ids(PromptParts(head="", utterances=()))
    assert ids == [codec.cls_id, codec.end_id, codec.end_id]


def test_unknown_characters_become_unk_and_never_a_reply_token(codec: Codec) -> None:
    ids = codec.prompt_ids(PromptParts(head="", utterances=("customer: \U0001f9ff\U0001fae8",)))
    assert codec.tok.unk_token_id in ids
    vocab = codec.reply_vocab([[codec.tok.unk_token_id, 2000]])
    assert codec.tok.unk_token_id not in vocab.tolist() and 2000 in vocab.tolist()


def test_a_long_target_is_cut_without_its_end(codec: Codec) -> None:
    ids = codec.reply_ids("[act_closing] " + "bye " * 200)
    assert len(ids) == TINY.max_reply_tokens and ids[-1] != codec.end_id
    short = codec.reply_ids("[act_closing] bye")
    assert short[-1] == codec.end_id and short[0] == codec.act_ids["closing"]


def test_decoded_ids_give_the_act_and_readable_text(codec: Codec) -> None:
    ids = codec.reply_ids("[act_cancel_done] i've cancelled order [order_id].")[:-1]
    text = codec.text(ids)
    assert (text.act, text.text) == ("cancel_done", "I've cancelled order [order_id].")
    assert codec.text([]).act is None


def test_config_rejects_bad_values() -> None:
    with pytest.raises(ValueError, match="base"):
        GeneratorConfig(base="gpt9")
    with pytest.raises(ValueError, match="base_path"):
        GeneratorConfig(base="path")
    with pytest.raises(ValueError, match="unknown generator config"):
        GeneratorConfig.from_json({"layers": 2, "wings": 2})
    assert GeneratorConfig.from_json(TINY.to_json()) == TINY


# ---- grounding --------------------------------------------------------------------------------
AUTH = frozenset({"authenticated", "order_identified", "order_delivered"})
TITLES = frozenset({"brown leather hiking boots, size 7", "green solar led camping lantern"})


def _store(facts: frozenset[str] = AUTH, **kw: Any) -> StoreFacts:
    return StoreFacts(slots=dict(SLOTS), facts=facts, catalog_titles=TITLES, **kw)


@pytest.mark.parametrize(
    ("text", "store", "problems"),
    [
        ("Order #W7140544 reached you on February 6, 2026.", _store(), []),
        ("Your Brown Leather Hiking Boots, Size 7 were delivered on February 6, 2026.", _store(), []),  # noqa: E501
        ("$875.85 goes back to your Mastercard ending in 2556.", _store(), []),
        ("Order #W1111111 is on its way.", _store(), ["order id '#W1111111'"]),
        ("You'll get $12.00 back.", _store(), ["amount '$12.00'"]),
        ("It shipped on March 3, 2026.", _store(), ["date 'March 3, 2026'"]),
        ("The refund goes to your Visa ending in 4242.", _store(), ["refund method 'Visa ending in 4242'"]),  # noqa: E501
        ("Your Green Solar LED Camping Lantern is here.", _store(), ["names an item"]),
        ("I've cancelled order #W7140544.", _store(), ["claims a cancellation that did not run"]),
        ("I've cancelled order #W7140544.", _store(AUTH | {"cancel_confirmed"}, executed_action="cancel_order"), []),  # noqa: E501
        ("Your order has been cancelled.", _store(), ["states the order is cancelled"]),
        ("I can't cancel it: it was delivered on February 6, 2026.", _store(), []),
        ("Your order has been shipped.", _store(frozenset({"authenticated", "order_cancellable"})), ["states 'shipped'"]),  # noqa: E501
        ("Your refund was completed.", _store(), ["states 'refund completed'"]),
        ("Your refund on order #W7140544 has gone through.", _store(), ["states 'refund completed'"]),  # noqa: E501
        ("Your refund for #W7140544 is in progress.", _store(), ["states 'refund in progress'"]),  # noqa: E501
        ("Your refund for #W7140544 is in progress.", _store(AUTH | {"refund_in_progress"}), []),  # noqa: E501
        ("The return hasn't arrived yet.", _store(), ["states 'refund not started'"]),
        ("I've issued your refund.", _store(), ["claims to have issued a refund"]),
        ("I'm transferring you to a colleague now.", _store(), ["claims a hand-off"]),
        ("I'm transferring you to a colleague now.", _store(reply_action="handoff"), []),
        ("Order #W7140544, $875.85.", _store(frozenset({"not_authenticated"})), ["order id", "amount"]),  # noqa: E501
        ("Your order [order_id] is fine.", _store(), ["unfilled placeholder [order_id]"]),
        ("", _store(), ["empty draft"]),
        ("Gift cards are refunded at once.", _store(act="refund_policy"), []),
    ],
    ids=[
        "grounded", "item-and-status", "amount-and-method", "other-order", "wrong-amount",
        "wrong-date", "wrong-method", "other-item", "cancel-claim", "cancel-claim-ran",
        "cancelled-state", "negated", "shipped-not-held", "refund-not-held", "refund-through",
        "in-progress-not-held", "in-progress-held", "not-started-not-held", "refund-action",
        "handoff-claim", "handoff-real", "before-auth", "unfilled", "empty", "policy-method",
    ],
)  # fmt: skip
def test_grounding(text: str, store: StoreFacts, problems: list[str]) -> None:
    found = ground(text, store).problems
    assert len(found) == len(problems), found
    for expected, got in zip(problems, found, strict=True):
        assert expected in got


def test_an_unfinished_draft_is_never_grounded() -> None:
    assert ground("Hello there", _store(), finished=False).problems == ("the draft did not end",)
