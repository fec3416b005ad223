"""Customer-message hygiene: dialogue.text.clean_message."""

from __future__ import annotations

import pytest

from dialogue.text import STORED_PREFIX_CHARS, CustomerMessage, InputProblem, clean_message

MAX = 2000
HUNDRED_KB = 100_000
TRUNCATION_NOTE_MAX = 64  # " [truncated: NNN characters in all]" and then some


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("where is my refund?", "where is my refund?"),
        ("  Hello,   world \n", "Hello, world"),
        ("line one\nline two\tend", "line one line two end"),
        ("Cancel #W1234567 please", "Cancel #W1234567 please"),
        ("'; DROP TABLE orders; --", "'; DROP TABLE orders; --"),
        ("{{ 7*7 }}", "{{ 7*7 }}"),
        ("<script>alert(1)</script>", "<script>alert(1)</script>"),
        ("café crème", "café crème"),
        ("x", "x"),
    ],
    ids=[
        "plain",
        "collapse-ws",
        "newline-tab",
        "order-id",
        "sql",
        "template",
        "html",
        "accents",
        "one",
    ],
)
def test_clean_message_normal_text(raw: str, expected: str) -> None:
    assert clean_message(raw, max_chars=MAX) == CustomerMessage(text=expected, stored=expected)


@pytest.mark.parametrize(
    "raw",
    ["", " ", "   \n\t  ", "\u00a0\u2003", "\x00\x01\x1f", "\u200d\u200b", b"", b"  \r\n "],
    ids=[
        "empty",
        "space",
        "mixed-ws",
        "unicode-spaces",
        "controls-only",
        "zero-width-only",
        "empty-bytes",
        "ws-bytes",
    ],
)
def test_clean_message_empty(raw: str | bytes) -> None:
    assert clean_message(raw, max_chars=MAX) == CustomerMessage(
        text="", stored="", problem=InputProblem.EMPTY
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("a\x00b\x07c\x1bd", "a b c d"),
        ("refund\x7fstatus", "refund status"),
        ("ab\u200bcd", "ab cd"),
        ("\ufeffhello", "hello"),
        ("zip\u0085 94107", "zip 94107"),
        ("keep\ttabs\nand\rnewlines", "keep tabs and newlines"),
    ],
    ids=["c0", "del", "zero-width", "bom", "c1-nel", "tab-nl-cr"],
)
def test_clean_message_strips_control_characters(raw: str, expected: str) -> None:
    message = clean_message(raw, max_chars=MAX)
    assert message == CustomerMessage(text=expected, stored=expected)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("ｆｕｌｌｗｉｄｔｈ", "fullwidth"),
        ("Ｗ１２３４５６７", "W1234567"),
        ("\ufb01le", "file"),
        ("①②", "12"),
        ("cafe\u0301", "café"),
        ("x\u00b2", "x2"),
    ],
    ids=[
        "fullwidth",
        "fullwidth-order-id",
        "ligature",
        "circled-digits",
        "combining",
        "superscript",
    ],
)
def test_clean_message_nfkc(raw: str, expected: str) -> None:
    assert clean_message(raw, max_chars=MAX).text == expected


def test_clean_message_100kb_is_too_long_with_bounded_prefix() -> None:
    message = clean_message("a" * HUNDRED_KB, max_chars=MAX)
    assert message.problem == InputProblem.TOO_LONG
    assert message.text == ""
    assert message.stored == "a" * STORED_PREFIX_CHARS + " [truncated: 100000 characters in all]"
    assert len(message.stored) <= STORED_PREFIX_CHARS + TRUNCATION_NOTE_MAX


def test_clean_message_100kb_of_words_counts_after_normalising() -> None:
    raw = "refund   " * (HUNDRED_KB // 9)  # 11111 words, single-spaced: 77776 characters
    message = clean_message(raw, max_chars=MAX)
    assert message.problem == InputProblem.TOO_LONG
    assert message.text == ""
    assert message.stored.startswith("refund refund ")
    assert message.stored.endswith(" [truncated: 77776 characters in all]")
    assert len(message.stored) <= STORED_PREFIX_CHARS + TRUNCATION_NOTE_MAX


def test_clean_message_100kb_bytes_too_long() -> None:
    message = clean_message(b"\xff" * HUNDRED_KB, max_chars=MAX)
    assert message.problem == InputProblem.TOO_LONG
    assert message.stored == "\ufffd" * STORED_PREFIX_CHARS + (
        " [truncated: 100000 characters in all]"
    )


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"caf\xc3\xa9", CustomerMessage(text="café", stored="café")),
        (b"\xff\xfehello", CustomerMessage(text="\ufffd\ufffdhello", stored="\ufffd\ufffdhello")),
        (b"\xff\xfe\xfd", CustomerMessage("", "\ufffd\ufffd\ufffd", InputProblem.UNREADABLE)),
        (b"\xc3", CustomerMessage("", "\ufffd", InputProblem.UNREADABLE)),
        (b"\xed\xb2\x80", CustomerMessage("", "\ufffd\ufffd\ufffd", InputProblem.UNREADABLE)),
        (b"ok \x80\x81", CustomerMessage(text="ok \ufffd\ufffd", stored="ok \ufffd\ufffd")),
    ],
    ids=[
        "valid-bytes",
        "bad-prefix",
        "all-bad",
        "truncated-seq",
        "encoded-surrogate",
        "bad-suffix",
    ],
)
def test_clean_message_invalid_utf8_bytes(raw: bytes, expected: CustomerMessage) -> None:
    assert clean_message(raw, max_chars=MAX) == expected


@pytest.mark.parametrize(
    "raw",
    ["😀", "😀🎉👍", "🙂 🙂 🙂", "👍🏽", "❤️", "!!!", "... ???"],
    ids=["one-emoji", "emojis", "spaced-emojis", "skin-tone", "heart-vs16", "bangs", "punct"],
)
def test_clean_message_without_letters_is_unreadable(raw: str) -> None:
    message = clean_message(raw, max_chars=MAX)
    assert message.problem == InputProblem.UNREADABLE
    assert message.text == ""
    assert message.stored == " ".join(raw.split())


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        ("\ufffd\ufffd\ufffda", InputProblem.UNREADABLE),
        ("ab\ufffd\ufffd\ufffd", InputProblem.UNREADABLE),
        ("abc\ufffd\ufffd", None),  # 2 of 5 are replacement characters: not more than half
        ("ab\ufffd", None),
        ("\ufffd", InputProblem.UNREADABLE),
        ("\ufffd" * 10 + " hello", InputProblem.UNREADABLE),
        ("\ufffd" * 8 + " hello!!", None),  # 8 of 16: exactly half is still readable
    ],
    ids=["3-of-4", "3-of-5", "2-of-5", "1-of-3", "only", "10-of-16", "8-of-16"],
)
def test_clean_message_replacement_characters(raw: str, problem: InputProblem | None) -> None:
    message = clean_message(raw, max_chars=MAX)
    assert message.problem == problem
    assert message.text == ("" if problem else raw)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("\udc80", CustomerMessage("", "?", InputProblem.UNREADABLE)),
        ("\ud800\udc80", CustomerMessage("", "??", InputProblem.UNREADABLE)),
        ("hello \udc80", CustomerMessage("hello ?", "hello ?")),
        ("\udfffabc", CustomerMessage("?abc", "?abc")),
    ],
    ids=["lone-low", "reversed-pair", "trailing", "leading"],
)
def test_clean_message_lone_surrogates(raw: str, expected: CustomerMessage) -> None:
    message = clean_message(raw, max_chars=MAX)
    assert message == expected
    message.stored.encode("utf-8")  # what is persisted must be encodable
    message.text.encode("utf-8")


@pytest.mark.parametrize("max_chars", [1, 10, 2000], ids=["1", "10", "2000"])
def test_clean_message_limit_boundary(max_chars: int) -> None:
    at_limit = clean_message("a" * max_chars, max_chars=max_chars)
    assert at_limit == CustomerMessage(text="a" * max_chars, stored="a" * max_chars)
    over = clean_message("a" * (max_chars + 1), max_chars=max_chars)
    assert over.problem == InputProblem.TOO_LONG
    assert over.text == ""
    expected_note = f" [truncated: {max_chars + 1} characters in all]"
    assert over.stored == "a" * min(max_chars + 1, STORED_PREFIX_CHARS) + expected_note


def test_clean_message_limit_measured_after_whitespace_collapse() -> None:
    assert clean_message("  " + "a" * 10 + " \n ", max_chars=10).text == "a" * 10
    assert clean_message("a  b", max_chars=3).text == "a b"


def test_clean_message_limit_measured_after_nfkc_expansion() -> None:
    # Each ligature expands to two characters: 6 ligatures are 12 characters after NFKC.
    assert clean_message("\ufb01" * 5, max_chars=10).text == "fi" * 5
    assert clean_message("\ufb01" * 6, max_chars=10).problem == InputProblem.TOO_LONG


def test_clean_message_bytes_and_str_agree() -> None:
    text = "Ich möchte Bestellung #W1234567 stornieren"
    assert clean_message(text.encode("utf-8"), max_chars=MAX) == clean_message(text, max_chars=MAX)
