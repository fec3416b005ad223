"""Baseline NLU: dialogue.nlu (entity patterns, intent classifier, order matching)."""

from __future__ import annotations

import csv
import re
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import pytest

from dialogue.domain import (
    CancelReason,
    OrderLine,
    OrderStatus,
    OrderView,
    PaymentKind,
    PaymentMethodView,
)
from dialogue.nlu import (
    SpellingNormalizer,
    default_classifier,
    match_orders_by_description,
    normalize_order_number,
    parse,
)

LABELS = (
    "affirm",
    "cancel_order",
    "deny",
    "goodbye",
    "greet",
    "human",
    "inform",
    "out_of_scope",
    "refund_status",
)
BITEXT_CSV = (
    Path(__file__).resolve().parents[2]
    / "shared"
    / "data"
    / "bitext_customer_support"
    / "commit_8b6ca3d"
    / "Bitext_Sample_Customer_Support_Training_Dataset.csv"
)
HOSTILE = {
    "empty": "",
    "whitespace": " \t\n ",
    "lone-surrogate": "\udc80",
    "surrogate-in-text": "cancel \udc80 order",
    "emoji-only": "😀🎉👍",
    "sql": "'; DROP TABLE orders; --",
    "template": "{{ 7*7 }}",
    "jinja-block": "{% for x in range(10**9) %}{% endfor %}",
    "html": "<script>alert(1)</script>",
    "controls": "\x00\x01\x1b[31m",
    "replacement-chars": "\ufffd" * 50,
    "100kb-words": "hello world " * 8500,
    "max-chars-token": "x" * 2000,
    "regex-meta": r".*+?[](){}|\\^$",
    "many-ats": "a@" * 1000,
    "rtl": "\u202eredro lecnac",
    "arabic-digits": "١٢٣٤٥٦٧",
}


# ---- order ids ---------------------------------------------------------------------------------
def test_normalize_order_number() -> None:
    assert normalize_order_number("1234567") == "#W1234567"


@pytest.mark.parametrize(
    ("text", "order_numbers", "unrecognized"),
    [
        ("#W1234567", ("#W1234567",), ()),
        ("w1234567", ("#W1234567",), ()),
        ("W-1234567", ("#W1234567",), ()),
        ("W 1234567", ("#W1234567",), ()),
        ("# W1234567", ("#W1234567",), ()),
        ("order #W1234567 please", ("#W1234567",), ()),
        ("it's (W1234567).", ("#W1234567",), ()),
        ("1234567", ("#W1234567",), ()),
        ("order 12345", (), ("12345",)),
        ("order #12345", (), ("12345",)),
        ("W12345678", (), ("W12345678",)),
        ("123456", (), ("123456",)),
        ("ABW1234567", (), ("ABW1234567",)),
        ("where is my refund", (), ()),
        ("", (), ()),
    ],
    ids=[
        "hash-w",
        "lower-w",
        "dash",
        "space",
        "hash-space",
        "in-sentence",
        "punctuated",
        "bare-digits",
        "short-order-ref",
        "short-hash-ref",
        "eight-digits",
        "six-digits",
        "letter-prefix",
        "none",
        "empty",
    ],
)
def test_order_id_extraction(
    text: str, order_numbers: tuple[str, ...], unrecognized: tuple[str, ...]
) -> None:
    result = parse(text)
    assert result.order_numbers == order_numbers
    assert result.unrecognized_order_refs == unrecognized


@pytest.mark.parametrize(
    "text",
    ["order 1234567", "my order is 1234567", "order number: 1234567", "order no. 1234567"],
    ids=["order-space", "order-is", "order-number-colon", "order-no"],
)
def test_order_word_then_seven_digits_is_an_order_id(text: str) -> None:
    result = parse(text)
    assert (result.order_numbers, result.unrecognized_order_refs) == (("#W1234567",), ())


def test_order_12345_is_an_unrecognized_ref_not_a_zip() -> None:
    result = parse("order 12345")
    assert result.zip_code is None
    assert result.unrecognized_order_refs == ("12345",)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("orders #W1234567 and W7654321 and #W1234567", ("#W1234567", "#W7654321")),
        ("W7654321 or maybe w1234567", ("#W7654321", "#W1234567")),
        ("W1234567,W7654321", ("#W1234567", "#W7654321")),
        ("1234567 and 7654321", ("#W1234567", "#W7654321")),
        ("7654321 then 1234567 then 7654321", ("#W7654321", "#W1234567")),
    ],
    ids=["dedupe", "keeps-order", "comma", "bare-pair", "bare-dedupe"],
)
def test_multiple_order_ids_keep_order_and_dedupe(text: str, expected: tuple[str, ...]) -> None:
    assert parse(text).order_numbers == expected


def test_prefixed_ids_win_over_bare_digits() -> None:
    # Once a W-prefixed id is present, bare 7-digit runs are not read as order ids.
    assert parse("#W1234567 not 7654321").order_numbers == ("#W1234567",)


def test_extracted_order_numbers_are_ascii_store_format() -> None:
    for number in parse("١٢٣٤٥٦٧").order_numbers:
        assert re.fullmatch(r"#W[0-9]{7}", number), number


# ---- email, zip, names --------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "email", "zip_code"),
    [
        ("my email is Jane.DOE@Example.COM", "jane.doe@example.com", None),
        ("jane+test@mail.example.co.uk", "jane+test@mail.example.co.uk", None),
        ("bob94107@example.com", "bob94107@example.com", None),
        ("zip 94107", None, "94107"),
        ("94107", None, "94107"),
        ("my zip code is 10001", None, "10001"),
        ("send it to 94107 and 10001", None, "94107"),
        ("#W1234567 and 94107", None, "94107"),
        ("941070", None, None),
        ("call 555-12345", None, None),
        ("jane@example", None, None),
        ("", None, None),
    ],
    ids=[
        "email-lowercased",
        "email-plus",
        "email-with-digits",
        "zip",
        "bare-zip",
        "zip-sentence",
        "first-zip",
        "zip-with-order",
        "six-digits",
        "dash-digits",
        "no-tld",
        "empty",
    ],
)
def test_email_and_zip(text: str, email: str | None, zip_code: str | None) -> None:
    result = parse(text)
    assert (result.email, result.zip_code) == (email, zip_code)


@pytest.mark.parametrize(
    ("text", "name", "bare_name"),
    [
        ("my name is jane doe", ("Jane", "Doe"), None),
        ("My name is Jane Doe and my zip is 94107", ("Jane", "Doe"), None),
        # "I am"/"this is" intros name only with capitals; lowercase counts when asked for a name
        ("I am Jane Doe", ("Jane", "Doe"), ("Jane", "Doe")),
        ("this is jane doe", None, ("Jane", "Doe")),
        ("name: Jane Doe", ("Jane", "Doe"), None),
        ("I'm Jane O'Neil, zip 94107", ("Jane", "O'neil"), ("Jane", "O'neil")),
        ("Jane Doe 94107", None, ("Jane", "Doe")),
        ("jane doe, 94107", None, ("Jane", "Doe")),
        ("jane doe zip code 94107", None, ("Jane", "Doe")),
        ("Jane-Marie Doe", None, ("Jane-marie", "Doe")),
        ("jane@example.com jane doe", None, None),
        ("jane", None, None),
        ("jane doe smith", None, None),
        ("no thanks", None, None),
        ("yes please", None, None),
        ("thank you", None, None),
        ("go ahead", None, None),
        ("good morning", None, None),
        ("not right", None, None),
        ("hello there", None, None),
        ("", None, None),
    ],
    ids=[
        "my-name-is",
        "name-and-zip",
        "i-am",
        "this-is",
        "name-colon",
        "apostrophe",
        "bare-with-zip",
        "bare-comma-zip",
        "bare-zip-code",
        "hyphenated",
        "email-wins",
        "one-word",
        "three-words",
        "no-thanks",
        "yes-please",
        "thank-you",
        "go-ahead",
        "good-morning",
        "not-right",
        "hello-there",
        "empty",
    ],
)
def test_names(text: str, name: tuple[str, str] | None, bare_name: tuple[str, str] | None) -> None:
    result = parse(text)
    assert (result.name, result.bare_name) == (name, bare_name)


@pytest.mark.parametrize(
    "text", ["it's taking forever", "i'm still waiting"], ids=["its-taking", "im-still"]
)
def test_complaints_are_not_names(text: str) -> None:
    assert parse(text).name is None


# ---- cancel reasons, ordinals, "last order" ------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("I ordered it by mistake", CancelReason.ORDERED_BY_MISTAKE),
        ("bought the wrong size", CancelReason.ORDERED_BY_MISTAKE),
        ("it was a duplicate order", CancelReason.ORDERED_BY_MISTAKE),
        ("found a better deal elsewhere", CancelReason.FOUND_BETTER_PRICE),
        ("it's cheaper on another site", CancelReason.FOUND_BETTER_PRICE),
        ("shipping is taking forever", CancelReason.TOO_SLOW),
        ("it won't arrive in time", CancelReason.TOO_SLOW),
        ("I no longer need it", CancelReason.NO_LONGER_NEEDED),
        ("changed my mind", CancelReason.NO_LONGER_NEEDED),
        ("don't want it anymore", CancelReason.NO_LONGER_NEEDED),
        ("I don't want it, found it cheaper", CancelReason.FOUND_BETTER_PRICE),
        ("where is my refund", None),
        ("cancel my order", None),
        ("", None),
    ],
    ids=[
        "mistake",
        "wrong-size",
        "duplicate",
        "better-deal",
        "cheaper",
        "taking-forever",
        "in-time",
        "no-longer-need",
        "changed-mind",
        "dont-want",
        "price-beats-unwanted",
        "refund",
        "no-reason",
        "empty",
    ],
)
def test_cancel_reason(text: str, expected: CancelReason | None) -> None:
    assert parse(text).cancel_reason == expected


@pytest.mark.parametrize(
    "text",
    ["cancel my latest order", "cancel the chocolate box", "the plate set"],
    ids=["latest", "chocolate", "plate"],
)
def test_no_cancel_reason_inside_other_words(text: str) -> None:
    assert parse(text).cancel_reason is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the second one", 1),
        ("2", 1),
        ("the first one", 0),
        ("1", 0),
        ("#2", 1),
        ("2.", 1),
        ("3rd", 2),
        ("SECOND", 1),
        ("fifth", 4),
        ("5", 4),
        ("6", None),
        ("22", None),
        ("0", None),
        ("where is my refund", None),
        ("", None),
    ],
    ids=[
        "second-one",
        "digit-2",
        "first-one",
        "digit-1",
        "hash-2",
        "dot-2",
        "3rd",
        "upper",
        "fifth",
        "digit-5",
        "digit-6",
        "22",
        "0",
        "none",
        "empty",
    ],
)
def test_ordinal(text: str, expected: int | None) -> None:
    assert parse(text).ordinal == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("my last order", True),
        ("the latest one", True),
        ("most recent purchase", True),
        ("the newest order", True),
        ("LAST ORDER", True),
        ("the blue bottle", False),
        ("lastly", False),
        ("", False),
    ],
    ids=["last", "latest", "most-recent", "newest", "upper", "none", "lastly", "empty"],
)
def test_mentions_last_order(text: str, expected: bool) -> None:
    assert parse(text).mentions_last_order is expected


# ---- intents ------------------------------------------------------------------------------------
def test_classifier_labels() -> None:
    assert default_classifier().labels == LABELS


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("could you tell me where my refund is", "refund_status"),
        ("has the money for my return come back yet", "refund_status"),
        ("I returned the shoes two weeks ago and still no refund", "refund_status"),
        ("when will my refund arrive", "refund_status"),
        ("please cancel the order I placed yesterday", "cancel_order"),
        ("I'd like to cancel my order please", "cancel_order"),
        ("I don't want the jacket anymore, can you cancel it", "cancel_order"),
        ("yes", "affirm"),
        ("yes, that's correct", "affirm"),
        ("yes go ahead and cancel", "affirm"),
        ("no", "deny"),
        ("no, don't cancel it", "deny"),
        ("nope, keep it", "deny"),
        ("not that order", "deny"),
        ("good morning team", "greet"),
        ("thanks so much, bye", "goodbye"),
        ("that's all I needed, thank you", "goodbye"),
        ("get me a human", "human"),
        ("can I speak with a real person", "human"),
        ("I want to talk to a representative", "human"),
        ("transfer me to an agent now", "human"),
        ("I need to change my delivery address", "out_of_scope"),
        ("how do I reset my password", "out_of_scope"),
        ("I was double charged for my order", "out_of_scope"),
    ],
    ids=[
        "refund-where",
        "refund-money-back",
        "refund-returned-shoes",
        "refund-when",
        "cancel-yesterday",
        "cancel-id-like",
        "cancel-jacket",
        "yes",
        "yes-correct",
        "yes-go-ahead",
        "no",
        "no-dont-cancel",
        "nope-keep",
        "not-that-order",
        "greet-team",
        "bye",
        "thats-all",
        "human",
        "real-person",
        "representative",
        "transfer-agent",
        "oos-address",
        "oos-password",
        "oos-double-charge",
    ],
)
def test_intent_clear_utterances(text: str, expected: str) -> None:
    result = parse(text)
    assert result.intent == expected


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_parse_never_raises_on_hostile_input(text: str) -> None:
    result = parse(text)
    assert result.intent in (*LABELS, "unknown")
    assert 0.0 <= result.confidence <= 1.0
    assert result.text == text
    assert result.order_numbers == tuple(dict.fromkeys(result.order_numbers))


@pytest.mark.parametrize(
    "text",
    ["", "   ", "\udc80", "😀🎉👍", "\ufffd\ufffd"],
    ids=["empty", "whitespace", "lone-surrogate", "emoji", "replacement-chars"],
)
def test_parse_without_words_is_unknown_and_extracts_nothing(text: str) -> None:
    result = parse(text)
    assert result.intent == "unknown"
    assert (
        result.order_numbers,
        result.unrecognized_order_refs,
        result.email,
        result.zip_code,
        result.name,
        result.bare_name,
        result.cancel_reason,
        result.mentions_last_order,
        result.ordinal,
    ) == ((), (), None, None, None, None, None, False, None)


# ---- order matching -----------------------------------------------------------------------------
CARD = PaymentMethodView(id=1, kind=PaymentKind.CREDIT_CARD, label="Visa ending 4242")


def make_line(title: str, category: str, **attributes: str) -> OrderLine:
    return OrderLine(
        title=title,
        category=category,
        attributes=tuple(attributes.items()),
        quantity=1,
        unit_price=Decimal("25.00"),
    )


def make_order(number: str, *lines: OrderLine) -> OrderView:
    return OrderView(
        id=int(number[2:]),
        order_number=number,
        customer_id=7,
        status=OrderStatus.PENDING,
        total=Decimal("25.00"),
        placed_at=datetime(2026, 3, 1, 12, 0),
        payment=CARD,
        lines=lines,
    )


BLUE_BOTTLE = make_order(
    "#W0000001",
    make_line("Stainless Steel Water Bottle", "water bottle", color="blue", capacity="750ml"),
)
HEADPHONES = make_order("#W0000002", make_line("Wireless Headphones", "headphones", color="black"))
RED_BOTTLE = make_order(
    "#W0000003",
    make_line("Stainless Steel Water Bottle", "water bottle", color="red", capacity="1000ml"),
)
LAMP = make_order("#W0000004", make_line("Desk Lamp", "lamp", color="white"))
ORDERS = (BLUE_BOTTLE, HEADPHONES, RED_BOTTLE, LAMP)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the blue water bottle", (BLUE_BOTTLE,)),
        ("the water bottle", (BLUE_BOTTLE, RED_BOTTLE)),
        ("headphones", (HEADPHONES,)),
        ("my headphone", (HEADPHONES,)),
        ("the red one", (RED_BOTTLE,)),
        ("BLUE", (BLUE_BOTTLE,)),
        ("bottles", (BLUE_BOTTLE, RED_BOTTLE)),
        ("the 1000ml one", (RED_BOTTLE,)),
        ("blue headphones", (BLUE_BOTTLE, HEADPHONES)),
        ("lamp and headphones", (HEADPHONES, LAMP)),
        ("nothing relevant here", ()),
        ("the", ()),
        ("", ()),
        ("'; DROP TABLE orders; --", ()),
        ("{{ 7*7 }}", ()),
        ("<script>alert(1)</script>", ()),
    ],
    ids=[
        "blue-bottle",
        "bottle-tie",
        "headphones",
        "singular",
        "red-one",
        "uppercase",
        "plural",
        "attribute",
        "cross-tie",
        "two-items-tie",
        "irrelevant",
        "stopword-only",
        "empty",
        "sql",
        "template",
        "html",
    ],
)
def test_match_orders_by_description(text: str, expected: tuple[OrderView, ...]) -> None:
    assert match_orders_by_description(text, ORDERS) == expected


def test_match_orders_ties_keep_input_order() -> None:
    reversed_orders = (LAMP, RED_BOTTLE, HEADPHONES, BLUE_BOTTLE)
    assert match_orders_by_description("the water bottle", reversed_orders) == (
        RED_BOTTLE,
        BLUE_BOTTLE,
    )


@pytest.mark.parametrize(
    "text", ["headphones", "", "the blue water bottle"], ids=["hit", "empty", "multi"]
)
def test_match_orders_without_orders(text: str) -> None:
    assert match_orders_by_description(text, ()) == ()


def test_match_orders_single_order() -> None:
    assert match_orders_by_description("water bottle", (RED_BOTTLE,)) == (RED_BOTTLE,)
    assert match_orders_by_description("headphones", (RED_BOTTLE,)) == ()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("the blue bottle, #W1234567", "the blue bottle,"),
        ("jean.doyle@example.com", ""),
        ("my name is Jane Doe, zip 94107, the red one", ", zip , the red one"),
        ("the   water\tbottle", "the water bottle"),
        ("", ""),
    ],
    ids=["order-id", "email", "stated-name-and-zip", "whitespace", "empty"],
)
def test_description_text_drops_identity_details(text: str, expected: str) -> None:
    assert parse(text).description_text == expected


def test_email_never_describes_an_order() -> None:
    jeans = make_order("#W0000005", make_line("Slim Fit Jeans", "jeans", color="indigo"))
    description = parse("it's jean.doyle@example.com").description_text
    assert match_orders_by_description(description, (jeans, LAMP)) == ()
    # The raw text would have matched: this is what description_text is for.
    assert match_orders_by_description("jean.doyle@example.com", (jeans, LAMP)) == (jeans,)


# ---- outside sample (Bitext) --------------------------------------------------------------------
BITEXT_TO_LABEL = {
    "cancel_order": "cancel_order",
    "track_refund": "refund_status",
    "contact_human_agent": "human",
}
# Measured (dialogue/nlu.py masking only order ids and emails; phrase bank with numbers in the
# refund and cancel stems): cancel_order 0.971, track_refund 0.984, contact_human_agent 0.845.
# History: masking every digit run as "num" had dropped these to 0.698 / 0.363 / 0.851, because
# only "inform" phrases carried numbers. Floors sit safely below the measured values.
BITEXT_FLOORS = {"cancel_order": 0.90, "track_refund": 0.90, "contact_human_agent": 0.75}


def test_bitext_outside_sample_accuracy() -> None:
    if not BITEXT_CSV.is_file():
        pytest.skip(f"Bitext sample not present at {BITEXT_CSV}")
    with BITEXT_CSV.open(newline="", encoding="utf-8") as handle:
        rows = [r for r in csv.DictReader(handle) if r["intent"] in BITEXT_TO_LABEL]
    classifier = default_classifier()
    accuracies: dict[str, float] = {}
    for bitext_intent, label in BITEXT_TO_LABEL.items():
        texts = [r["instruction"] for r in rows if r["intent"] == bitext_intent]
        assert len(texts) >= 100, bitext_intent
        correct = sum(classifier.predict(t.lower())[0] == label for t in texts)
        accuracies[bitext_intent] = correct / len(texts)
    print("Bitext accuracy:", {k: round(v, 3) for k, v in accuracies.items()})
    for bitext_intent, floor in BITEXT_FLOORS.items():
        assert accuracies[bitext_intent] >= floor, (bitext_intent, accuracies)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("i want to cancle my ordr", "i want to cancel my order"),
        ("wheres my refnd", "wheres my refund"),
        ("benjamin peterson", "benjamin peterson"),
        ("cancel", "cancel"),
        ("abc", "abc"),
        ("", ""),
    ],
    ids=["transposition-and-drop", "dropped-letter", "names-untouched", "known", "short", "empty"],
)
def test_spelling_normalizer(text: str, expected: str) -> None:
    normalizer = SpellingNormalizer(
        {"i", "want", "to", "cancel", "my", "order", "refund", "person"}
    )
    assert normalizer(text) == expected


@pytest.mark.parametrize(
    ("text", "intent"),
    [("hey, i need to cancle something", "cancel_order"), ("wheres my refnd", "refund_status")],
    ids=["cancle", "refnd"],
)
def test_misspelt_intents_are_recognised(text: str, intent: str) -> None:
    assert parse(text).intent == intent
