"""A goal-driven simulated customer: talks through the phrase bank and judges replies.

The customer reads each reply through its act and the slot values it states (for free text with
no catalog act, through an act classifier, simulator.act_reader; with no slots, through the order
ids, amounts and dates it finds in the text) and judges it against
the store's facts about their goal, drawn when the contact began. The store-side checks (was the
right order cancelled, was anything else changed) are the harness's: see simulator/episode.py.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field

from dialogue.agent import AgentReply
from dialogue.domain import CustomerRecord
from simulator.act_reader import read_act
from simulator.phrases import PhraseBank, add_noise
from simulator.population import Goal, Persona

# Acts that state facts about one order: a wrong value in them is a wrong fact.
FACT_ACTS = frozenset(
    {
        "refund_none",
        "refund_not_started",
        "refund_in_progress",
        "refund_completed",
        "refund_failed",
        "cancel_done",
        "cannot_cancel_shipped",
        "cannot_cancel_shipped_member",
        "cannot_cancel_delivered",
        "already_cancelled",
    }
)
HANDOFF_ACTIONS = frozenset({"handoff"})
AUTH_ACTS = frozenset({"request_auth", "auth_failed", "auth_policy"})
ORDER_ID = re.compile(r"#W\d{7}")
MONEY = re.compile(r"\$[\d,]+\.\d{2}")
DATE = re.compile(
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
    r" \d{1,2}, \d{4}"
)
WRONG_ID = "#W0000000"


@dataclass
class Verdict:
    """What the customer concluded (the harness adds the store's side)."""

    goal_met: bool = False
    wrong_fact: bool = False
    handed_off: bool = False
    abandoned: bool = False
    claimed_cancel: bool = False  # the bot said the goal order was cancelled
    problems: list[str] = field(default_factory=list)


class SimulatedCustomer:
    """One customer in one contact."""

    def __init__(
        self,
        *,
        goal: Goal,
        persona: Persona,
        record: CustomerRecord,
        bank: PhraseBank,
        rng: random.Random,
        silent_per_turn: float = 0.0,
    ) -> None:
        self.goal = goal
        self.persona = persona
        self.profile = record.profile
        self.bank = bank
        self.rng = rng
        self.verdict = Verdict()
        self.messages = 0
        self.silent_streak = 0
        self.stated_goal = False
        self.switched = goal.switch_from is None
        self.gave_wrong_id = False
        self.asked_back = False
        self.done = False  # goal settled; next reply to "anything else" closes
        self.closings = 0
        self.silent_per_turn = silent_per_turn
        # What the last message meant, as an NLU intent (None: no clear meaning, e.g. silence).
        # Only the simulated human rep reads it: a human understands what a customer means.
        self.meaning: str | None = None

    # ---- talking ---------------------------------------------------------------------------
    def _say(self, template: str, meaning: str | None = None, **values: str) -> str:
        self.messages += 1
        self.meaning = meaning
        text = template
        for key, value in values.items():
            text = text.replace("{" + key + "}", value)
        return add_noise(
            text,
            self.rng,
            typo_rate=self.persona.typo_rate,
            lowercase=self.persona.lowercase,
            drop_punctuation=self.persona.drop_punctuation,
        )

    def _pick(self, options: tuple[str, ...]) -> str:
        return self.rng.choice(options)

    def _auth(self) -> str:
        p = self.profile
        if self.goal.auth_by == "name_zip":
            return self._say(
                self._pick(self.bank.auth_name_zip),
                "inform",
                first_name=p.first_name,
                last_name=p.last_name,
                zip_code=p.zip_code,
            )
        return self._say(self._pick(self.bank.auth_email), "inform", email=p.email)

    def _opener_for(self, issue: str) -> str:
        goal = self.goal
        if issue == "out_of_scope":
            kind = goal.out_of_scope_kind or "change_address"
            return self._say(self._pick(self.bank.out_of_scope[kind]), "out_of_scope")
        if self.persona.verbose and goal.order_number and goal.refer_by == "id":
            text = self._say(
                self._pick(self.bank.openers_with_order[issue]), issue, order_ref=goal.order_number
            )
        else:
            text = self._say(self._pick(self.bank.openers[issue]), issue)
            if self.persona.verbose and goal.refer_by in ("description", "last"):
                text = f"{text} {self._give_order('request_order')}"
                self.messages -= 1  # one message, two phrases
                self.meaning = issue
        if self.persona.verbose and self.goal.auth_by == "email":
            text = f"{text} {self.profile.email}"
        return text

    def opening(self) -> str:
        """The first message of the contact."""
        if self.goal.switch_from is not None:
            return self._opener_for(self.goal.switch_from)
        self.stated_goal = True
        return self._opener_for(self.goal.issue_type)

    def _state_goal(self) -> str:
        self.stated_goal = True
        if not self.switched:
            self.switched = True
            options = self.bank.switch_intent[self.goal.issue_type]
            if self.goal.refer_by != "id":  # {order_ref} phrasings name the order by its id
                options = tuple(o for o in options if "{order_ref}" not in o) or options
            issue = self.goal.issue_type
            return self._say(self._pick(options), issue, order_ref=self.goal.order_number or "")
        return self._opener_for(self.goal.issue_type)

    def _give_order(self, act: str) -> str:
        goal = self.goal
        if goal.refer_by == "wrong_id" and not self.gave_wrong_id:
            self.gave_wrong_id = True
            return self._say(self._pick(self.bank.order_by_id), "inform", order_id=WRONG_ID)
        if act == "order_not_found" or goal.refer_by in ("id", "wrong_id"):
            order_id = goal.order_number or ""
            return self._say(self._pick(self.bank.order_by_id), "inform", order_id=order_id)
        if goal.refer_by == "description":
            return self._say(
                self._pick(self.bank.order_by_description),
                "inform",
                description=goal.description,
            )
        return self._say(self._pick(self.bank.order_last), "inform")

    # ---- reading replies -------------------------------------------------------------------
    def _stated_order(self, reply: AgentReply) -> str | None:
        if reply.slots is not None:
            value = reply.slots.get("order_id")
            return value if isinstance(value, str) else None
        found = ORDER_ID.findall(reply.text)
        return found[0] if found else None

    def _check_facts(self, reply: AgentReply, act: str) -> None:
        """A fact-stating reply about the goal order must match the store."""
        goal = self.goal
        if act not in FACT_ACTS or goal.order_number is None:
            return
        stated = self._stated_order(reply)
        if stated is not None and stated != goal.order_number:
            return  # about another order: not our goal (the wrong-order reply handles it)
        if act == "already_cancelled" and self.verdict.claimed_cancel:
            return  # true since this contact's own cancellation (the store check has the say)
        if act != "cancel_done" and act not in goal.true_acts:
            # (a claimed cancellation is checked against the store by the harness)
            self._wrong(f"told {act} about {goal.order_number}, true: {sorted(goal.true_acts)}")
            return
        if reply.slots is not None:
            for key, value in reply.slots.items():
                if key in goal.facts and goal.facts[key] != value:
                    self._wrong(f"{key}: told {value!r}, store holds {goal.facts[key]!r}")
            return
        known = {v for v in goal.facts.values() if isinstance(v, str)}
        for pattern in (MONEY, DATE):
            for value in pattern.findall(reply.text):
                if value not in known:
                    self._wrong(f"stated {value!r}, not a fact of {goal.order_number}")

    def _wrong(self, problem: str) -> None:
        self.verdict.wrong_fact = True
        self.verdict.problems.append(problem)

    def _closing(self) -> str:
        self.done = True
        self.closings += 1
        return self._say(self._pick(self.bank.closing), "goodbye")

    def reply_to(self, reply: AgentReply) -> str | None:
        """The customer's next message, or None when they leave."""
        goal, act = self.goal, read_act(reply)
        self._check_facts(reply, act)
        if reply.action in HANDOFF_ACTIONS:
            self.verdict.handed_off = True
            self.verdict.goal_met = goal.handoff_is_right and (
                goal.issue_type == "out_of_scope" or act in goal.expected_acts
            )
            return None
        if reply.action == "end_conversation":
            return None
        if self.done:  # said goodbye once; one more try if the bot did not take it, then leave
            if act == "closing" or self.closings >= 2:
                return None
            return self._closing()
        stated = self._stated_order(reply)
        if act in FACT_ACTS:
            if stated is None or stated == goal.order_number:
                if act in goal.expected_acts and not self.verdict.wrong_fact:
                    self.verdict.goal_met = True
                    self.verdict.claimed_cancel = act == "cancel_done"
                    return self._closing()
                if act == "cancel_done":
                    self.verdict.claimed_cancel = True
            if self.messages >= self.persona.patience:
                return self._give_up()
            return self._say(self._pick(self.bank.wrong_order_reply), "deny")
        if self.messages >= self.persona.patience:
            return self._give_up()
        if goal.asks_human_at is not None and self.messages >= goal.asks_human_at:
            return self._say(self._pick(self.bank.ask_human), "human")
        if self.rng.random() < self.silent_per_turn:
            self.silent_streak += 1
            if self.silent_streak >= 2:
                return self._give_up()
            self.messages += 1
            self.meaning = None
            return self._pick(self.bank.silence)
        self.silent_streak = 0
        return self._answer(act, reply, stated)

    def _give_up(self) -> str | None:
        """Leave without the goal met (patience ran out or went quiet): no next message."""
        self.verdict.abandoned = True
        self.verdict.problems.append(f"gave up after {self.messages} messages")
        return None

    def _answer(self, act: str, reply: AgentReply, stated: str | None) -> str:
        goal = self.goal
        if act in AUTH_ACTS:
            # An uncooperative customer always questions the identity check once.
            questions = goal.questions_back or not self.persona.cooperative
            if questions and not self.asked_back:
                self.asked_back = True
                return self._say(self._pick(self.bank.question_back))
            return self._auth()
        if act == "request_auth_zip":
            zip_code = self.profile.zip_code
            return self._say(self._pick(self.bank.zip_only), "inform", zip_code=zip_code)
        if not self.stated_goal or (goal.switch_from is not None and not self.switched):
            return self._state_goal()
        if goal.issue_type == "out_of_scope":
            return self._opener_for("out_of_scope")
        if act in ("request_order", "order_not_found", "no_eligible_orders"):
            return self._give_order(act)
        if act == "disambiguate_order":  # listed or not, the customer now names it by id
            order_id = goal.order_number or ""
            return self._say(self._pick(self.bank.order_by_id), "inform", order_id=order_id)
        if act == "confirm_order":
            if stated == goal.order_number:
                return self._say(self._pick(self.bank.confirm_yes), "affirm")
            return self._say(self._pick(self.bank.confirm_no), "deny")
        if act == "request_cancel_reason":
            return self._say(self._pick(self.bank.reasons[goal.reason_key]), "inform")
        if act == "request_cancel_confirmation":
            if stated == goal.order_number and goal.issue_type == "cancel_order":
                return self._say(self._pick(self.bank.confirm_yes), "affirm")
            return self._say(self._pick(self.bank.confirm_no), "deny")
        if act in ("greeting", "greeting_named", "clarify", "anything_else", "auth_success"):
            return self._state_goal()
        return self._state_goal()  # cancel_kept, policy notes, input errors: say it again
