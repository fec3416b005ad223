"""The dialogue state tracker's state: what the agent knows after each turn.

A frozen dataclass updated with :func:`dataclasses.replace`; it round-trips through JSON so a
conversation's state lives in its store row between turns (the service stays stateless).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from enum import StrEnum
from typing import Any

from dialogue.domain import CancelReason, Intent


class Awaiting(StrEnum):
    """What the agent's last reply asked the customer for."""

    INTENT = "intent"
    AUTH = "auth"
    AUTH_ZIP = "auth_zip"
    ORDER = "order"
    ORDER_CHOICE = "order_choice"
    CANCEL_REASON = "cancel_reason"
    CANCEL_CONFIRMATION = "cancel_confirmation"
    ANYTHING_ELSE = "anything_else"


@dataclass(frozen=True)
class DialogueState:
    """Everything the agent carries from one turn to the next."""

    intent: Intent | None = None
    # Set only by successful authentication; every account read is scoped to it.
    customer_id: int | None = None
    auth_failures: int = 0
    # A full name given before the zip code: (first, last).
    pending_name: tuple[str, str] | None = None
    # The identified order (one of the authenticated customer's own order numbers).
    order_number: str | None = None
    # An order id the customer typed before authenticating: resolved (against their own orders)
    # only once they have authenticated.
    pending_order_ref: str | None = None
    # Orders offered for disambiguation (the customer's own order numbers).
    candidate_orders: tuple[str, ...] = ()
    cancel_reason: CancelReason | None = None
    awaiting: Awaiting | None = None
    # The order the open cancellation confirmation request was about; a "yes" counts only for it.
    confirmation_for: str | None = None
    # Goals finished in this conversation, e.g. "cancel_order:#W1234567".
    resolved: tuple[str, ...] = ()
    clarifications: int = 0
    order_misses: int = 0
    turns: int = 0
    handed_off: bool = False
    ended: bool = False
    last_act: str | None = None

    @property
    def confirming(self) -> bool:
        """Whether the last reply asked the customer to confirm a cancellation of one order (so
        this turn may cancel it)."""
        return self.awaiting == Awaiting.CANCEL_CONFIRMATION and self.confirmation_for is not None

    def update(self, **changes: Any) -> DialogueState:
        """A copy with the given fields changed."""
        return replace(self, **changes)

    def forget_order(self) -> DialogueState:
        """Drop everything tied to the current order (switching order or intent)."""
        return replace(
            self,
            order_number=None,
            candidate_orders=(),
            cancel_reason=None,
            confirmation_for=None,
            order_misses=0,
        )

    def to_json(self) -> dict[str, Any]:
        """A JSON-safe dict (enums as their values, tuples as lists)."""
        data = asdict(self)
        for key, value in data.items():
            if isinstance(value, tuple):
                data[key] = list(value)
        return data

    @classmethod
    def from_json(cls, data: dict[str, Any] | None) -> DialogueState:
        """Rebuild a state from :meth:`to_json` output; an empty or missing dict is a new state."""
        if not data:
            return cls()
        known = {f for f in cls.__dataclass_fields__}
        values = {k: v for k, v in data.items() if k in known}
        if values.get("intent") is not None:
            values["intent"] = Intent(values["intent"])
        if values.get("cancel_reason") is not None:
            values["cancel_reason"] = CancelReason(values["cancel_reason"])
        if values.get("awaiting") is not None:
            values["awaiting"] = Awaiting(values["awaiting"])
        if values.get("pending_name") is not None:
            first, last = values["pending_name"]
            values["pending_name"] = (str(first), str(last))
        for key in ("candidate_orders", "resolved"):
            if key in values:
                values[key] = tuple(values[key])
        return cls(**values)
