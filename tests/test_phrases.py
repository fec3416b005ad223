"""The simulated customers' phrase bank (placeholders, outside widening) and typing noise."""

from __future__ import annotations

import random
import re
import string
from collections.abc import Mapping
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialogue.nlu_bank import training_phrases
from simulator.phrases import (
    PHRASE_BANK_VERSION,
    PhraseBank,
    add_noise,
    load_phrase_bank,
    protected_tokens,
)

DUMMIES = {
    "order_ref": "#W1234567",
    "order_id": "#W7654321",
    "email": "jane.doe@example.com",
    "first_name": "Jane",
    "last_name": "Doe",
    "zip_code": "90210",
    "description": "the blue water bottle",
}
PLACEHOLDER = re.compile(r"\{(\w+)\}")

# field -> (placeholders every phrase must hold, placeholders a phrase may hold)
TUPLE_FIELDS: dict[str, tuple[frozenset[str], frozenset[str]]] = {
    "auth_email": (frozenset({"email"}),) * 2,
    "auth_name_zip": (frozenset({"first_name", "last_name", "zip_code"}),) * 2,
    "auth_name_only": (frozenset({"first_name", "last_name"}),) * 2,
    "zip_only": (frozenset({"zip_code"}),) * 2,
    "order_by_id": (frozenset({"order_id"}),) * 2,
    "order_by_description": (frozenset({"description"}),) * 2,
    "order_last": (frozenset(), frozenset()),
    "confirm_yes": (frozenset(), frozenset()),
    "confirm_no": (frozenset(), frozenset()),
    "closing": (frozenset(), frozenset()),
    "ask_human": (frozenset(), frozenset()),
    "question_back": (frozenset(), frozenset()),
    "wrong_order_reply": (frozenset(), frozenset()),
    "silence": (frozenset(), frozenset()),
}
MAPPING_FIELDS: dict[str, tuple[frozenset[str], frozenset[str], frozenset[str]]] = {
    # field -> (keys, required placeholders, allowed placeholders)
    "openers": (frozenset({"refund_status", "cancel_order"}), frozenset(), frozenset()),
    "openers_with_order": (
        frozenset({"refund_status", "cancel_order"}),
        frozenset({"order_ref"}),
        frozenset({"order_ref"}),
    ),
    "out_of_scope": (
        frozenset({"change_address", "dispute_charge", "change_payment", "product_question"}),
        frozenset(),
        frozenset(),
    ),
    "reasons": (
        frozenset({"no_longer_needed", "ordered_by_mistake", "better_price", "too_slow", "other"}),
        frozenset(),
        frozenset(),
    ),
    "switch_intent": (
        frozenset({"refund_status", "cancel_order"}),
        frozenset(),
        frozenset({"order_ref"}),
    ),
}
# The only replies the bank shares with the NLU training phrases: a bare yes and no.
SHARED_WITH_NLU = frozenset({"yes", "no"})

PROTECTED_SAMPLE = (
    "Hi!!! My order #W1234567, email jane.doe@example.com, zip 90210 - Refund please?"
)


@pytest.fixture(scope="module")
def project_bank(tmp_path_factory: pytest.TempPathFactory) -> PhraseBank:
    return load_phrase_bank(tmp_path_factory.mktemp("no_shared_data"))


def _check_phrases(
    phrases: tuple[str, ...], required: frozenset[str], allowed: frozenset[str]
) -> None:
    assert phrases
    assert all(isinstance(p, str) for p in phrases)
    for phrase in phrases:
        names = set(PLACEHOLDER.findall(phrase))
        assert required <= names, phrase
        assert names <= allowed, phrase
        filled = phrase.format(**DUMMIES)
        assert "{" not in filled and "}" not in filled, phrase


def _normalise(text: str) -> str:
    kept = "".join(" " if ch in string.punctuation else ch for ch in text.lower())
    return " ".join(kept.replace("’", "").split())


def _all_phrases(bank: PhraseBank) -> list[str]:
    phrases: list[str] = []
    for name in TUPLE_FIELDS:
        phrases += getattr(bank, name)
    for name in MAPPING_FIELDS:
        mapping: Mapping[str, tuple[str, ...]] = getattr(bank, name)
        for values in mapping.values():
            phrases += values
    return phrases


# ---- the bank ---------------------------------------------------------------------------------
def test_version_is_a_non_empty_string() -> None:
    assert isinstance(PHRASE_BANK_VERSION, str) and PHRASE_BANK_VERSION


@pytest.mark.parametrize("field", sorted(TUPLE_FIELDS), ids=sorted(TUPLE_FIELDS))
def test_tuple_field_placeholders(project_bank: PhraseBank, field: str) -> None:
    required, allowed = TUPLE_FIELDS[field]
    _check_phrases(getattr(project_bank, field), required, allowed)


@pytest.mark.parametrize("field", sorted(MAPPING_FIELDS), ids=sorted(MAPPING_FIELDS))
def test_mapping_field_keys_and_placeholders(project_bank: PhraseBank, field: str) -> None:
    keys, required, allowed = MAPPING_FIELDS[field]
    mapping: Mapping[str, tuple[str, ...]] = getattr(project_bank, field)
    assert set(mapping) == keys
    for key in sorted(keys):
        _check_phrases(mapping[key], required, allowed)


def test_switch_intent_has_phrases_with_and_without_order(project_bank: PhraseBank) -> None:
    for issue, phrases in project_bank.switch_intent.items():
        assert any("{order_ref}" in p for p in phrases), issue
        assert any("{order_ref}" not in p for p in phrases), issue


def test_silence_includes_the_empty_message(project_bank: PhraseBank) -> None:
    assert "" in project_bank.silence


def test_description_phrases_add_no_second_article(project_bank: PhraseBank) -> None:
    for phrase in project_bank.order_by_description:
        assert "the the " not in phrase.format(**DUMMIES).lower(), phrase


def test_no_duplicates_within_a_field(project_bank: PhraseBank) -> None:
    for name in TUPLE_FIELDS:
        phrases: tuple[str, ...] = getattr(project_bank, name)
        assert len({p.casefold() for p in phrases}) == len(phrases), name
    for name in MAPPING_FIELDS:
        mapping: Mapping[str, tuple[str, ...]] = getattr(project_bank, name)
        for key, values in mapping.items():
            assert len({p.casefold() for p in values}) == len(values), (name, key)


def test_bank_shares_no_phrase_with_the_nlu_training_set(project_bank: PhraseBank) -> None:
    # Bare values ("{order_id}", "{first_name} {last_name}") are data, not phrasing: left out.
    training = {_normalise(text) for text, _ in training_phrases()}
    mine = {
        _normalise(p.format(**DUMMIES))
        for p in _all_phrases(project_bank)
        if _normalise(PLACEHOLDER.sub("", p))
    }
    assert mine & training == SHARED_WITH_NLU


def test_without_shared_data_only_project_phrases(tmp_path: Path) -> None:
    bank = load_phrase_bank(tmp_path)
    assert dict(bank.sources) == {
        "project": len(_all_phrases(bank)),
        "bitext": 0,
        "banking77": 0,
    }
    assert bank == load_phrase_bank(None) == load_phrase_bank(tmp_path / "missing")


def test_shared_data_with_one_dataset_missing(tmp_path: Path) -> None:
    (tmp_path / "banking77").mkdir()
    (tmp_path / "banking77" / "train.csv").write_text(
        "text,category\n"
        "Why is my refund not in my account?,Refund_not_showing_up\n"
        "WHY is my refund not in my account?,Refund_not_showing_up\n"
        "refund {oops} missing,Refund_not_showing_up\n"
        "my card has not arrived,card_arrival\n",
        encoding="utf-8",
    )
    bank = load_phrase_bank(tmp_path)
    assert dict(bank.sources)["bitext"] == 0 and dict(bank.sources)["banking77"] == 1
    assert bank.openers["refund_status"][-1] == "Why is my refund not in my account?"


def test_bitext_order_numbers_map_to_order_ref(tmp_path: Path) -> None:
    folder = tmp_path / "bitext_customer_support" / "v1"
    folder.mkdir(parents=True)
    (folder / "sample.csv").write_text(
        "instruction,intent,entity_type,entity_value,start_offset,end_offset\n"
        "cancel purchase  00123842 now,cancel_order,order_id,123842,17,25\n"
        "kill order {{Order Number}},cancel_order,,,,\n"
        "cancel {{Account Type}} order,cancel_order,,,,\n"
        "where is my refund of $12,track_refund,,,,\n"
        "how do I get a refund,get_refund,,,,\n"
        f"{'cancel my order ' * 20},cancel_order,,,,\n",
        encoding="utf-8",
    )
    bank = load_phrase_bank(tmp_path)
    assert bank.openers_with_order["cancel_order"][-2:] == (
        "cancel purchase {order_ref} now",
        "kill order {order_ref}",
    )
    assert bank.openers["refund_status"][-1] == "where is my refund of $12"
    assert dict(bank.sources)["bitext"] == 3


def test_shared_data_widens_the_openers(shared_data: Path) -> None:
    bank = load_phrase_bank(shared_data)
    project = load_phrase_bank(None)
    assert bank.sources["project"] == project.sources["project"]
    assert bank.sources["bitext"] > 100
    assert bank.sources["banking77"] > 20
    added = sum(len(v) for v in bank.openers.values()) + sum(
        len(v) for v in bank.openers_with_order.values()
    )
    base = sum(len(v) for v in project.openers.values()) + sum(
        len(v) for v in project.openers_with_order.values()
    )
    assert added - base == bank.sources["bitext"] + bank.sources["banking77"]
    assert len(bank.openers_with_order["cancel_order"]) > len(
        project.openers_with_order["cancel_order"]
    )
    for field in ("openers", "openers_with_order"):
        keys, required, allowed = MAPPING_FIELDS[field]
        mapping: Mapping[str, tuple[str, ...]] = getattr(bank, field)
        for key in sorted(keys):
            phrases = mapping[key]
            _check_phrases(phrases, required, allowed)
            assert not any("{{" in p or len(p) > 300 for p in phrases)
            assert len({" ".join(p.casefold().split()) for p in phrases}) == len(phrases)
    assert load_phrase_bank(shared_data) is bank  # cached per folder


# ---- typing noise -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    "text",
    ["", "Hello, World!", PROTECTED_SAMPLE, "  spaced   out\tTEXT?  ", "naïve café — «quoted»"],
    ids=["empty", "hello", "protected", "whitespace", "unicode"],
)
def test_no_noise_is_the_identity(text: str) -> None:
    rng = random.Random(3)
    state = rng.getstate()
    assert add_noise(text, rng, typo_rate=0.0, lowercase=False, drop_punctuation=False) == text
    assert rng.getstate() == state


@pytest.mark.parametrize(
    "token",
    ["#W1234567", "jane.doe@example.com", "90210", "1234567", "W7654321"],
    ids=["order_id", "email", "zip", "bare_7_digits", "bare_w_id"],
)
@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4], ids=lambda s: f"seed{s}")
def test_protected_tokens_survive_heavy_noise(token: str, seed: int) -> None:
    text = f"Please, look-up this: {token}. Thanks a LOT!"
    noisy = add_noise(
        text, random.Random(seed), typo_rate=1.0, lowercase=True, drop_punctuation=True
    )
    assert token in noisy.split()
    assert protected_tokens(noisy) == protected_tokens(text) == (token,)


def test_heavy_noise_changes_every_long_word_and_no_short_one() -> None:
    text = "Where is the refund for my order"
    noisy = add_noise(
        text, random.Random(7), typo_rate=1.0, lowercase=False, drop_punctuation=False
    )
    pairs = list(zip(text.split(), noisy.split(), strict=True))
    assert [a == b for a, b in pairs] == [False, True, True, False, True, True, False]


@pytest.mark.parametrize(
    ("text", "lowercase", "drop_punctuation", "expected"),
    [
        ("Where IS my Refund?", True, False, "where is my refund?"),
        ("Where IS my Refund?", False, True, "Where IS my Refund"),
        ("Hi, I don't know... #W1234567!", True, True, "hi i dont know #W1234567"),
        ("Email: Jane.Doe@Example.com.", True, True, "email Jane.Doe@Example.com"),
        ("zip:90210,ok", False, True, "zip 90210 ok"),
        ("a well-known e-mail", False, True, "a wellknown email"),
    ],
    ids=["lowercase", "punctuation", "both", "email_kept", "no_glue", "inner_hyphen"],
)
def test_case_and_punctuation_flags(
    text: str, lowercase: bool, drop_punctuation: bool, expected: str
) -> None:
    noisy = add_noise(
        text,
        random.Random(0),
        typo_rate=0.0,
        lowercase=lowercase,
        drop_punctuation=drop_punctuation,
    )
    assert noisy == expected


def test_same_seed_same_output() -> None:
    text = "Hello there, I would like to cancel something I purchased yesterday afternoon"

    def noisy(seed: int) -> str:
        return add_noise(
            text, random.Random(seed), typo_rate=0.5, lowercase=True, drop_punctuation=True
        )

    assert noisy(42) == noisy(42)
    assert len({noisy(seed) for seed in range(10)}) > 1


@pytest.mark.parametrize("rate", [-0.1, 1.5], ids=["negative", "above_one"])
def test_typo_rate_out_of_range_is_rejected(rate: float) -> None:
    with pytest.raises(ValueError, match="typo_rate"):
        add_noise(
            "hello", random.Random(0), typo_rate=rate, lowercase=False, drop_punctuation=False
        )


FRAGMENTS = st.sampled_from(
    [
        "#W1234567",
        "W7654321",
        "#w1111111",
        "1234567",
        "90210",
        "02134",
        "jane.doe@example.com",
        "Bob_O-Neil+x@mail.example.org",
        "refund",
        "cancel",
        "PLEASE",
        "don't",
        "order#W2222222",
        "#W12345678",
        "zip:",
        ",",
        "...",
        "@",
        "#",
        "K",
        "İ",
        "😡",
        "\udc80",
    ]
)
TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=12).map("".join),
    st.lists(st.one_of(FRAGMENTS, st.text(max_size=8)), max_size=12).map(" ".join),
)


@settings(max_examples=300, derandomize=True, deadline=None)
@given(
    text=TEXT,
    seed=st.integers(min_value=0, max_value=2**32),
    typo_rate=st.floats(min_value=0.0, max_value=1.0),
    lowercase=st.booleans(),
    drop_punctuation=st.booleans(),
)
def test_noise_never_raises_and_keeps_protected_tokens(
    text: str, seed: int, typo_rate: float, lowercase: bool, drop_punctuation: bool
) -> None:
    noisy = add_noise(
        text,
        random.Random(seed),
        typo_rate=typo_rate,
        lowercase=lowercase,
        drop_punctuation=drop_punctuation,
    )
    assert isinstance(noisy, str)
    assert protected_tokens(noisy) == protected_tokens(text)
    again = add_noise(
        text,
        random.Random(seed),
        typo_rate=typo_rate,
        lowercase=lowercase,
        drop_punctuation=drop_punctuation,
    )
    assert again == noisy
