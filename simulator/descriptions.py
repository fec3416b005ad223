"""Labelled order descriptions: what a customer calls one of their orders, and which order it is.

Two sets measure order resolution (``csbot personalize orders``):

- **simulator**: the simulated customer's own words. Each order is named as
  :func:`simulator.population.order_description` names it ("the blue water bottle"), inside one
  of the phrase bank's answers ("I mean {description}").
- **tau2**: descriptions built from the imported tau2-bench world, in five styles fixed before
  any resolver was measured on them (see :data:`TAU2_STYLES`): the product's name, an option and
  the name, the name and when it was bought ("the office chair I bought last month"), a one-letter
  slip in the name, and the name with its spelling changed (plural, no hyphen, lower case).

Only orders a description can single out are kept: a description that fits another of the
customer's orders as well (the same product and option, or bought in the same window) is
skipped, since the right answer to it is a question, not an order.
"""

from __future__ import annotations

import calendar
import random
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from dialogue.domain import CustomerRecord, OrderLine, OrderView
from dialogue.store import repository
from simulator.phrases import PhraseBank
from simulator.population import order_description

__all__ = ["TAU2_STYLES", "DescribedOrder", "simulator_descriptions", "tau2_descriptions", "when"]

TAU2_STYLES = ("name", "option", "time", "slip", "spelling")


@dataclass(frozen=True)
class DescribedOrder:
    customer_id: int
    text: str
    order_number: str
    style: str


def _records(session: Session, min_orders: int) -> Iterator[CustomerRecord]:
    for customer_id in repository.customers_with_orders(session):
        record = repository.customer_record(session, customer_id)
        if record is not None and len(record.orders) >= min_orders:
            yield record


def simulator_descriptions(
    session: Session, bank: PhraseBank, *, seed: int = 0, limit: int | None = None
) -> list[DescribedOrder]:
    """One case per identifiable order of every customer with two orders or more."""
    rng = random.Random(seed)
    out: list[DescribedOrder] = []
    for record in _records(session, 2):
        names = [order_description(o) for o in record.orders]
        for order, name in zip(record.orders, names, strict=True):
            if names.count(name) > 1:
                continue
            phrase = rng.choice(bank.order_by_description).format(description=name)
            out.append(DescribedOrder(record.profile.id, phrase, order.order_number, "simulator"))
            if limit is not None and len(out) >= limit:
                return out
    return out


def when(days: int, rng: random.Random, as_of: datetime) -> str:
    """How a customer says when they bought something ``days`` ago (rounded, as people do)."""
    if days <= 0:
        return "today"
    if days == 1:
        return "yesterday"
    if days < 7:
        return rng.choice([f"{days} days ago", "the other day", "a few days ago"])
    if days < 14:
        return rng.choice(["last week", "a week ago"])
    if days < 28:
        return f"{days // 7} weeks ago"
    if days < 60:
        return rng.choice(["last month", "a month ago", f"{round(days / 7)} weeks ago"])
    month = calendar.month_name[(as_of - timedelta(days=days)).month]
    return rng.choice([f"{days // 30} months ago", f"in {month}"])


def _noun(line: OrderLine) -> str:
    return dict(line.attributes).get("noun", line.title.split(" (")[0].lower())


def _slip(word: str, rng: random.Random) -> str:
    """One letter dropped, doubled or swapped with its neighbour (never the first letter)."""
    if len(word) < 4:
        return word
    i = rng.randrange(1, len(word) - 1)
    kind = rng.choice(["drop", "double", "swap"])
    if kind == "drop":
        return word[:i] + word[i + 1 :]
    if kind == "double":
        return word[:i] + word[i] + word[i:]
    return word[:i] + word[i + 1] + word[i] + word[i + 2 :]


def _respell(noun: str) -> str:
    """Plural, hyphens and spaces dropped: "t-shirt" → "tshirts", "e-reader" → "ereaders"."""
    word = noun.replace("-", "")
    return word if word.endswith("s") else word + "s"


def _main_line(order: OrderView) -> OrderLine:
    return max(order.lines, key=lambda ln: ln.unit_price)


def _option(line: OrderLine, rng: random.Random) -> tuple[str, str] | None:
    options = [(k, v) for k, v in line.attributes if k != "noun" and v]
    return rng.choice(options) if options else None


def tau2_descriptions(
    session: Session, as_of: datetime, *, seed: int = 0, limit: int | None = None
) -> list[DescribedOrder]:
    """Cases in every :data:`TAU2_STYLES` style over an imported tau2 world's customers."""
    rng = random.Random(seed)
    out: list[DescribedOrder] = []
    for record in _records(session, 2):
        nouns = [{_noun(ln) for ln in o.lines} for o in record.orders]
        for index, order in enumerate(record.orders):
            if not order.lines:
                continue
            line = _main_line(order)
            noun = _noun(line)
            others = [n for j, n in enumerate(nouns) if j != index]
            shared = [record.orders[j] for j, n in enumerate(nouns) if j != index and noun in n]
            style = TAU2_STYLES[rng.randrange(len(TAU2_STYLES))]
            text: str | None = None
            if style == "name" and not any(noun in n for n in others):
                text = f"the {noun}"
            elif style == "slip" and not any(noun in n for n in others):
                text = "the " + " ".join(_slip(w, rng) for w in noun.split())
            elif style == "spelling" and not any(noun in n for n in others):
                text = f"the {_respell(noun)}"
            elif style == "option" and (opt := _option(line, rng)) is not None:
                clash = any(
                    opt in ln.attributes and _noun(ln) == noun for o in shared for ln in o.lines
                )
                text = None if clash else f"the {opt[1]} {noun}"
            elif style == "time":
                days = (as_of - order.placed_at).days
                phrase = when(days, random.Random(rng.random()), as_of)
                clash = any(abs((o.placed_at - order.placed_at).days) < 30 for o in shared)
                text = None if clash else f"the {noun} I bought {phrase}"
            if text is not None:
                out.append(DescribedOrder(record.profile.id, text, order.order_number, style))
                if limit is not None and len(out) >= limit:
                    return out
    return out
