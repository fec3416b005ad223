"""Profile and tracker features as tokens: one vocabulary id per (feature, value) pair.

The ranker attends over these tokens beside the dialogue context (DESIGN.md: "account-profile
features"). Profile features describe the customer (membership, tenure, order counts, open orders,
refunds, recent contacts); tracker features describe this turn as the code sees it: the template
facts the tracker established (authenticated, the referenced order's status and refund state,
confirmation given, ...) and what the previous reply asked for. Numbers enter as buckets, so the
vocabulary is closed and every value maps to a token.
"""

from __future__ import annotations

import bisect
import functools
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

from dialogue.domain import CustomerRecord, OrderStatus
from dialogue.nlu import Parse, is_affirmation, is_denial
from dialogue.state import Awaiting, DialogueState
from templates.catalog import ACTS, FACTS

__all__ = [
    "MAX_FEATURE_TOKENS",
    "PAD",
    "feature_ids",
    "profile_features",
    "tracker_view",
    "vocabulary",
]

PAD = 0
MAX_FEATURE_TOKENS = 48
_MEMBERSHIPS = ("guest", "bronze", "silver", "gold")
_INTENTS = ("refund_status", "cancel_order")
NLU_INTENTS = (
    "refund_status", "cancel_order", "affirm", "deny", "greet", "goodbye", "human",
    "out_of_scope", "inform",
)  # fmt: skip
_CONFIDENCE = (0.4, 0.6, 0.8)
# What the tracker read or found this turn (yes/no flags): the inputs the policy decides on.
SIGNALS = (
    "said_yes", "said_no", "gave_email", "gave_name", "gave_zip", "gave_order_id",
    "gave_unknown_order_id", "gave_reason", "said_last_order", "authenticated_now",
    "auth_lookup_failed", "order_identified_now", "order_candidates", "order_missed",
)  # fmt: skip
# Bucket edges: a value v falls in bucket i with edges[i-1] <= v < edges[i].
_BUCKETS: Mapping[str, tuple[int, ...]] = {
    "tenure_days": (30, 90, 365, 730, 1460),
    "orders": (1, 2, 3, 5, 10),
    "open_orders": (1, 2, 3),
    "refunds": (1, 2, 4),
    "recent_contacts": (1, 2, 4),
    "auth_failures": (1, 2, 3),
    "clarifications": (1, 2, 3),
    "order_misses": (1, 2, 3),
    "turns": (1, 2, 3, 5, 8),
}


@functools.cache
def vocabulary() -> tuple[str, ...]:
    """Every feature token, in a fixed order (index 0 is padding)."""
    tokens = ["<pad>"]
    tokens += [f"membership={m}" for m in (*_MEMBERSHIPS, "unknown")]
    for name, edges in _BUCKETS.items():
        tokens += [f"{name}={i}" for i in range(len(edges) + 1)] + [f"{name}=unknown"]
    tokens += [f"fact={f}" for f in sorted(FACTS)]
    tokens += [f"awaiting={a.value}" for a in Awaiting] + ["awaiting=none"]
    tokens += [f"intent={i}" for i in _INTENTS] + ["intent=none"]
    tokens += [f"last_act={a}" for a in sorted(ACTS)] + ["last_act=none", "last_act=unknown"]
    tokens += [f"nlu={i}" for i in (*NLU_INTENTS, "unknown")]
    tokens += [f"nlu_confidence={i}" for i in range(len(_CONFIDENCE) + 1)]
    tokens += [f"tracked_intent={i}" for i in _INTENTS] + ["tracked_intent=none"]
    tokens += [f"signal={name}" for name in SIGNALS]
    return tuple(tokens)


@functools.cache
def _index() -> Mapping[str, int]:
    return {token: i for i, token in enumerate(vocabulary())}


def _bucket(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, int | float) or value != value:
        return f"{name}=unknown"
    return f"{name}={bisect.bisect_right(_BUCKETS[name], value)}"


def profile_features(record: CustomerRecord, now: datetime) -> dict[str, Any]:
    """The profile features the models read (no names, emails or addresses)."""
    open_orders = sum(
        o.status in (OrderStatus.PENDING, OrderStatus.PROCESSING) for o in record.orders
    )
    return {
        "membership": record.profile.membership.value,
        "tenure_days": max(0, (now - record.profile.created_at).days),
        "orders": len(record.orders),
        "open_orders": open_orders,
        "refunds": sum(len(o.refunds) for o in record.orders),
    }


def tracker_view(state: DialogueState) -> dict[str, Any]:
    """The tracker features of the state a turn starts from (JSON-safe, as the corpus stores it).

    Args:
        state: The dialogue state before the turn.

    Returns:
        ``awaiting``, ``intent``, ``last_act`` (strings or None) and the counters.
    """
    return {
        "awaiting": state.awaiting.value if state.awaiting else None,
        "intent": state.intent.value if state.intent else None,
        "last_act": state.last_act,
        "auth_failures": state.auth_failures,
        "clarifications": state.clarifications,
        "order_misses": state.order_misses,
        "turns": state.turns,
    }


def tracker_signals(parse: Parse, before: DialogueState, after: DialogueState) -> dict[str, Any]:
    """What the tracker read in this message and found in the store (JSON-safe).

    These are the state tracker's outputs (DESIGN.md: intent, slots, identity, order reference),
    not the reply: the NLU's intent and confidence, explicit yes/no, details given, and whether
    this turn authenticated the customer, failed a lookup or identified the order.

    Args:
        parse: The NLU's reading of the message.
        before: The state the turn started from.
        after: The tracker's state after the turn (the proposal's).
    """
    flags = {
        "said_yes": is_affirmation(parse),
        "said_no": is_denial(parse),
        "gave_email": parse.email is not None,
        "gave_name": parse.name is not None,
        "gave_zip": parse.zip_code is not None,
        "gave_order_id": bool(parse.order_numbers),
        "gave_unknown_order_id": bool(parse.unrecognized_order_refs),
        "gave_reason": parse.cancel_reason is not None,
        "said_last_order": parse.mentions_last_order,
        "authenticated_now": before.customer_id is None and after.customer_id is not None,
        "auth_lookup_failed": after.auth_failures > before.auth_failures,
        "order_identified_now": after.order_number is not None
        and after.order_number != before.order_number,
        "order_candidates": bool(after.candidate_orders)
        and after.candidate_orders != before.candidate_orders,
        "order_missed": after.order_misses > before.order_misses,
    }
    return {
        "nlu": parse.intent,
        "nlu_confidence": round(parse.confidence, 3),
        "tracked_intent": after.intent.value if after.intent else None,
        "signals": sorted(name for name, on in flags.items() if on),
    }


def feature_ids(
    profile: Mapping[str, Any] | None,
    tracker: Mapping[str, Any] | None,
    facts: Sequence[str] | frozenset[str],
    *,
    use_profile: bool = True,
) -> list[int]:
    """The feature tokens of one turn, as vocabulary ids (unknown values map to ``*=unknown``).

    Args:
        profile: The customer's profile features (``simulator.corpus.profile_features``); left
            out unless ``facts`` holds ``authenticated``.
        tracker: :func:`tracker_view` of the state the turn starts from.
        facts: The template facts the tracker established this turn.
        use_profile: False leaves the profile out (the ablation).

    Returns:
        At most :data:`MAX_FEATURE_TOKENS` ids, never padding.
    """
    index = _index()
    tokens: list[str] = []
    # No account data before authentication: the profile enters only once the customer is known.
    if use_profile and profile and "authenticated" in facts:
        membership = profile.get("membership")
        tokens.append(
            f"membership={membership}" if membership in _MEMBERSHIPS else "membership=unknown"
        )
        for name in ("tenure_days", "orders", "open_orders", "refunds", "recent_contacts"):
            tokens.append(_bucket(name, profile.get(name)))
    tracker = tracker or {}
    tokens += [f"fact={f}" for f in sorted(facts) if f in FACTS]
    awaiting = tracker.get("awaiting")
    tokens.append(f"awaiting={awaiting}" if awaiting else "awaiting=none")
    intent = tracker.get("intent")
    tokens.append(f"intent={intent}" if intent in _INTENTS else "intent=none")
    last_act = tracker.get("last_act")
    tokens.append(
        "last_act=none" if last_act is None else f"last_act={last_act}"
        if last_act in ACTS else "last_act=unknown"
    )  # fmt: skip
    for name in ("auth_failures", "clarifications", "order_misses", "turns"):
        tokens.append(_bucket(name, tracker.get(name)))
    nlu_intent = tracker.get("nlu")
    if nlu_intent is not None:
        tokens.append(f"nlu={nlu_intent}" if nlu_intent in NLU_INTENTS else "nlu=unknown")
        confidence = tracker.get("nlu_confidence")
        if isinstance(confidence, int | float):
            tokens.append(f"nlu_confidence={bisect.bisect_right(_CONFIDENCE, confidence)}")
        tracked = tracker.get("tracked_intent")
        tokens.append(f"tracked_intent={tracked}" if tracked in _INTENTS else "tracked_intent=none")
    tokens += [f"signal={name}" for name in tracker.get("signals", ()) if name in SIGNALS]
    ids = [index.get(t, index.get(t.split("=")[0] + "=unknown", PAD)) for t in tokens]
    return [i for i in ids if i != PAD][:MAX_FEATURE_TOKENS]
