"""Grounding: every fact a draft states must be a fact the store holds for this customer.

A draft (already lexicalized) is checked against :class:`StoreFacts`, what the tracker read from
the store this turn. Each problem is named; a draft with any problem is never auto-sent
(agent-assist shows it, flagged). What is checked:

- placeholders left unfilled (a slot the store did not fill), a draft that never ended;
- order ids: only the identified order's, or the options the customer is asked to choose from;
- amounts: only the order's total or its refund amount;
- dates: only dates the store holds for this order (placed, shipped, delivered, cancelled,
  refund expected or completed) or for the options;
- refund methods: only the order's own ("your Visa ending in 4242", "your gift card");
- statuses ("has shipped", "was delivered", "is cancelled", "refund has been processed", …):
  only where the store's facts say so;
- item names: only items of the identified order or of the options (any catalog title is
  recognised);
- claimed actions: "I've cancelled …" only when the cancellation ran this turn; "I'm transferring
  you" only in a hand-off; a refund issued by the bot, never (there is no such action);
- before authentication, none of these at all.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Grounding", "StoreFacts", "ground"]

_MONTHS = "January|February|March|April|May|June|July|August|September|October|November|December"
_ORDER_ID = re.compile(r"#\s?[A-Z]?\d{5,}|\b[Ww]\d{7}\b")
_MONEY = re.compile(r"\$\s?\d[\d,]*(?:\.\d+)?")
_DATE = re.compile(rf"\b(?:{_MONTHS})\s+\d{{1,2}}(?:st|nd|rd|th)?(?:,?\s+\d{{4}})?", re.I)
_METHOD = re.compile(
    r"\b(gift card|paypal(?: account)?|visa|mastercard|american express|amex|discover)"
    r"(?: (?:card )?ending in \d{4})?",
    re.I,
)
_POLICY_ACTS = frozenset({"refund_policy", "cancel_policy", "auth_policy"})

# A status claim and the facts (any of them) that make it true.
_STATUS_CLAIMS: tuple[tuple[re.Pattern[str], frozenset[str], str], ...] = (
    (
        re.compile(r"\b(has|have|was|were|already) (been )?shipped\b|\bshipped on\b", re.I),
        frozenset({"order_shipped", "order_delivered"}),
        "shipped",
    ),
    (
        re.compile(
            r"\b(was|were|has been|been) delivered\b|\bdelivered on\b|\breached you\b", re.I
        ),
        frozenset({"order_delivered"}),
        "delivered",
    ),
    (
        re.compile(
            r"\brefund\b[^.!?]{0,40}?\b(is|was|has been) (all done|complete|completed|finished|"
            r"processed|issued|sent)\b|\bhas gone through\b|\bwas (credited|refunded|returned|"
            r"paid back)\b|\bhas been refunded\b|\b(went|paid) back to\b",
            re.I,
        ),
        frozenset({"refund_completed"}),
        "refund completed",
    ),
    (
        re.compile(
            r"\brefund\b[^.!?]{0,40}?\b(is|are) (in progress|underway|in motion|on its way|"
            r"being processed|heading back|headed back)\b|\bis being refunded\b|"
            r"\bis on its way back\b",
            re.I,
        ),
        frozenset({"refund_in_progress"}),
        "refund in progress",
    ),
    (
        re.compile(
            r"\b(return|item)\b[^.!?]{0,30}?\b(hasn't|has not) (arrived|been received|made it "
            r"back|reached us)\b|\brefund (hasn't|has not) started\b",
            re.I,
        ),
        frozenset({"refund_not_started"}),
        "refund not started",
    ),
    (
        re.compile(r"\brefund (attempt )?failed\b|\bcouldn't be processed\b", re.I),
        frozenset({"refund_failed"}),
        "refund failed",
    ),
)
_CANCEL_CLAIM_FIRST_PERSON = re.compile(
    r"\bI(?:'ve| have)? (?:just |now |gone ahead and |went ahead and )?cancell?ed\b|"
    r"\bI(?:'ve| have) (?:processed|completed) (?:the|your) cancell?ation\b",
    re.I,
)
_CANCELLED_STATE = re.compile(
    r"\b(?:has been|is now|is|was|been|already) cancell?ed\b|\bcancell?ation (?:is|was) "
    r"(?:done|complete|confirmed)\b",
    re.I,
)
_NOT = re.compile(r"\b(?:not|n't|cannot|can't|won't|unable)\b", re.I)
_HANDOFF_CLAIM = re.compile(
    r"\b(transferr?ing|transfer|connecting|hand(?:ing)? (?:you )?over|pass(?:ing)? you)\b.{0,40}"
    r"\b(human|agent|colleague|specialist|teammate|someone|team)\b",
    re.I,
)
_REFUND_ACTION_CLAIM = re.compile(
    r"\bI(?:'ve| have)? (?:just )?(?:issued|initiated|started|sent|processed) (?:a |the |your )?"
    r"refund\b",
    re.I,
)
_PLACEHOLDER = re.compile(r"\[[a-z_]+\]")


@dataclass(frozen=True)
class StoreFacts:
    """What the store holds for this turn (built by the caller from the tracker's reading)."""

    slots: Mapping[str, Any]  # the store-formatted slot values of this turn
    facts: frozenset[str]  # template facts (authenticated, order_shipped, cancel_confirmed, …)
    catalog_titles: frozenset[str] = frozenset()  # every item title the store sells, lowercase
    executed_action: str | None = None  # the bound action that ran with this reply
    reply_action: str | None = None  # the bound action of the draft's act (handoff, …)
    act: str | None = None
    extra_order_ids: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class Grounding:
    problems: tuple[str, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


def _options(slots: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    value = slots.get("order_options")
    return [o for o in value if isinstance(o, Mapping)] if isinstance(value, list) else []


def _values(
    slots: Mapping[str, Any], names: Collection[str], option_key: str | None = None
) -> set[str]:
    out = {str(slots[n]) for n in names if isinstance(slots.get(n), str) and slots[n]}
    if option_key is not None:
        out |= {str(o[option_key]) for o in _options(slots) if o.get(option_key)}
    return out


def _norm_money(text: str) -> str:
    return text.replace(" ", "").replace(",", "")


def _norm_id(text: str) -> str:
    return text.replace(" ", "").lstrip("#").upper()


def ground(text: str, store: StoreFacts, *, finished: bool = True) -> Grounding:
    """Every problem with ``text`` against ``store`` (none: the draft may be sent)."""
    problems: list[str] = []
    if not text.strip():
        problems.append("empty draft")
    if not finished:
        problems.append("the draft did not end")
    for ph in _PLACEHOLDER.findall(text):
        problems.append(f"unfilled placeholder {ph}")
    authed = "authenticated" in store.facts
    slots = store.slots

    ids = {_norm_id(v) for v in _values(slots, ("order_id",), "order_id") | store.extra_order_ids}
    for m in _ORDER_ID.finditer(text):
        if not authed or _norm_id(m.group(0)) not in ids:
            problems.append(f"order id {m.group(0)!r} is not this customer's order in question")

    money = {_norm_money(v) for v in _values(slots, ("order_total", "refund_amount"))}
    for m in _MONEY.finditer(text):
        if not authed or _norm_money(m.group(0)) not in money:
            problems.append(f"amount {m.group(0)!r} is not held by the store for this order")

    dates = _values(
        slots,
        ("order_date", "shipped_date", "delivered_date", "cancelled_date", "refund_date",
         "expected_date"),
        "order_date",
    )  # fmt: skip
    lowered_dates = [d.lower() for d in dates]
    for m in _DATE.finditer(text):
        said = re.sub(r"(st|nd|rd|th)\b", "", m.group(0).lower())
        if not authed or not any(d.startswith(said) or said.startswith(d) for d in lowered_dates):
            problems.append(f"date {m.group(0)!r} is not a date the store holds for this order")

    method = str(slots.get("refund_method") or "").lower()
    for m in _METHOD.finditer(text):
        said = m.group(0).lower()
        if method and said in method and authed:
            continue
        if store.act in _POLICY_ACTS and "ending in" not in said:
            continue  # "gift cards are refunded at once" is policy, not this customer's method
        problems.append(f"refund method {m.group(0)!r} is not this order's")

    for pattern, needs, name in _STATUS_CLAIMS:
        for m in pattern.finditer(text):
            if _negated(text, m.start()):
                continue
            if not authed or not (needs & store.facts):
                problems.append(f"states {name!r}, which the store does not hold")
            break

    problems += _claims(text, store)
    problems += _items(text, slots, store.catalog_titles, authed=authed)
    return Grounding(tuple(dict.fromkeys(problems)))


def _negated(text: str, at: int) -> bool:
    """A "not"/"can't" shortly before ``at`` in the same sentence."""
    start = max(text.rfind(".", 0, at), text.rfind("!", 0, at), text.rfind("?", 0, at), 0)
    window = text[max(start, at - 40) : at]
    return bool(_NOT.search(window))


def _claims(text: str, store: StoreFacts) -> list[str]:
    problems = []
    ran_cancel = store.executed_action == "cancel_order"
    for m in _CANCEL_CLAIM_FIRST_PERSON.finditer(text):
        if not _negated(text, m.start()) and not ran_cancel:
            problems.append("claims a cancellation that did not run")
            break
    for m in _CANCELLED_STATE.finditer(text):
        if _negated(text, m.start()):
            continue
        if not ran_cancel and "order_cancelled" not in store.facts:
            problems.append("states the order is cancelled, which the store does not hold")
        break
    if _HANDOFF_CLAIM.search(text) and store.reply_action != "handoff":
        problems.append("claims a hand-off that is not happening")
    if _REFUND_ACTION_CLAIM.search(text):
        problems.append("claims to have issued a refund (no such action exists)")
    return problems


def _items(
    text: str, slots: Mapping[str, Any], titles: frozenset[str], *, authed: bool
) -> list[str]:
    if not titles:
        return []
    lowered = text.lower()
    allowed = " ".join(
        [str(slots.get("item_summary") or "")]
        + [str(o.get("item_summary") or "") for o in _options(slots)]
    ).lower()
    problems = []
    for title in titles:
        if title in lowered and (not authed or title not in allowed):
            problems.append(f"names an item ({title!r}) that is not in this order")
    return sorted(problems)
