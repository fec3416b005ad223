"""The neural agent with fake rankers on the seeded SQLite world: the ranker only chooses what to
say; cancelling needs the customer's explicit yes as the tracker established it; a weak or empty
ranking hands off; agent-assist writes nothing; hostile input changes nothing."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import AgentReply, TurnContext
from dialogue.conversation import ConversationClosed, ConversationRunner
from dialogue.domain import OrderStatus, RefundStatus
from dialogue.pipeline import LIST_SCORE_KEY, NeuralAgent, PipelineConfig
from dialogue.state import Awaiting, DialogueState
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.text import clean_message
from ranker.data import RankTurn, candidate_entries
from ranker.meaning import Reading
from ranker.scorer import Ranked, Ranker, Ranking
from templates import TemplateEntry, load_catalog
from tests.dialogue_helpers import Pick, acts, pick, store_fingerprint

CATALOG = load_catalog()
ENTRIES: tuple[TemplateEntry, ...] = CATALOG.entries
# The cancellation flow, furthest step first: a ranker with this preference follows the tracker.
FLOW = (
    "cancel_done",
    "request_cancel_confirmation",
    "request_cancel_reason",
    "request_order",
    "request_auth",
)
REFUND_FLOW = ("refund_in_progress", "refund_completed", "refund_not_started", *FLOW)


@dataclass
class PreferActs:
    """A fake ranker: the candidates ordered by a fixed act preference, then catalog order."""

    prefer: Sequence[str] = FLOW
    list_prob: float | Callable[[RankTurn], float] = 0.9
    # Acts put first when the tracker read an explicit "no" (the fake reads the tracker signals).
    on_no: Sequence[str] = ()
    calls: list[RankTurn] = field(default_factory=list)

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        self.calls.append(turn)
        entries = candidate_entries(ENTRIES, turn.facts, turn.slots)
        said_no = "said_no" in (turn.tracker or {}).get("signals", ())
        prefer = [*(self.on_no if said_no else ()), *self.prefer]
        order = sorted(
            range(len(entries)),
            key=lambda i: (
                prefer.index(entries[i].act) if entries[i].act in prefer else len(prefer),
                i,
            ),
        )
        ranked = tuple(Ranked(entries[i], float(len(order) - n)) for n, i in enumerate(order))
        prob = self.list_prob(turn) if callable(self.list_prob) else self.list_prob
        return Ranking(ranked=ranked, list_prob=prob)


@dataclass
class Fixed:
    """A fake ranker returning a fixed ranking, whatever the turn allows (a rogue model)."""

    ranking: Ranking
    calls: int = 0

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        self.calls += 1
        return self.ranking


def _agent(ranker: Ranker, **config: Any) -> NeuralAgent:
    return NeuralAgent(ranker, catalog=CATALOG, config=PipelineConfig(**config))


def _status(sessions: sessionmaker[Session], number: str) -> str:
    with sessions() as session:
        return session.scalars(
            select(models.Order.status).where(models.Order.order_number == number)
        ).one()


def _conversation(sessions: sessionmaker[Session], conv: int) -> tuple[str, DialogueState, int]:
    with sessions() as session:
        row = session.get(models.Conversation, conv)
        assert row is not None
        return row.status, DialogueState.from_json(row.state), len(row.turns)


def _cancel_logs(sessions: sessionmaker[Session]) -> list[tuple[str, int | None]]:
    with sessions() as session:
        rows = session.execute(
            select(models.ActionLog.outcome, models.ActionLog.conversation_id).where(
                models.ActionLog.action == "cancel_order"
            )
        ).all()
        return [(str(o), c) for o, c in rows]


def _pending(sessions: sessionmaker[Session]) -> Pick:
    return pick(sessions, lambda _r, o: o.status == OrderStatus.PENDING)


def _up_to_confirmation(target: Pick) -> list[str]:
    return [
        "Hi, I want to cancel an order",
        target.email,
        f"it's order {target.order.order_number}",
        "I ordered it by mistake",
    ]


CONFIRMATION_ACTS = [
    "request_auth",
    "request_order",
    "request_cancel_reason",
    "request_cancel_confirmation",
]


def _assert_ranked_scores(reply: AgentReply, list_prob: float) -> None:
    assert reply.scores is not None
    assert reply.scores[LIST_SCORE_KEY] == round(list_prob, 4)
    if (
        reply.template_id is not None
        and reply.act != "handoff"
        and reply.scores[LIST_SCORE_KEY] >= 0.5
    ):
        assert reply.template_id in reply.scores
        assert reply.scores[reply.template_id] == max(
            v for k, v in reply.scores.items() if k != LIST_SCORE_KEY
        )


# ---- (a) cancelling needs the explicit yes ---------------------------------------------------
def test_order_is_cancelled_only_after_the_explicit_yes(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    number = target.order.order_number
    ranker = PreferActs(FLOW)
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    replies = []
    for message in _up_to_confirmation(target):
        replies.append(run.send(conv, message))
        assert _status(world_sessions, number) == "pending"
    assert acts(replies) == CONFIRMATION_ACTS
    assert number in replies[-1].text
    assert store_fingerprint(world_sessions) == before
    assert _conversation(world_sessions, conv)[1].confirmation_for == number

    done = run.send(conv, "yes")
    assert (done.act, done.action) == ("cancel_done", "cancel_order")
    assert done.template_id is not None and done.template_id.startswith("cancel.done.")
    assert "cancel_confirmed" in (done.facts or frozenset())
    assert _status(world_sessions, number) == "cancelled"
    assert _cancel_logs(world_sessions) == [("done", conv)]
    status, state, turns = _conversation(world_sessions, conv)
    assert (status, turns, state.customer_id) == ("open", 10, target.record.profile.id)
    assert (state.confirmation_for, state.awaiting) == (None, Awaiting.ANYTHING_ELSE)
    for reply in [*replies, done]:
        _assert_ranked_scores(reply, 0.9)
    assert len(ranker.calls) == 5
    assert "cancel_done" not in {
        e.act for t in ranker.calls[:4] for e in candidate_entries(ENTRIES, t.facts, t.slots)
    }


@pytest.mark.parametrize(
    ("last", "act"),
    [
        ("no, keep it", "cancel_kept"),
        ("hmm let me think", "request_cancel_confirmation"),
        ("<script>alert(1)</script>", "request_cancel_confirmation"),
    ],
    ids=["no", "unclear", "script"],
)
def test_anything_but_an_explicit_yes_keeps_the_order(
    world_sessions: sessionmaker[Session], last: str, act: str
) -> None:
    target = _pending(world_sessions)
    run = ConversationRunner(world_sessions, _agent(PreferActs(FLOW, on_no=["cancel_kept"])))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    replies = [run.send(conv, m) for m in [*_up_to_confirmation(target), last]]
    assert acts(replies) == [*CONFIRMATION_ACTS, act]
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert store_fingerprint(world_sessions) == before


def test_a_yes_to_the_reason_question_cancels_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    run = ConversationRunner(world_sessions, _agent(PreferActs(FLOW)))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    messages = ["Hi, I want to cancel an order", target.email, target.order.order_number, "yes"]
    replies = [run.send(conv, m) for m in messages]
    assert acts(replies) == CONFIRMATION_ACTS  # "yes" only answered the reason question
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert store_fingerprint(world_sessions) == before


def test_a_yes_after_switching_order_cancels_neither(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(
        world_sessions,
        lambda r, o: (
            o.status == OrderStatus.PENDING
            and sum(x.status == OrderStatus.PENDING for x in r.orders) >= 2
        ),
    )
    first, second = [
        o.order_number for o in target.record.orders if o.status == OrderStatus.PENDING
    ][:2]
    run = ConversationRunner(world_sessions, _agent(PreferActs(FLOW)))
    conv = run.start()
    messages = [f"I need to cancel {first}", target.email, "ordered by mistake"]
    messages += [f"actually it's {second}", "yes"]
    replies = [run.send(conv, m) for m in messages]
    assert acts(replies)[:4] == [
        "request_auth",
        "request_cancel_reason",
        "request_cancel_confirmation",
        "request_cancel_reason",
    ]
    assert _status(world_sessions, first) == "pending"
    assert _status(world_sessions, second) == "pending"
    assert _cancel_logs(world_sessions) == []


# ---- (b), (c) weak or empty rankings hand off ------------------------------------------------
@pytest.mark.parametrize(
    ("list_prob", "threshold", "handed_off"),
    [
        (0.0, 0.5, True),
        (0.4999, 0.5, True),
        (0.5, 0.5, False),
        (0.79, 0.8, True),
        (1.0, 0.8, False),
    ],
    ids=["zero", "just-below", "at-threshold", "below-custom", "above-custom"],
)
def test_below_the_threshold_the_turn_is_handed_off(
    world_sessions: sessionmaker[Session], list_prob: float, threshold: float, handed_off: bool
) -> None:
    run = ConversationRunner(
        world_sessions,
        _agent(PreferActs(FLOW, list_prob=list_prob), threshold=threshold, fallback="handoff"),
    )
    conv = run.start()
    reply = run.send(conv, "Hi, I want to cancel an order")
    _assert_ranked_scores(reply, list_prob)
    status, state, _ = _conversation(world_sessions, conv)
    if handed_off:
        assert (reply.act, reply.action) == ("handoff", "handoff")
        assert reply.template_id is not None and reply.template_id.startswith("common.handoff.")
        assert (status, state.handed_off, state.ended, state.awaiting) == (
            "handed_off",
            True,
            True,
            None,
        )
        with world_sessions() as session:
            handoff = session.scalars(select(models.Handoff)).one()
            assert (handoff.conversation_id, handoff.reason) == (conv, "handoff")
        with pytest.raises(ConversationClosed):
            run.send(conv, "hello?")
    else:
        assert reply.act == "request_auth"
        assert (status, state.handed_off) == ("open", False)


def test_a_weak_list_at_the_yes_falls_back_to_the_policy_and_really_cancels(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    ranker = PreferActs(FLOW, list_prob=lambda t: 0.2 if "cancel_confirmed" in t.facts else 0.9)
    run = ConversationRunner(world_sessions, _agent(ranker))  # fallback="policy", the default
    conv = run.start()
    replies = [run.send(conv, m) for m in [*_up_to_confirmation(target), "yes"]]
    assert acts(replies) == [*CONFIRMATION_ACTS, "cancel_done"]
    assert _status(world_sessions, target.order.order_number) == "cancelled"


def test_a_weak_list_at_the_yes_hands_off_without_cancelling(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    ranker = PreferActs(FLOW, list_prob=lambda t: 0.2 if "cancel_confirmed" in t.facts else 0.9)
    run = ConversationRunner(world_sessions, _agent(ranker, fallback="handoff"))
    conv = run.start()
    replies = [run.send(conv, m) for m in [*_up_to_confirmation(target), "yes"]]
    assert acts(replies) == [*CONFIRMATION_ACTS, "handoff"]
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _cancel_logs(world_sessions) == []
    assert _conversation(world_sessions, conv)[0] == "handed_off"


@pytest.mark.parametrize("list_prob", [0.0, 0.99], ids=["prob-zero", "prob-high"])
def test_an_empty_ranking_hands_off(
    world_sessions: sessionmaker[Session], list_prob: float
) -> None:
    ranker = Fixed(Ranking(ranked=(), list_prob=list_prob))
    run = ConversationRunner(world_sessions, _agent(ranker, fallback="handoff"))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    reply = run.send(conv, "where is my refund?")
    assert (reply.act, reply.action) == ("handoff", "handoff")
    assert reply.scores == {LIST_SCORE_KEY: round(list_prob, 4)}
    assert ranker.calls == 1
    assert _conversation(world_sessions, conv)[0] == "handed_off"
    assert store_fingerprint(world_sessions) == before


# ---- (d) agent-assist ------------------------------------------------------------------------
def _counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (
                models.Order,
                models.ActionLog,
                models.Refund,
                models.Turn,
                models.Handoff,
                models.Conversation,
            )
        )


def test_assist_suggests_distinct_acts_by_score_and_writes_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    target = pick(
        world_sessions,
        lambda _r, o: (
            o.latest_refund is not None and o.latest_refund.status == RefundStatus.IN_PROGRESS
        ),
    )
    number = target.order.order_number
    agent = _agent(PreferActs(REFUND_FLOW))
    run = ConversationRunner(world_sessions, agent)
    conv = run.start()
    assert acts([run.send(conv, m) for m in ["where is my refund?", target.email]]) == [
        "request_auth",
        "request_order",
    ]
    counts, fingerprint = _counts(world_sessions), store_fingerprint(world_sessions)
    status_before, state_before, _ = _conversation(world_sessions, conv)
    with world_sessions() as session:
        history = tuple(
            (str(s), str(t))
            for s, t in session.execute(
                select(models.Turn.speaker, models.Turn.text)
                .where(models.Turn.conversation_id == conv)
                .order_by(models.Turn.index)
            ).all()
        )
        ctx = TurnContext(
            conversation_id=conv, turn_index=4, now=world_now(session), history=history
        )
        message = clean_message(f"it's order {number}", max_chars=2000)
        suggestions, list_prob = agent.assist(session, state_before, message, ctx)
        session.commit()  # even a caller that commits keeps nothing: the savepoint rolled back
    assert list_prob == 0.9
    assert len(suggestions) == 4
    # The best template of each of the 4 best acts (the fake scores the candidates n, n-1, ...).
    assert [(s.act, s.template_id) for s in suggestions] == [
        ("refund_in_progress", "refund.in_progress.1"),
        ("request_order", "common.request_order.1"),
        ("greeting", "common.greeting.1"),
        ("auth_policy", "common.auth_policy.1"),
    ]
    assert [suggestions[i].score - suggestions[i + 1].score for i in range(3)] == [3.0] * 3
    assert number in suggestions[0].text
    assert len({s.act for s in suggestions}) == len(suggestions)
    scores = [s.score for s in suggestions]
    assert scores == sorted(scores, reverse=True) and len(set(scores)) == len(scores)
    for s in suggestions:
        assert CATALOG.get(s.template_id).act == s.act
        assert s.action == CATALOG.get(s.template_id).action
    assert _counts(world_sessions) == counts
    assert store_fingerprint(world_sessions) == fingerprint
    assert _status(world_sessions, number) == target.order.status.value
    assert _conversation(world_sessions, conv) == (status_before, state_before, 4)


@pytest.mark.parametrize("k", [1, 2, 4, 50], ids=str)
def test_assist_returns_at_most_k_suggestions(
    world_sessions: sessionmaker[Session], k: int
) -> None:
    agent = _agent(PreferActs(()))
    counts = _counts(world_sessions)
    with world_sessions() as session:
        ctx = TurnContext(conversation_id=1, turn_index=0, now=world_now(session))
        message = clean_message("hello", max_chars=2000)
        suggestions, _ = agent.assist(session, DialogueState(), message, ctx, k=k)
        session.commit()
    assert 1 <= len(suggestions) <= k
    assert len({s.act for s in suggestions}) == len(suggestions)
    if k <= 4:
        assert len(suggestions) == k
    assert _counts(world_sessions) == counts


def test_assist_at_the_confirmation_yes_cancels_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    agent = _agent(PreferActs(FLOW))
    run = ConversationRunner(world_sessions, agent)
    conv = run.start()
    replies = [run.send(conv, m) for m in _up_to_confirmation(target)]
    assert acts(replies) == CONFIRMATION_ACTS
    counts = _counts(world_sessions)
    _, state, turns = _conversation(world_sessions, conv)
    with world_sessions() as session:
        ctx = TurnContext(conversation_id=conv, turn_index=turns, now=world_now(session))
        suggestions, _ = agent.assist(session, state, clean_message("yes", max_chars=99), ctx)
        session.commit()
    assert suggestions[0].act == "cancel_done" and suggestions[0].action == "cancel_order"
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _counts(world_sessions) == counts
    assert _cancel_logs(world_sessions) == []


# ---- (e) a deviating reply never leaves a confirmation pending --------------------------------
@pytest.mark.parametrize(
    ("prefer", "deviating_turn", "deviating_act"),
    [
        (("request_cancel_confirmation", *FLOW[2:]), 4, "request_cancel_confirmation"),
        (("request_cancel_reason", *FLOW[3:]), 3, "request_cancel_reason"),
    ],
    ids=["re-asks-confirmation-instead-of-cancelling", "asks-reason-instead-of-confirming"],
)
def test_a_yes_after_a_deviating_reply_cancels_nothing(
    world_sessions: sessionmaker[Session],
    prefer: tuple[str, ...],
    deviating_turn: int,
    deviating_act: str,
) -> None:
    target = _pending(world_sessions)
    number = target.order.order_number
    agent = _agent(PreferActs(prefer))
    run = ConversationRunner(world_sessions, agent)
    conv = run.start()
    messages = [*_up_to_confirmation(target), "yes"][: deviating_turn + 1]
    replies = [run.send(conv, m) for m in messages]
    assert replies[-1].act == deviating_act
    _, state, _ = _conversation(world_sessions, conv)
    assert state.confirmation_for is None  # the deviating reply left no confirmation pending
    assert state.cancel_reason is not None  # what the tracker learned is kept
    assert _status(world_sessions, number) == "pending"

    # A ranker that would cancel at once: the next "yes" still only gets the tracker's own
    # confirmation request; only a yes to that request cancels.
    agent.ranker = PreferActs(FLOW)
    again = run.send(conv, "yes")
    assert again.act == "request_cancel_confirmation"
    assert _status(world_sessions, number) == "pending"
    assert _conversation(world_sessions, conv)[1].confirmation_for == number
    done = run.send(conv, "yes")
    assert done.act == "cancel_done"
    assert _status(world_sessions, number) == "cancelled"
    assert _cancel_logs(world_sessions) == [("done", conv)]


def test_a_ranker_that_never_picks_cancel_done_never_cancels(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    run = ConversationRunner(world_sessions, _agent(PreferActs(FLOW[1:])))
    conv = run.start()
    replies = [run.send(conv, m) for m in [*_up_to_confirmation(target), "yes", "yes", "yes"]]
    assert acts(replies)[4:] == ["request_cancel_confirmation"] * 3
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _cancel_logs(world_sessions) == []


# ---- (f) hostile input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("message", "problem_act"),
    [
        ("", "empty_message"),
        ("   \n\t ", "empty_message"),
        ("x" * 100_000, "message_too_long"),
        ("cancel " * 20_000, "message_too_long"),
        ("\ufffd\ufffd\ufffd", "unsupported_input"),
        (b"\xff\xfe\xfd", "unsupported_input"),
        ("<script>alert('cancel my order')</script>", None),
        ("<img src=x onerror=alert(1)> yes", None),
        ("'; DROP TABLE orders; -- cancel order #W0000000", None),
        ("{{ order_id }} {% for x in range(9) %}yes{% endfor %}", None),
        ("\x00\x01\x02 yes", None),
    ],
    ids=[
        "empty",
        "whitespace",
        "100kb",
        "100kb-words",
        "replacement-chars",
        "invalid-utf8",
        "script",
        "html-yes",
        "sql",
        "jinja",
        "control-chars",
    ],
)
def test_hostile_input_gets_a_reply_and_changes_nothing(
    world_sessions: sessionmaker[Session], message: str | bytes, problem_act: str | None
) -> None:
    ranker = PreferActs(FLOW)
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    before = store_fingerprint(world_sessions)
    reply = run.send(conv, message)
    assert reply.text and "<script" not in reply.text and "onerror" not in reply.text
    assert "{{" not in reply.text and "{%" not in reply.text
    if problem_act is not None:
        assert reply.act == problem_act
        assert ranker.calls == [] and reply.scores is None  # no model on unusable input
    else:
        assert len(ranker.calls) == 1
        _assert_ranked_scores(reply, 0.9)
        assert ranker.calls[0].profile is None  # nobody is authenticated
    assert store_fingerprint(world_sessions) == before
    status, state, turns = _conversation(world_sessions, conv)
    assert turns == 2 and state.customer_id is None
    assert status in ("open", "handed_off", "closed")


def test_hostile_input_mid_cancellation_changes_nothing(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    run = ConversationRunner(world_sessions, _agent(PreferActs(FLOW)))
    conv = run.start()
    replies = [run.send(conv, m) for m in _up_to_confirmation(target)]
    before = store_fingerprint(world_sessions)
    for message in ["", "y" * 100_000, "<script>alert(1)</script>", b"\xff\xfe"]:
        replies.append(run.send(conv, message))
    assert acts(replies)[4:] == [
        "empty_message",
        "message_too_long",
        "request_cancel_confirmation",
        "unsupported_input",
    ]
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert store_fingerprint(world_sessions) == before


# ---- what the ranker sees ----------------------------------------------------------------------
def test_the_ranker_sees_the_context_and_no_profile_before_authentication(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    ranker = PreferActs(FLOW)
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    first = run.send(conv, "Hi, I want to cancel an order")
    run.send(conv, target.email)
    before, after = ranker.calls
    assert before.profile is None and "not_authenticated" in before.facts
    assert before.context == ((0, "Hi, I want to cancel an order"),)
    assert after.context == (
        (0, "Hi, I want to cancel an order"),
        (1, first.text),
        (0, target.email),
    )
    assert after.profile is not None and "authenticated" in after.facts
    assert after.profile["membership"] == target.record.profile.membership.value
    assert after.profile["orders"] == len(target.record.orders)
    assert after.tracker is not None
    assert "authenticated_now" in after.tracker["signals"]
    assert after.tracker["awaiting"] == "auth"


@dataclass
class Prefetching(PreferActs):
    """A fake ranker that records what the agent asks it to encode ahead of the next turn."""

    prefetched: list[list[str]] = field(default_factory=list)

    def prefetch(self, texts: list[str]) -> None:
        self.prefetched.append(list(texts))


def test_each_sent_reply_is_prefetched_as_the_next_turns_context(
    world_sessions: sessionmaker[Session],
) -> None:
    ranker = Prefetching(FLOW)
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    first = run.send(conv, "Hi, I want to cancel an order")
    assert ranker.prefetched == [[first.text]]
    run.send(conv, "nobody@example.invalid")
    assert ranker.calls[1].context[1] == (1, first.text)  # what was prefetched is what is read
    low = Prefetching(FLOW, list_prob=0.0)  # hand-off: no next turn for the model, no prefetch
    run = ConversationRunner(world_sessions, _agent(low, fallback="handoff"))
    assert run.send(run.start(), "Hi, I want to cancel an order").act == "handoff"
    assert low.prefetched == []


@dataclass
class Reads(PreferActs):
    """A fake ranker with a meaning reader: a fixed reading per message text (none otherwise)."""

    readings: Mapping[str, Reading] = field(default_factory=dict)
    asked: list[tuple[str, str]] = field(default_factory=list)

    def read_meaning(self, situation: str, text: str) -> Reading | None:
        self.asked.append((situation, text))
        return self.readings.get(text)


def _opening(target: Pick) -> str:
    """Issue, order and email in one message: the NLU reads it as "inform", not an issue."""
    return f"can you help me canceling purchase {target.order.order_number} ? {target.email}"


def test_an_opening_the_tracker_reads_as_no_issue_takes_the_readers_issue(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    opening = _opening(target)
    plain = ConversationRunner(world_sessions, _agent(PreferActs(FLOW, list_prob=0.0)))
    assert plain.send(plain.start(), opening).act == "greeting_named"  # the NLU: no issue
    before = store_fingerprint(world_sessions)
    ranker = Reads(FLOW, readings={opening: Reading("cancel_order", 0.99, True)})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    assert run.send(conv, opening).act == "request_cancel_reason"
    assert ranker.asked == [("opening", opening)]
    _, state, _ = _conversation(world_sessions, conv)
    assert state.intent is not None and state.intent.value == "cancel_order"
    assert state.order_number == target.order.order_number
    # The reading names the issue, nothing more: the order is untouched, nothing is logged, the
    # reason and the explicit yes are still asked for.
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert store_fingerprint(world_sessions) == before
    assert run.send(conv, "I ordered it by mistake").act == "request_cancel_confirmation"
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert [a for a, _ in ranker.asked] == ["opening", "switch"]  # an issue is tracked now


@pytest.mark.parametrize(
    ("reading", "config"),
    [
        (Reading("cancel_order", 0.7, False), {}),  # under its threshold
        (Reading("out_of_scope", 0.99, True), {}),  # never acted on
        (Reading("cancel_order", 0.99, True), {"read_meaning": False}),  # the ablation
    ],
    ids=["not-accepted", "out-of-scope", "reader-off"],
)
def test_no_reading_is_taken_unaccepted_out_of_scope_or_switched_off(
    world_sessions: sessionmaker[Session], reading: Reading, config: dict[str, Any]
) -> None:
    target = _pending(world_sessions)
    ranker = Reads(FLOW, readings={_opening(target): reading})
    run = ConversationRunner(world_sessions, _agent(ranker, **config))
    conv = run.start()
    assert run.send(conv, _opening(target)).act not in ("request_cancel_reason", "cancel_done")
    assert _conversation(world_sessions, conv)[1].intent is None


def test_a_refund_question_the_nlu_calls_out_of_scope_is_not_handed_off(
    world_sessions: sessionmaker[Session],
) -> None:
    message = "I don't see a reufnd in my account"
    plain = ConversationRunner(world_sessions, _agent(PreferActs(REFUND_FLOW)))
    assert plain.send(plain.start(), message).act == "out_of_scope"  # the NLU's reading
    ranker = Reads(REFUND_FLOW, readings={message: Reading("refund_status", 0.99, True)})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    reply = run.send(conv, message)
    assert reply.act == "request_auth"  # no account data before authentication
    status, state, _ = _conversation(world_sessions, conv)
    assert status == "open" and not state.handed_off
    assert state.intent is not None and state.intent.value == "refund_status"


def test_a_request_for_a_human_stands_whatever_the_reading(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    message = "let me talk to a human agent"
    ranker = Reads(FLOW, readings={message: Reading("affirm", 0.99, True)})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    for m in _up_to_confirmation(target):
        run.send(conv, m)
    assert run.send(conv, message).act == "handoff_requested"
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _cancel_logs(world_sessions) == []


def test_a_confirmation_the_nlu_cannot_read_is_read_as_the_yes(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    number = target.order.order_number
    yes = "go on then"
    plain = ConversationRunner(world_sessions, _agent(PreferActs(FLOW)))
    conv = plain.start()
    for m in _up_to_confirmation(target):
        plain.send(conv, m)
    assert plain.send(conv, yes).act != "cancel_done"  # the NLU reads no yes
    assert _status(world_sessions, number) == "pending"

    ranker = Reads(FLOW, readings={yes: Reading("affirm", 0.99, True)})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    replies = [run.send(conv, m) for m in _up_to_confirmation(target)]
    assert acts(replies) == CONFIRMATION_ACTS
    done = run.send(conv, yes)
    assert (done.act, done.action) == ("cancel_done", "cancel_order")
    assert _status(world_sessions, number) == "cancelled"
    assert _cancel_logs(world_sessions) == [("done", conv)]
    assert ("confirmation", yes) in ranker.asked


@pytest.mark.parametrize(
    ("message", "reading"),
    [
        ("no, go on then", Reading("affirm", 0.99, True)),  # a "no" in the message
        ("go on then", Reading("affirm", 0.8, False)),  # under its threshold
        ("go on then", Reading("other", 0.99, True)),
    ],
    ids=["no-in-message", "not-accepted", "other"],
)
def test_no_reading_cancels_without_the_explicit_yes(
    world_sessions: sessionmaker[Session], message: str, reading: Reading
) -> None:
    target = _pending(world_sessions)
    ranker = Reads(FLOW, on_no=["cancel_kept"], readings={message: reading})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    for m in _up_to_confirmation(target):
        run.send(conv, m)
    assert run.send(conv, message).act != "cancel_done"
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _cancel_logs(world_sessions) == []


def test_a_switch_the_nlu_reads_too_weakly_takes_the_readers_issue(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    switch = "ok skip the refund thing, cancel my order"
    start = ["where is my refund", target.email]
    plain = ConversationRunner(world_sessions, _agent(PreferActs(REFUND_FLOW)))
    conv = plain.start()
    for m in [*start, switch]:
        plain.send(conv, m)
    state = _conversation(world_sessions, conv)[1]
    assert state.intent is not None and state.intent.value == "refund_status"  # no switch

    for label, expected in (("cancel_order", "cancel_order"), ("refund_status", "refund_status")):
        ranker = Reads(REFUND_FLOW, readings={switch: Reading(label, 0.99, True)})
        run = ConversationRunner(world_sessions, _agent(ranker))
        conv = run.start()
        for m in start:
            run.send(conv, m)
        reply = run.send(conv, switch)
        state = _conversation(world_sessions, conv)[1]
        assert state.intent is not None and state.intent.value == expected, (label, reply)
        assert ("switch", switch) in ranker.asked
    assert _status(world_sessions, target.order.order_number) == "pending"
    assert _cancel_logs(world_sessions) == []


def test_the_agent_never_reads_a_simulated_customers_meaning(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    agent = _agent(Reads(FLOW))  # a reader with no reading for this message
    with world_sessions() as session, session.begin():
        ctx = TurnContext(
            conversation_id=1,
            turn_index=0,
            now=world_now(session),
            customer_meaning="cancel_order",  # what the simulator knows; no arm may read it
        )
        message = clean_message(_opening(target), max_chars=2000)
        outcome = agent.respond(session, DialogueState(), message, ctx)
        assert outcome.state.intent is None
        suggestions, _ = agent.assist(session, DialogueState(), message, ctx)
        assert "request_cancel_reason" not in {s.act for s in suggestions}
        session.rollback()


def test_a_yes_to_another_question_is_never_read_as_a_confirmation(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    ranker = Reads(FLOW, readings={"go on then": Reading("affirm", 0.99, True)})
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    for m in _up_to_confirmation(target)[:3]:  # the reason is asked, not the confirmation
        run.send(conv, m)
    run.send(conv, "go on then")
    assert ("confirmation", "go on then") not in ranker.asked
    assert _status(world_sessions, target.order.order_number) == "pending"


# ---- safety of deviating or rogue rankings ------------------------------------------------------
def test_a_rogue_ranker_cannot_cancel_after_a_no(world_sessions: sessionmaker[Session]) -> None:
    target = _pending(world_sessions)
    agent = _agent(PreferActs(FLOW))
    run = ConversationRunner(world_sessions, agent)
    conv = run.start()
    assert acts([run.send(conv, m) for m in _up_to_confirmation(target)]) == CONFIRMATION_ACTS
    agent.ranker = Fixed(Ranking(ranked=(Ranked(CATALOG.get("cancel.done.1"), 9.0),), list_prob=1))
    run.send(conv, "no, keep it")
    assert _status(world_sessions, target.order.order_number) == "pending"


@pytest.mark.parametrize(
    ("messages", "prefer", "fate"),
    [
        (
            ["cancel my order", "nobody@example.com", "nobody2@example.com", "no3@example.com"],
            ("auth_failed", "request_auth"),
            "handed_off",
        ),
        (["hello", "bye"], ("greeting", "anything_else"), "closed"),
    ],
    ids=["auth-lockout-handoff", "closing"],
)
def test_the_reply_agrees_with_the_conversations_fate(
    world_sessions: sessionmaker[Session], messages: list[str], prefer: tuple[str, ...], fate: str
) -> None:
    run = ConversationRunner(world_sessions, _agent(PreferActs(prefer)))
    conv = run.start()
    replies = [run.send(conv, m) for m in messages]
    status = _conversation(world_sessions, conv)[0]
    expected_action = {"handed_off": "handoff", "closed": "end_conversation"}[fate]
    assert (status == fate) == (replies[-1].action == expected_action), (
        status,
        acts(replies),
    )


@dataclass
class Personal(PreferActs):
    """A fake ranker that reads soft tokens: it records what the agent hands it."""

    asked: list[tuple[int, str | None]] = field(default_factory=list)
    given: list[Any] = field(default_factory=list)

    def soft_for_record(self, record: Any, order_number: str | None) -> Any:
        import torch

        self.asked.append((record.profile.id, order_number))
        return torch.ones(1, 2, 3)

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        self.given.append(soft)
        return super().rank(turn, soft)


def test_soft_tokens_are_read_only_after_authentication_from_the_live_record(
    world_sessions: sessionmaker[Session],
) -> None:
    target = _pending(world_sessions)
    ranker = Personal(FLOW)
    run = ConversationRunner(world_sessions, _agent(ranker))
    conv = run.start()
    for text in _up_to_confirmation(target)[:3]:
        run.send(conv, text)
    before, *after = ranker.given
    assert before.shape == (1, 0, 0)  # nothing before authentication
    assert all(s.shape == (1, 2, 3) for s in after)
    customer = target.record.profile.id
    assert ranker.asked[0] == (customer, None)  # authenticated, no order yet
    assert ranker.asked[-1] == (customer, target.order.order_number)
