"""Business actions: ``lookup_refund`` and ``cancel_order``.

Each action is restricted to the authenticated customer's own orders (another customer's order is
indistinguishable from an unknown one), runs inside a savepoint (all of its writes or none),
is logged in ``action_log``, and is idempotent by key: a second call with the same key returns the
first call's result and changes nothing. The caller owns the outer transaction.

A read-only action (``lookup_refund``) writes only its log row. On a session that
:func:`defer_logs` was called on (a turn computed on a read-only snapshot of the store), that row
is kept in memory instead, and the caller writes it with the turn (:func:`deferred_logs`); a row
kept inside a savepoint that rolls back is dropped with it, as a written row would be.

Exceptions::

    ActionError
     ├── OrderNotFound        no such order *for this customer*
     ├── ActionRefused        policy says no (not cancellable, not confirmed, no reason)
     └── IdempotencyConflict  the key was already used for a different request
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import bindparam, event, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, SessionTransaction

from dialogue.domain import CancelReason, OrderView, PaymentKind, RefundStatus
from dialogue.policy import cancel_eligibility, may_cancel, refund_expected_by, refund_is_immediate
from dialogue.store import models
from dialogue.store.repository import (
    forget_customer,
    lock_owned_order,
    owned_order_view,
)


class ActionError(Exception):
    """Base of the action errors."""


class OrderNotFound(ActionError):
    pass


class ActionRefused(ActionError):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class IdempotencyConflict(ActionError):
    pass


@dataclass(frozen=True)
class CancelResult:
    order_number: str
    refund_amount: Decimal
    refund_method: PaymentKind
    refund_status: RefundStatus
    replayed: bool = False


@dataclass(frozen=True)
class RefundLookup:
    order: OrderView
    replayed: bool = False


# ---- log rows kept for the caller to write (read-only sessions) ------------------------------
_DEFERRED = "csbot.deferred_action_log"


# (the innermost transaction it was kept in, the row), oldest first
_Kept = list[tuple[SessionTransaction | None, models.ActionLog]]


def defer_logs(session: Session) -> None:
    """From now on, keep the log rows of this session's read-only actions for the caller to
    write (:func:`deferred_logs`) instead of writing them: the session may be unable to write."""
    if _DEFERRED not in session.info:
        session.info[_DEFERRED] = []
        event.listen(session, "after_soft_rollback", _drop_rolled_back)


def deferred_logs(session: Session) -> list[models.ActionLog]:
    """The log rows kept since :func:`defer_logs` (not in any session: add them to the one that
    writes the turn)."""
    kept: _Kept = session.info.get(_DEFERRED, [])
    return [row for _, row in kept]


def _keep(session: Session, row: models.ActionLog) -> bool:
    """Keep ``row`` for the caller where the session defers its logs; False: write it."""
    kept: _Kept | None = session.info.get(_DEFERRED)
    if kept is None:
        return False
    kept.append((session.get_nested_transaction(), row))
    return True


def _drop_rolled_back(session: Session, previous_transaction: SessionTransaction) -> None:
    """A savepoint (or the transaction) rolled back: so do the rows kept inside it."""
    kept: _Kept = session.info.get(_DEFERRED, [])

    def inside(where: SessionTransaction | None) -> bool:
        while where is not None:
            if where is previous_transaction:
                return True
            where = where.parent
        return not previous_transaction.nested  # the whole transaction: every kept row

    kept[:] = [(where, row) for where, row in kept if not inside(where)]


def _previous(session: Session, key: str) -> models.ActionLog | None:
    kept = [row for row in deferred_logs(session) if row.idempotency_key == key]
    if kept:
        return kept[-1]
    row: models.ActionLog | None = session.scalar(_BY_KEY, {"key": key})
    return row


_BY_KEY = select(models.ActionLog).where(models.ActionLog.idempotency_key == bindparam("key"))


def _check_same_request(row: models.ActionLog, action: str, params: dict[str, Any]) -> None:
    if row.action != action or row.params != params:
        raise IdempotencyConflict(
            f"idempotency key {row.idempotency_key!r} was used for another request"
        )


def _log(
    session: Session,
    *,
    key: str,
    action: str,
    customer_id: int,
    order_id: int | None,
    conversation_id: int | None,
    outcome: str,
    params: dict[str, Any],
    result: dict[str, Any],
    now: datetime,
    keep: bool = False,
) -> None:
    """Log an action (``keep``: a read-only action's row, kept where the session defers)."""
    row = models.ActionLog(
        idempotency_key=key,
        action=action,
        customer_id=customer_id,
        order_id=order_id,
        conversation_id=conversation_id,
        outcome=outcome,
        params=params,
        result=result,
        created_at=now,
    )
    if not (keep and _keep(session, row)):
        session.add(row)


def lookup_refund(
    session: Session,
    *,
    customer_id: int,
    order_number: str,
    idempotency_key: str,
    conversation_id: int | None,
    now: datetime,
) -> RefundLookup:
    """Read one of the customer's orders with its refunds (logged as an account-data access)."""
    params = {"order_number": order_number}
    previous = _previous(session, idempotency_key)
    if previous is not None:
        _check_same_request(previous, "lookup_refund", params)
    view = owned_order_view(session, customer_id=customer_id, order_number=order_number)
    if view is None:
        raise OrderNotFound(order_number)
    if previous is not None:
        return RefundLookup(order=view, replayed=True)
    refund = view.latest_refund
    _log(
        session,
        key=idempotency_key,
        action="lookup_refund",
        customer_id=customer_id,
        order_id=view.id,
        conversation_id=conversation_id,
        outcome="done",
        params=params,
        result={"refund_status": refund.status.value if refund else None},
        now=now,
        keep=True,
    )
    session.flush()
    return RefundLookup(order=view)


def cancel_order(
    session: Session,
    *,
    customer_id: int,
    order_number: str,
    reason: CancelReason | None,
    confirmed_order: str | None,
    idempotency_key: str,
    conversation_id: int | None,
    now: datetime,
) -> CancelResult:
    """Cancel one of the customer's orders and start its refund to the original payment method.

    Args:
        customer_id: the *authenticated* customer; the order must be theirs.
        order_number: the order to cancel.
        reason: the customer's reason (required).
        confirmed_order: the order number the customer explicitly said yes to (must match).
        idempotency_key: a key unique to this request; a replay returns the first result.
        conversation_id: for the action log.
        now: the world's clock.

    Raises:
        OrderNotFound: the customer has no such order.
        ActionRefused: the policy forbids it (reason in ``.reason``); logged, nothing changed.
        IdempotencyConflict: the key was used for a different request.
    """
    params = {"order_number": order_number, "reason": reason.value if reason else None}
    previous = _previous(session, idempotency_key)
    if previous is not None:
        _check_same_request(previous, "cancel_order", params)
        if previous.outcome != "done":
            raise ActionRefused(previous.outcome.removeprefix("refused:"))
        return CancelResult(
            order_number=order_number,
            refund_amount=Decimal(previous.result["refund_amount"]),
            refund_method=PaymentKind(previous.result["refund_method"]),
            refund_status=RefundStatus(previous.result["refund_status"]),
            replayed=True,
        )
    locked = lock_owned_order(session, customer_id=customer_id, order_number=order_number)
    if locked is None:
        raise OrderNotFound(order_number)
    row, view = locked
    if not may_cancel(
        view,
        customer_id=customer_id,
        reason_known=reason is not None,
        confirmed_order=confirmed_order,
    ):
        eligibility = cancel_eligibility(view)
        why = (
            eligibility.value
            if eligibility.value != "cancellable"
            else ("no_reason" if reason is None else "not_confirmed")
        )
        _log(
            session,
            key=idempotency_key,
            action="cancel_order",
            customer_id=customer_id,
            order_id=row.id,
            conversation_id=conversation_id,
            outcome=f"refused:{why}",
            params=params,
            result={},
            now=now,
        )
        session.flush()
        raise ActionRefused(why)
    assert reason is not None  # may_cancel checked it
    kind = view.payment.kind
    amount = view.total
    immediate = refund_is_immediate(kind)
    status = RefundStatus.COMPLETED if immediate else RefundStatus.IN_PROGRESS
    try:
        with session.begin_nested():
            row.status = "cancelled"
            row.cancelled_at = now
            row.cancel_reason = reason.value
            row.updated_at = now
            session.add(
                models.Refund(
                    order_id=row.id,
                    payment_method_id=row.payment_method_id,
                    status=status.value,
                    amount=amount,
                    method=kind.value,
                    created_at=now,
                    initiated_at=now,
                    expected_at=refund_expected_by(kind, now),
                    completed_at=now if immediate else None,
                )
            )
            _log(
                session,
                key=idempotency_key,
                action="cancel_order",
                customer_id=customer_id,
                order_id=row.id,
                conversation_id=conversation_id,
                outcome="done",
                params=params,
                result={
                    "refund_amount": str(amount),
                    "refund_method": kind.value,
                    "refund_status": status.value,
                },
                now=now,
            )
            session.flush()
    except IntegrityError as exc:  # the same key committed concurrently
        raise IdempotencyConflict(f"idempotency key {idempotency_key!r} raced") from exc
    finally:
        forget_customer(session, customer_id)  # a cached record must not outlive this write
    return CancelResult(
        order_number=order_number, refund_amount=amount, refund_method=kind, refund_status=status
    )
