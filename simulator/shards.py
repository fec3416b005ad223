"""Parallel runs on an SQLite store: each Ray task runs its customers on a private copy of the store
and hands back the rows it wrote; the driver merges them into the store, one task per transaction.

SQLite has one writer at a time, and a contact writes from its first turn to its last, so workers
sharing the file would take turns rather than run side by side. Customers are independent (no
contact touches another customer's orders), so a task can run its customers on a snapshot of the
store taken when it starts: for those customers the snapshot is exactly the store's state. What the
task wrote is then copied back verbatim — new rows of the conversation, action, refund and
experiment tables (with new conversation and contact ids), and every changed order and refund row
of its customers. A killed run loses only the tasks not yet merged; the rerun skips what was.
"""

from __future__ import annotations

import sqlite3
import tempfile
from collections.abc import Mapping, Sequence
from contextlib import closing
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import Table, func, select
from sqlalchemy.engine import Connection, make_url

from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory

Primary = tuple[str, int, str, datetime]
T: dict[str, Table] = {
    name: models.Base.metadata.tables[name]
    for name in (
        "conversations",
        "turns",
        "handoffs",
        "action_log",
        "refunds",
        "orders",
        "experiment_assignments",
        "experiment_contacts",
        "experiment_outcomes",
    )
}
# Tables whose new rows a task hands back, in the order the driver inserts them.
NEW_ROWS = (
    "conversations",
    "turns",
    "handoffs",
    "action_log",
    "refunds",
    "experiment_assignments",
    "experiment_contacts",
    "experiment_outcomes",
)


@dataclass
class ShardResult:
    """What one task wrote to its copy of the store."""

    new_rows: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    changed: dict[str, list[dict[str, Any]]] = field(default_factory=dict)  # orders, refunds
    contacts_run: int = 0


def sqlite_path(url: str) -> Path | None:
    """The file of an SQLite URL; None for other databases (and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def _rows(connection: Connection, table: Table, where: Any) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in connection.execute(select(table).where(where))]


def _owned(connection: Connection, customer_ids: Sequence[int]) -> dict[str, dict[int, Any]]:
    orders, refunds = T["orders"], T["refunds"]
    owned_orders = select(orders.c.id).where(orders.c.customer_id.in_(customer_ids))
    return {
        "orders": {r["id"]: r for r in _rows(connection, orders, orders.c.id.in_(owned_orders))},
        "refunds": {
            r["id"]: r for r in _rows(connection, refunds, refunds.c.order_id.in_(owned_orders))
        },
    }


def run_task(
    database_url: str,
    experiment_id: int,
    spec_json: dict[str, Any],
    primaries: Sequence[Primary],
    shared_data: str | None,
    batch_size: int,
) -> ShardResult:
    """Run these customers' contacts on a private copy of the SQLite store; return what changed."""
    from simulator.harness import task_runner  # harness imports this module's neighbours

    source = sqlite_path(database_url)
    assert source is not None
    customers = sorted({p[1] for p in primaries})
    with tempfile.TemporaryDirectory(prefix="csbot-shard-") as folder:
        copy = Path(folder) / "store.sqlite3"
        with closing(sqlite3.connect(source)) as src, closing(sqlite3.connect(copy)) as dst:
            src.backup(dst)  # one step: a consistent snapshot even while the driver merges
        engine = make_engine(f"sqlite:///{copy}")
        try:
            with engine.connect() as connection:
                marks = {
                    name: int(connection.scalar(select(func.max(T[name].c.id))) or 0)
                    for name in NEW_ROWS
                }
                before = _owned(connection, customers)
            runner = task_runner(
                make_session_factory(engine),
                experiment_id,
                spec_json,
                shared_data=shared_data,
                batch_size=batch_size,
            )
            result = ShardResult(contacts_run=runner.run(primaries).contacts_run)
            with engine.connect() as connection:
                for name in NEW_ROWS:
                    table = T[name]
                    result.new_rows[name] = _rows(connection, table, table.c.id > marks[name])
                after = _owned(connection, customers)
        finally:
            engine.dispose()
    for name in ("orders", "refunds"):
        result.changed[name] = [
            row
            for key, row in after[name].items()
            if key in before[name] and before[name][key] != row
        ]
    return result


def merge(connection: Connection, result: ShardResult) -> int:
    """Insert a task's rows into the store (inside the caller's transaction); contacts merged."""
    rows = result.new_rows
    conversation_ids = _renumber(connection, "conversations", rows["conversations"])
    contact_ids = _renumber(connection, "experiment_contacts", rows["experiment_contacts"])
    for row in rows["experiment_contacts"]:
        row["conversation_id"] = conversation_ids[row["conversation_id"]]
    _insert(connection, "conversations", rows["conversations"])
    for name in ("turns", "handoffs", "action_log"):
        for row in rows[name]:
            row.pop("id")
            old = row["conversation_id"]
            if old is not None:
                row["conversation_id"] = conversation_ids[old]
                if name == "action_log":  # keys embed the conversation id (TurnContext)
                    row["idempotency_key"] = row["idempotency_key"].replace(
                        f"conv{old}:", f"conv{conversation_ids[old]}:", 1
                    )
        _insert(connection, name, rows[name])
    for name in ("refunds", "experiment_assignments"):
        for row in rows[name]:
            row.pop("id")
        _insert(connection, name, rows[name])
    _insert(connection, "experiment_contacts", rows["experiment_contacts"])
    for row in rows["experiment_outcomes"]:
        row.pop("id")
        row["contact_id"] = contact_ids[row["contact_id"]]
    _insert(connection, "experiment_outcomes", rows["experiment_outcomes"])
    for name in ("orders", "refunds"):
        table = T[name]
        for row in result.changed[name]:
            connection.execute(table.update().where(table.c.id == row["id"]), row)
    return len(rows["experiment_contacts"])


def _renumber(connection: Connection, name: str, rows: list[dict[str, Any]]) -> Mapping[int, int]:
    """Give a task's new rows ids after the store's current last id; old id → new id."""
    base = int(connection.scalar(select(func.max(T[name].c.id))) or 0)
    mapping: dict[int, int] = {}
    for offset, row in enumerate(sorted(rows, key=lambda r: int(r["id"])), start=1):
        mapping[row["id"]] = base + offset
        row["id"] = base + offset
    return mapping


def _insert(connection: Connection, name: str, rows: list[dict[str, Any]]) -> None:
    if rows:
        connection.execute(T[name].insert(), rows)
