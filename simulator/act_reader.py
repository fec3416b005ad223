"""How a simulated customer reads a reply: by its act when the arm names a catalog act, otherwise by
an act classifier over the free text (a generator's draft, a rep's message).

The classifier (TF-IDF + logistic regression, the same model as the agent's intent classifier) is
trained on the simulated rep's free-text phrasings of every act, written from made-up slot values
with their own seed, and never on the catalog templates an arm renders.
"""

from __future__ import annotations

import functools
import random

from dialogue.agent import AgentReply
from dialogue.nlu import IntentClassifier
from dialogue.slots import SlotValue
from templates import ACTS

SAMPLE_SLOTS: dict[str, SlotValue] = {
    "order_id": "#W1234567",
    "order_ref": "#W1234567",
    "item_summary": "Blue Water Bottle",
    "order_total": "$24.99",
    "order_date": "October 30, 2026",
    "refund_method": "your Visa card ending in 4242",
    "refund_timing": "within 5–7 business days",
    "refund_amount": "$24.99",
    "shipped_date": "October 31, 2026",
    "delivered_date": "November 2, 2026",
    "cancelled_date": "November 1, 2026",
    "expected_date": "November 9, 2026",
    "refund_date": "November 3, 2026",
    "first_name": "Sam",
    "membership": "gold",
    "order_options": [
        {
            "order_id": "#W1234567",
            "item_summary": "Blue Water Bottle",
            "order_date": "October 30, 2026",
            "status": "pending",
        },
        {
            "order_id": "#W7654321",
            "item_summary": "Desk Lamp",
            "order_date": "October 12, 2026",
            "status": "delivered",
        },
    ],
}
PER_ACT = 80


def training_replies(seed: int = 12345) -> list[tuple[str, str]]:
    """(free text, act) pairs from the simulated rep's phrasings."""
    from simulator.human_agent import write_reply

    rng = random.Random(seed)
    rows: list[tuple[str, str]] = []
    for act in sorted(ACTS):
        for _ in range(PER_ACT):
            text, _off = write_reply(act, SAMPLE_SLOTS, rng, off_catalog_rate=0.0)
            rows.append((text, act))
    return rows


@functools.cache
def act_classifier() -> IntentClassifier:
    """Trained once per process, on first use."""
    return IntentClassifier(training_replies())


def read_act(reply: AgentReply) -> str:
    """The reply's act as the customer understands it."""
    if reply.act in ACTS and not reply.generated:
        return reply.act
    act, _confidence = act_classifier().predict(reply.text)
    return act
