"""Helpers for the service's tests: the app on a private small world with a fake ranker, a live
server on a loopback port, users, and a finished experiment with its report.

The fake ranker orders the turn's candidate templates by a fixed act preference (the
cancellation and refund flows, furthest step first), so agent-assist offers real, gated
suggestions without a trained model; the auto-mode agent is the rule-based arm.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import Agent
from dialogue.api.app import create_app
from dialogue.config import Settings
from dialogue.pipeline import NeuralAgent, PipelineConfig
from dialogue.rules import RulesAgent
from dialogue.service.accounts import create_user
from dialogue.service.wiring import Services, build_services
from ranker.data import RankTurn, candidate_entries
from ranker.scorer import Ranked, Ranking
from templates import load_catalog

CATALOG = load_catalog()
# Furthest step first: a ranker with this preference follows the tracker's flow.
PREFERENCE = (
    "cancel_done",
    "request_cancel_confirmation",
    "request_cancel_reason",
    "refund_in_progress",
    "refund_completed",
    "refund_not_started",
    "request_order",
    "request_auth",
)
REP_PASSWORD = "rep-password-1"
OWNER_PASSWORD = "owner-password-1"


@dataclass
class PreferenceRanker:
    """A fake ranker: the candidates by a fixed act preference, then catalog order."""

    prefer: Sequence[str] = PREFERENCE
    list_prob: float = 0.9

    def rank(self, turn: RankTurn, soft: Any = None) -> Ranking:
        entries = candidate_entries(CATALOG.entries, turn.facts, turn.slots)
        order = sorted(
            range(len(entries)),
            key=lambda i: (
                self.prefer.index(entries[i].act)
                if entries[i].act in self.prefer
                else len(self.prefer),
                i,
            ),
        )
        ranked = tuple(Ranked(entries[i], float(len(order) - n)) for n, i in enumerate(order))
        return Ranking(ranked=ranked, list_prob=self.list_prob)


def fake_assistant() -> NeuralAgent:
    return NeuralAgent(PreferenceRanker(), catalog=CATALOG, config=PipelineConfig(), name="fake")


def service_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    return Settings(database_url=database_url, data_dir=data_dir, **overrides)


def make_services(
    database_url: str,
    data_dir: Path,
    *,
    agent: Agent | None = None,
    with_assistant: bool = True,
    **settings: Any,
) -> Services:
    """Services on ``database_url`` (already holding a world): the rule-based agent answers
    customers; the fake ranker suggests (or nothing, without an assistant)."""
    return build_services(
        service_settings(database_url, data_dir, **settings),
        agent=agent or RulesAgent(),
        assistant=fake_assistant() if with_assistant else None,
    )


def add_user(sessions: sessionmaker[Session], username: str, role: str) -> str:
    """Add a user; returns the password."""
    password = REP_PASSWORD if role == "rep" else OWNER_PASSWORD
    with sessions() as session, session.begin():
        create_user(
            session,
            username=username,
            password=password,
            role=role,
            now=datetime.now(UTC).replace(tzinfo=None),
        )
    return password


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def live_server(app: FastAPI) -> Iterator[str]:
    """Serve ``app`` with uvicorn in a background thread on a free loopback port; its base URL."""
    port = free_port()
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", lifespan="on")
    )
    thread = threading.Thread(target=server.run, name="live-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the live server did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def app_for(services: Services) -> FastAPI:
    return create_app(services)


def finished_experiment(database_url: str, out_dir: Path, *, name: str = "rules vs rules") -> str:
    """Run a small finished experiment (rules against rules_no_descriptions, 40 contacts) on the
    store and write its report; its key."""
    from dialogue.store.session import make_engine, make_session_factory
    from simulator.experiment import finish, run_experiment
    from simulator.spec import ExperimentSpec, parse_arms

    spec = ExperimentSpec(
        arms=parse_arms("rules,rules_no_descriptions"), contacts=40, seed=0, name=name
    )
    experiment_id = run_experiment(database_url, spec, workers=1)
    engine = make_engine(database_url)
    try:
        finish(make_session_factory(engine), experiment_id, out_dir / spec.key)
    finally:
        engine.dispose()
    return spec.key
