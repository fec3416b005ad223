"""Ranker data: the candidate rule, the context window, the context-token budget (oldest dropped
first, newest always kept) and reading corpus lines (version 2 only)."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest
import torch

from ranker.config import TINY, RankerConfig
from ranker.data import (
    CUSTOMER,
    REP,
    SLOT_INDEX,
    CorpusError,
    RankTurn,
    candidate_entries,
    context_window,
    load_turns,
    memory_tensors,
    slot_signal,
)
from ranker.features import MAX_FEATURE_TOKENS, feature_ids, vocabulary
from templates import FACTS, SLOTS, TemplateEntry, load_catalog

ENTRIES: list[TemplateEntry] = list(load_catalog().entries)
ALL_SLOTS: dict[str, Any] = {
    name: ([{"order_id": "#W1", "summary": "a mug"}] if name == "order_options" else f"v-{name}")
    for name in SLOTS
}
CANCEL_DONE_FACTS = frozenset(
    {"authenticated", "order_identified", "order_cancellable", "cancel_reason_known"}
)


def _ids(entries: list[TemplateEntry]) -> list[str]:
    return [e.id for e in entries]


# ---- candidates --------------------------------------------------------------------------------
@pytest.mark.parametrize("slots", [{}, ALL_SLOTS], ids=["no-slots", "all-slots"])
def test_no_facts_gives_only_templates_without_preconditions(slots: dict[str, Any]) -> None:
    got = candidate_entries(ENTRIES, frozenset(), slots)
    assert got == [e for e in ENTRIES if not e.preconditions]
    assert {e.act for e in got} >= {"greeting", "handoff", "closing", "clarify", "empty_message"}
    assert len(got) == 42


@pytest.mark.parametrize(
    "facts",
    [
        frozenset(),
        frozenset({"not_authenticated"}),
        frozenset({"authenticated"}),
        CANCEL_DONE_FACTS,
        CANCEL_DONE_FACTS | {"cancel_confirmed"},
        frozenset({"authenticated", "order_identified", "refund_in_progress"}),
        FACTS,
    ],
    ids=["none", "anonymous", "authenticated", "reason-known", "confirmed", "refund", "all"],
)
@pytest.mark.parametrize(
    "slots",
    [{}, ALL_SLOTS, {"order_id": "#W1", "first_name": "Ann"}],
    ids=["no-slots", "all-slots", "some-slots"],
)
def test_candidates_are_exactly_the_applicable_and_fillable_templates(
    facts: frozenset[str], slots: dict[str, Any]
) -> None:
    got = candidate_entries(ENTRIES, facts, slots)
    chosen = set(_ids(got))
    for entry in ENTRIES:
        ok = (
            entry.preconditions <= facts
            and entry.unless.isdisjoint(facts)
            and all(slots.get(s) for s in entry.slots)
        )
        assert (entry.id in chosen) == ok, entry.id
    assert _ids(got) == [e.id for e in ENTRIES if e.id in chosen]  # catalog order kept


def test_no_cancel_done_without_the_cancel_confirmed_fact() -> None:
    everything_but = FACTS - {"cancel_confirmed"}
    acts = {e.act for e in candidate_entries(ENTRIES, everything_but, ALL_SLOTS)}
    assert "cancel_done" not in acts
    assert "request_cancel_confirmation" in acts
    confirmed = candidate_entries(ENTRIES, CANCEL_DONE_FACTS | {"cancel_confirmed"}, ALL_SLOTS)
    assert [e.id for e in confirmed if e.act == "cancel_done"] == [
        "cancel.done.1",
        "cancel.done.2",
        "cancel.done.3",
    ]
    assert all(e.action == "cancel_order" for e in confirmed if e.act == "cancel_done")


@pytest.mark.parametrize(
    ("value", "kept"),
    [(None, False), ("", False), ([], False), ("0", True), ("3-5 days", True)],
    ids=["none", "empty-string", "empty-list", "zero-string", "text"],
)
def test_a_template_needs_every_slot_filled(value: Any, kept: bool) -> None:
    facts = CANCEL_DONE_FACTS | {"cancel_confirmed"}
    slots = ALL_SLOTS | {"refund_timing": value}
    done = [e for e in candidate_entries(ENTRIES, facts, slots) if e.act == "cancel_done"]
    assert len(done) == (3 if kept else 0)


def test_a_missing_slot_key_drops_the_template() -> None:
    facts = CANCEL_DONE_FACTS | {"cancel_confirmed"}
    slots = {k: v for k, v in ALL_SLOTS.items() if k != "refund_amount"}
    assert "cancel_done" not in {e.act for e in candidate_entries(ENTRIES, facts, slots)}


@pytest.mark.parametrize(
    "extra",
    [{"bogus"}, {"<script>"}, {""}, {"Authenticated"}],
    ids=["bogus", "html", "empty", "wrong-case"],
)
def test_unknown_facts_add_no_candidates(extra: set[str]) -> None:
    base = candidate_entries(ENTRIES, frozenset({"not_authenticated"}), ALL_SLOTS)
    assert candidate_entries(ENTRIES, frozenset({"not_authenticated"} | extra), ALL_SLOTS) == base


def test_no_entries_no_candidates() -> None:
    assert candidate_entries([], FACTS, ALL_SLOTS) == []


# ---- context window ----------------------------------------------------------------------------
def _context(n: int) -> tuple[tuple[int, str], ...]:
    return tuple((CUSTOMER if i % 2 == 0 else REP, f"u{i}") for i in range(n))


def test_context_window_of_nothing_is_empty() -> None:
    assert context_window((), TINY) == []


def test_context_window_ages_count_back_from_the_newest() -> None:
    assert context_window(_context(3), TINY) == [
        (CUSTOMER, 2, "u0"),
        (REP, 1, "u1"),
        (CUSTOMER, 0, "u2"),
    ]


@pytest.mark.parametrize(
    ("n", "keep"),
    [(1, 1), (7, 7), (8, 8), (9, 8), (30, 8)],
    ids=["one", "under", "exactly", "one-over", "many-over"],
)
def test_context_window_keeps_the_newest_utterances(n: int, keep: int) -> None:
    window = context_window(_context(n), TINY)
    assert TINY.max_context_utterances == 8
    assert [text for _, _, text in window] == [f"u{i}" for i in range(n - keep, n)]
    assert [age for _, age, _ in window] == list(range(keep - 1, -1, -1))
    assert all(0 <= age < TINY.max_context_utterances for _, age, _ in window)


def test_context_window_of_one_utterance_config() -> None:
    cfg = dataclasses.replace(TINY, max_context_utterances=1)
    assert context_window(_context(5), cfg) == [(CUSTOMER, 0, "u4")]


# ---- memory tensors: the token budget ------------------------------------------------------------
def _states(lengths: dict[str, int]) -> dict[str, torch.Tensor]:
    torch.manual_seed(0)
    return {text: torch.randn(n, 384) for text, n in lengths.items()}


def _turn(*texts: str, **kw: Any) -> RankTurn:
    speakers = [CUSTOMER if i % 2 == (len(texts) - 1) % 2 else REP for i in range(len(texts))]
    return RankTurn(context=tuple(zip(speakers, texts, strict=True)), facts=frozenset(), **kw)


def _budget(tokens: int, utterance: int = 40) -> RankerConfig:
    return dataclasses.replace(TINY, max_context_tokens=tokens, max_utterance_tokens=utterance)


def test_context_within_the_budget_is_kept_whole() -> None:
    states = _states({"a": 2, "b": 3, "c": 5})
    ctx, pad, spk, age, _ = memory_tensors([_turn("a", "b", "c")], states, _budget(10))
    assert ctx.shape == (1, 10, 384) and ctx.dtype == torch.float32
    assert torch.equal(ctx[0], torch.cat([states["a"], states["b"], states["c"]]))
    assert pad.tolist() == [[False] * 10]
    assert age[0].tolist() == [2, 2, 1, 1, 1, 0, 0, 0, 0, 0]
    assert spk[0].tolist() == [CUSTOMER] * 2 + [REP] * 3 + [CUSTOMER] * 5


def test_over_budget_drops_the_oldest_first_and_keeps_the_newest() -> None:
    states = _states({"a": 4, "b": 3, "c": 5})
    ctx, pad, spk, age, _ = memory_tensors([_turn("a", "b", "c")], states, _budget(10))
    assert ctx.shape == (1, 8, 384)
    assert torch.equal(ctx[0], torch.cat([states["b"], states["c"]]))
    assert pad.tolist() == [[False] * 8]
    assert age[0].tolist() == [1, 1, 1, 0, 0, 0, 0, 0]
    assert spk[0].tolist() == [REP] * 3 + [CUSTOMER] * 5


def test_an_older_utterance_that_would_fit_is_not_kept_past_a_gap() -> None:
    """The kept context is contiguous: once one utterance does not fit, all older ones go too."""
    states = _states({"a": 1, "b": 6, "c": 5})
    ctx, _, _, age, _ = memory_tensors([_turn("a", "b", "c")], states, _budget(10))
    assert torch.equal(ctx[0], states["c"])
    assert age[0].tolist() == [0] * 5


def test_an_over_long_newest_utterance_is_truncated_not_dropped() -> None:
    states = _states({"old": 2, "new": 25})
    ctx, pad, spk, age, _ = memory_tensors([_turn("old", "new")], states, _budget(10))
    assert ctx.shape == (1, 10, 384)
    assert torch.equal(ctx[0], states["new"][:10])  # its first tokens ([CLS] onwards)
    assert pad.tolist() == [[False] * 10]
    assert age[0].tolist() == [0] * 10
    assert spk[0].tolist() == [CUSTOMER] * 10


def test_each_utterance_is_cut_to_max_utterance_tokens() -> None:
    states = _states({"a": 50, "b": 50})
    ctx, _, _, age, _ = memory_tensors([_turn("a", "b")], states, _budget(100, utterance=40))
    assert ctx.shape == (1, 80, 384)
    assert torch.equal(ctx[0], torch.cat([states["a"][:40], states["b"][:40]]))
    assert age[0].tolist() == [1] * 40 + [0] * 40


def test_more_utterances_than_the_window_keeps_only_the_window() -> None:
    texts = [f"t{i}" for i in range(12)]
    states = _states(dict.fromkeys(texts, 1))
    ctx, _, _, age, _ = memory_tensors([_turn(*texts)], states, TINY)
    assert ctx.shape == (1, 8, 384)
    assert torch.equal(ctx[0], torch.cat([states[t] for t in texts[-8:]]))
    assert age[0].tolist() == list(range(7, -1, -1))


def test_fp16_states_come_out_float32() -> None:
    states = {k: v.half() for k, v in _states({"a": 3}).items()}
    ctx, *_ = memory_tensors([_turn("a")], states, TINY)
    assert ctx.dtype == torch.float32
    assert torch.equal(ctx[0], states["a"].float())


def test_a_batch_pads_short_and_empty_contexts() -> None:
    states = _states({"a": 2, "b": 5})
    turns = [_turn("a"), _turn("a", "b"), _turn()]
    ctx, pad, spk, age, feats = memory_tensors(turns, states, TINY)
    assert ctx.shape == (3, 7, 384)
    assert pad.tolist() == [
        [False] * 2 + [True] * 5,
        [False] * 7,
        [True] * 7,
    ]
    assert torch.equal(ctx[0, :2], states["a"]) and not ctx[0, 2:].any()
    assert not ctx[2].any() and not spk[2].any() and not age[2].any()
    assert feats.shape == (3, MAX_FEATURE_TOKENS)


def test_all_empty_contexts_still_give_one_padded_column() -> None:
    ctx, pad, spk, age, feats = memory_tensors([_turn(), _turn()], {}, TINY)
    assert ctx.shape == (2, 1, 384)
    assert pad.tolist() == [[True], [True]]
    assert feats.shape == (2, MAX_FEATURE_TOKENS)


@pytest.mark.parametrize("use_profile", [True, False], ids=["profile", "no-profile"])
def test_feature_row_is_feature_ids_right_padded(use_profile: bool) -> None:
    profile = {"membership": "gold", "tenure_days": 10, "orders": 2}
    tracker = {"awaiting": "order", "intent": "refund_status", "signals": ["said_yes"]}
    facts = frozenset({"authenticated", "order_identified"})
    turn = RankTurn(context=((CUSTOMER, "a"),), facts=facts, profile=profile, tracker=tracker)
    cfg = dataclasses.replace(TINY, use_profile=use_profile)
    *_, feats = memory_tensors([turn], _states({"a": 1}), cfg)
    ids = feature_ids(profile, tracker, facts, use_profile=use_profile)
    assert feats[0].tolist() == ids + [0] * (MAX_FEATURE_TOKENS - len(ids))
    assert len(ids) == (16 if use_profile else 10)


# ---- slot signal -------------------------------------------------------------------------------
def test_slot_signal_marks_filled_slots_and_whether_they_were_said() -> None:
    slots = {"order_id": "#W1234567", "first_name": "Ann", "refund_amount": ""}
    said = "hi, it's about #w1234567".lower()
    ids = slot_signal(["order_id", "first_name", "refund_amount", "not_a_slot"], slots, said)
    assert ids == [
        1 + 2 * SLOT_INDEX["order_id"] + 1,
        1 + 2 * SLOT_INDEX["first_name"],
        1 + 2 * SLOT_INDEX["refund_amount"],
    ]
    assert all(0 < i <= 2 * len(SLOT_INDEX) for i in ids)
    assert slot_signal([], slots, said) == []


# ---- reading the corpus ------------------------------------------------------------------------
GOOD_ROW: dict[str, Any] = {
    "dialogue_id": "c-1",
    "turn": 1,
    "customer_id": 42,
    "issue_type": "cancel_order",
    "context": [
        {"speaker": "customer", "text": "cancel my order"},
        {"speaker": "rep", "text": "Sure, what's your email?"},
        {"speaker": "customer", "text": "ann@example.com"},
    ],
    "profile": {"membership": "gold", "tenure_days": 10},
    "gold_reply": "Which order?",
    "gold_act": "request_order",
    "gold_slots": {"first_name": "Ann", "order_id": "#W1"},
    "slots": {"first_name": "Ann"},
    "off_catalog": False,
    "facts": ["authenticated"],
    "tracker": {"awaiting": "auth", "signals": ["authenticated_now", "gave_email"]},
}


def _write(tmp_path: Path, *rows: Any, raw: str | None = None) -> Path:
    path = tmp_path / "train.jsonl"
    text = raw if raw is not None else "".join(json.dumps(r) + "\n" for r in rows)
    path.write_text(text, encoding="utf-8")
    return path


def test_load_turns_parses_a_valid_line(tmp_path: Path) -> None:
    turns = load_turns(_write(tmp_path, GOOD_ROW))
    assert turns == [
        RankTurn(
            context=(
                (CUSTOMER, "cancel my order"),
                (REP, "Sure, what's your email?"),
                (CUSTOMER, "ann@example.com"),
            ),
            facts=frozenset({"authenticated"}),
            slots={"first_name": "Ann"},
            profile={"membership": "gold", "tenure_days": 10},
            tracker={"awaiting": "auth", "signals": ["authenticated_now", "gave_email"]},
            gold_act="request_order",
            gold_reply="Which order?",
            customer_id=42,
            off_catalog=False,
            issue_type="cancel_order",
        )
    ]


@pytest.mark.parametrize(("limit", "count"), [(None, 3), (0, 0), (2, 2), (9, 3)], ids=str)
def test_load_turns_limit(tmp_path: Path, limit: int | None, count: int) -> None:
    assert len(load_turns(_write(tmp_path, GOOD_ROW, GOOD_ROW, GOOD_ROW), limit=limit)) == count


def test_load_turns_of_an_empty_file_is_empty(tmp_path: Path) -> None:
    assert load_turns(_write(tmp_path, raw="")) == []


def test_load_turns_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match=r"no corpus split at .*nope\.jsonl.*corpus export"):
        load_turns(tmp_path / "nope.jsonl")


def test_load_turns_directory_is_not_a_file(tmp_path: Path) -> None:
    with pytest.raises(CorpusError, match="no corpus split at"):
        load_turns(tmp_path)


@pytest.mark.parametrize(
    "field",
    ["facts", "slots", "tracker", "context", "profile", "customer_id", "off_catalog"],
    ids=str,
)
def test_load_turns_rejects_a_line_missing_a_field(tmp_path: Path, field: str) -> None:
    row = {k: v for k, v in GOOD_ROW.items() if k != field}
    path = _write(tmp_path, GOOD_ROW, row)
    with pytest.raises(CorpusError, match=rf":2: not a version-2 corpus line .*'{field}'"):
        load_turns(path)


@pytest.mark.parametrize(
    "raw",
    [
        "{not json\n",
        "\n",
        "[1, 2]\n",
        "null\n",
        json.dumps(GOOD_ROW | {"customer_id": "abc"}) + "\n",
        json.dumps(GOOD_ROW | {"customer_id": None}) + "\n",
        json.dumps(GOOD_ROW | {"context": [{"text": "no speaker"}]}) + "\n",
    ],
    ids=[
        "bad-json",
        "blank-line",
        "list",
        "null",
        "customer-id-text",
        "customer-id-null",
        "utterance-no-speaker",
    ],
)
def test_load_turns_rejects_malformed_lines(tmp_path: Path, raw: str) -> None:
    with pytest.raises(CorpusError, match=r":1: not a version-2 corpus line"):
        load_turns(_write(tmp_path, raw=raw))


def test_load_turns_reads_the_optional_issue_and_meaning(tmp_path: Path) -> None:
    row = GOOD_ROW | {"issue_type": "cancel_order", "meaning": "inform"}
    (turn,) = load_turns(_write(tmp_path, row))
    assert (turn.issue_type, turn.meaning) == ("cancel_order", "inform")
    older_row = {k: v for k, v in GOOD_ROW.items() if k != "issue_type"} | {"meaning": None}
    (older,) = load_turns(_write(tmp_path, older_row))
    assert (older.issue_type, older.meaning) == (None, None)


@pytest.mark.parametrize("field", ["issue_type", "meaning"])
def test_load_turns_rejects_a_non_text_issue_or_meaning(tmp_path: Path, field: str) -> None:
    with pytest.raises(CorpusError, match=r":1: not a version-2 corpus line"):
        load_turns(_write(tmp_path, GOOD_ROW | {field: ["affirm"]}))


def test_load_turns_error_is_a_value_error(tmp_path: Path) -> None:
    assert issubclass(CorpusError, ValueError)
    with pytest.raises(ValueError):
        load_turns(tmp_path / "missing.jsonl")


# ---- the exported corpus reads back --------------------------------------------------------------
@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from simulator.corpus import export_corpus
    from simulator.world import WorldConfig
    from tests.conftest import SMALL_WORLD

    out = tmp_path_factory.mktemp("corpus")
    summary = export_corpus(out, dialogues=10, seed=0, world=WorldConfig(**SMALL_WORLD))
    assert summary.dialogues == 10 and summary.examples > 0
    return out


@pytest.mark.parametrize("split", ["train", "valid", "test"], ids=str)
def test_every_exported_line_loads(exported: Path, split: str) -> None:
    path = exported / f"{split}.jsonl"
    rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]
    turns = load_turns(path)
    assert len(turns) == len(rows)
    for row, turn in zip(rows, turns, strict=True):
        assert turn.context[-1] == (CUSTOMER, row["context"][-1]["text"])
        assert turn.facts == frozenset(row["facts"]) and turn.slots == row["slots"]
        assert (turn.gold_act, turn.customer_id) == (row["gold_act"], row["customer_id"])
        assert (turn.issue_type, turn.meaning) == (row["issue_type"], row["meaning"])


def test_the_exported_corpus_annotates_what_each_opening_meant(exported: Path) -> None:
    turns = [t for s in ("train", "valid", "test") for t in load_turns(exported / f"{s}.jsonl")]
    openings = [t for t in turns if len(t.context) == 1]
    assert len(openings) == 10  # one per dialogue
    # Simulated customers open with their issue (or switch first): the rep's reading is an issue.
    assert all(t.meaning in ("cancel_order", "refund_status", "out_of_scope") for t in openings)


def test_the_exported_corpus_keeps_the_profile_behind_authentication(exported: Path) -> None:
    turns = load_turns(exported / "train.jsonl")
    assert len(turns) >= 20
    vocab = vocabulary()
    for turn in turns:
        assert turn.tracker is not None and isinstance(turn.tracker["signals"], list)
        assert candidate_entries(ENTRIES, turn.facts, turn.slots)  # never an empty list
        tokens = [vocab[i] for i in feature_ids(turn.profile, turn.tracker, turn.facts)]
        has_profile = any(t.startswith("membership=") for t in tokens)
        assert has_profile == ("authenticated" in turn.facts and bool(turn.profile))
    assert any("authenticated" in t.facts for t in turns)
    assert any("not_authenticated" in t.facts for t in turns)
