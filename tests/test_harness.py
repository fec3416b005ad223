"""The A/B harness is honest: A/A is quiet, a known defect loses, a skewed assignment trips the SRM
check, wrong actions and facts are never automated, and runs are reproducible and resumable."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import TurnContext, TurnOutcome
from dialogue.domain import OrderStatus
from dialogue.rules import RulesAgent
from dialogue.state import DialogueState
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory
from dialogue.text import CustomerMessage
from simulator import arms as arm_registry
from simulator.experiment import finish, run_experiment
from simulator.outcomes import ArmSpec
from simulator.spec import ExperimentSpec, SpecError, StableHashAssigner, parse_arms
from simulator.stats import ExperimentFigures
from tests.conftest import copy_sqlite


def _world(small_world_file: Path, folder: Path) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    return copy_sqlite(small_world_file, folder)


def _run(url: str, spec: ExperimentSpec, out: Path, **kwargs: Any) -> ExperimentFigures:
    experiment_id = run_experiment(url, spec, **kwargs)
    engine = make_engine(url)
    try:
        return finish(make_session_factory(engine), experiment_id, out).figures
    finally:
        engine.dispose()


def _sessions(url: str) -> Iterator[sessionmaker[Session]]:
    engine = make_engine(url)
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


def _spec(arms: str, contacts: int, seed: int = 0) -> ExperimentSpec:
    return ExperimentSpec(arms=parse_arms(arms), contacts=contacts, seed=seed)


# ---- honesty ---------------------------------------------------------------------------------
def test_a_a_is_not_significant_in_at_least_90_percent_of_50_seeds(
    small_world_file: Path, tmp_path: Path
) -> None:
    significant = clustered = 0
    for seed in range(50):
        url = _world(small_world_file, tmp_path / f"s{seed}")
        figures = _run(url, _spec("rules,rules", 120, seed), tmp_path / f"r{seed}")
        overall = [c for c in figures.comparisons if c.issue_type is None]
        assert len(overall) == 1 and overall[0].clustered is not None
        significant += overall[0].comparison.significant
        clustered += overall[0].clustered.significant
    assert significant <= 5, f"A/A significant in {significant} of 50 seeds"
    assert clustered <= 5, f"A/A significant (clustered by customer) in {clustered} of 50 seeds"


def test_defect_arm_loses_significantly(small_world_file: Path, tmp_path: Path) -> None:
    url = _world(small_world_file, tmp_path / "w")
    figures = _run(url, _spec("rules,rules_no_descriptions", 2500, seed=1), tmp_path / "r")
    (overall,) = [c for c in figures.comparisons if c.issue_type is None]
    assert overall.treatment == "rules_no_descriptions"
    assert overall.comparison.difference < 0
    assert overall.comparison.significant
    assert overall.clustered is not None and overall.clustered.significant


@pytest.mark.slow
def test_defect_arm_loses_significantly_at_20000_contacts(
    small_world_file: Path, tmp_path: Path
) -> None:
    url = _world(small_world_file, tmp_path / "w")
    figures = _run(url, _spec("rules,rules_no_descriptions", 20_000, seed=2), tmp_path / "r")
    (overall,) = [c for c in figures.comparisons if c.issue_type is None]
    assert overall.comparison.difference < 0 and overall.comparison.significant


class SkewedAssigner:
    """Stable hash, except that a third of arm B's customers leak into arm A (a classic bug)."""

    def __init__(self, spec: ExperimentSpec) -> None:
        self.fair = StableHashAssigner(spec.key, spec.arms)

    def __call__(self, customer_id: int) -> str:
        arm = self.fair(customer_id)
        return "rules" if arm == "rules_2" and customer_id % 3 == 0 else arm


def test_skewed_assignment_trips_the_srm_check(small_world_file: Path, tmp_path: Path) -> None:
    spec = _spec("rules,rules", 800, seed=4)
    fair = _run(_world(small_world_file, tmp_path / "a"), spec, tmp_path / "ra")
    skewed = _run(
        _world(small_world_file, tmp_path / "b"),
        spec,
        tmp_path / "rb",
        assigner=SkewedAssigner(spec),
    )
    assert not fair.srm.mismatch
    assert skewed.srm.mismatch
    assert skewed.srm.observed["rules"] > skewed.srm.observed["rules_2"]


# ---- wrong actions and wrong facts are never automated -----------------------------------------
class WrongOrderCanceller(RulesAgent):
    """Cancels the customer's *other* open order when it confirms a cancellation."""

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        outcome = super().respond(session, state, message, ctx)
        if outcome.reply.act == "cancel_done" and state.customer_id is not None:
            victim = session.scalar(
                select(models.Order).where(
                    models.Order.customer_id == state.customer_id,
                    models.Order.order_number != state.confirmation_for,
                    models.Order.status.in_([OrderStatus.PENDING, OrderStatus.PROCESSING]),
                )
            )
            if victim is not None:
                victim.status = "cancelled"
                session.flush()
        return outcome


class RefundFabricator(RulesAgent):
    """Says every refund is completed, whatever the store holds."""

    def respond(
        self, session: Session, state: DialogueState, message: CustomerMessage, ctx: TurnContext
    ) -> TurnOutcome:
        outcome = super().respond(session, state, message, ctx)
        if outcome.reply.act.startswith("refund_") and outcome.reply.act != "refund_policy":
            slots = dict(outcome.reply.slots or {})
            slots.setdefault("refund_date", "January 1, 2020")
            slots["refund_date"] = "January 1, 2020"
            reply = outcome.reply.__class__(
                text=f"Your refund was completed on {slots['refund_date']}.",
                act="refund_completed",
                template_id=None,
                slots=slots,
            )
            return TurnOutcome(reply=reply, state=outcome.state)
        return outcome


@pytest.fixture
def broken_arms(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(arm_registry.ARMS, "wrong_canceller", lambda: WrongOrderCanceller())
    monkeypatch.setitem(arm_registry.ARMS, "fabricator", lambda: RefundFabricator())


@pytest.mark.parametrize(
    ("arm", "flag"), [("wrong_canceller", "wrong_action"), ("fabricator", "wrong_fact")]
)
def test_wrong_cancellation_or_fact_is_never_automated(
    broken_arms: None, small_world_file: Path, tmp_path: Path, arm: str, flag: str
) -> None:
    url = _world(small_world_file, tmp_path / "w")
    run_experiment(url, _spec(arm, 400, seed=5))
    for sessions in _sessions(url):
        with sessions() as session:
            rows = session.execute(
                select(models.ExperimentOutcome.automated).where(
                    getattr(models.ExperimentOutcome, flag).is_(True)
                )
            ).all()
    assert len(rows) >= 5, f"the broken arm should have produced {flag} contacts"
    assert not any(automated for (automated,) in rows)


# ---- reproducible, resumable, parallel ---------------------------------------------------------
def _figures_dict(figures: ExperimentFigures) -> dict[str, Any]:
    out = figures.to_dict()
    out.pop("experiment", None)  # ids and names of the store row
    return out


def test_same_seed_same_report(small_world_file: Path, tmp_path: Path) -> None:
    spec = _spec("rules,rules_no_descriptions", 300, seed=6)
    a = _run(_world(small_world_file, tmp_path / "a"), spec, tmp_path / "ra")
    b = _run(_world(small_world_file, tmp_path / "b"), spec, tmp_path / "rb")
    assert _figures_dict(a) == _figures_dict(b)
    html_a = (tmp_path / "ra" / "experiment-1.html").read_bytes()
    assert html_a == (tmp_path / "rb" / "experiment-1.html").read_bytes()


class Interrupt(Exception):
    pass


def test_interrupted_run_resumes_to_the_same_result(small_world_file: Path, tmp_path: Path) -> None:
    spec = _spec("rules,rules_no_descriptions", 400, seed=7)
    whole = _run(_world(small_world_file, tmp_path / "a"), spec, tmp_path / "ra", batch_size=50)
    url = _world(small_world_file, tmp_path / "b")
    calls = 0

    def stop_after_two_batches(_n: int) -> None:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise Interrupt

    with pytest.raises(Interrupt):
        run_experiment(url, spec, batch_size=50, on_progress=stop_after_two_batches)
    for sessions in _sessions(url):
        with sessions() as session:
            partial = session.scalar(select(func.count(models.ExperimentContact.id)))
    assert partial is not None and 0 < partial < 400
    resumed = _run(url, spec, tmp_path / "rb", batch_size=50)
    assert _figures_dict(resumed) == _figures_dict(whole)
    for sessions in _sessions(url):
        with sessions() as session:
            keys = session.scalars(select(models.ExperimentContact.key)).all()
            experiments = session.scalar(select(func.count(models.Experiment.id)))
    assert len(keys) == len(set(keys)) and experiments == 1


def test_killed_cli_run_resumes_without_duplicates(small_world_file: Path, tmp_path: Path) -> None:
    """A real kill (SIGKILL mid-run), then the same command again: same figures as one run."""
    args = ["--arms", "rules,rules_no_descriptions", "--contacts", "1500", "--seed", "8"]
    cli = [sys.executable, "-m", "dialogue.cli", "experiment", "run", "--no-progress", *args]
    env = {**os.environ, "CSBOT_DATA_DIR": str(tmp_path / "data")}
    url_a = _world(small_world_file, tmp_path / "a")
    url_b = _world(small_world_file, tmp_path / "b")
    whole = subprocess.run(
        [*cli, "--database-url", url_a, "--out", str(tmp_path / "ra")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert whole.returncode == 0, whole.stderr
    proc = subprocess.Popen(
        [*cli, "--database-url", url_b, "--out", str(tmp_path / "rb")],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for sessions in _sessions(url_b):
        deadline = time.monotonic() + 300
        count = 0
        while count < 400 and time.monotonic() < deadline and proc.poll() is None:
            time.sleep(0.2)
            with sessions() as session:
                try:
                    count = session.scalar(select(func.count(models.ExperimentContact.id))) or 0
                except Exception:  # the table may not exist yet
                    count = 0
    assert proc.poll() is None, "the run finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    again = subprocess.run(
        [*cli, "--database-url", url_b, "--out", str(tmp_path / "rb")],
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert again.returncode == 0, again.stderr
    assert "contacts already run" in again.stdout
    a = (tmp_path / "ra").rglob("experiment-*.json")
    b = (tmp_path / "rb").rglob("experiment-*.json")
    assert [p.read_text() for p in a] == [p.read_text() for p in b]


def _store_contents(url: str) -> dict[str, Any]:
    """Everything a run leaves in the store, keyed by what does not depend on run order."""
    for sessions in _sessions(url):
        with sessions() as session:
            turns = session.execute(
                select(
                    models.ExperimentContact.key,
                    models.Turn.index,
                    models.Turn.speaker,
                    models.Turn.text,
                    models.Turn.act,
                ).join(
                    models.Turn,
                    models.Turn.conversation_id == models.ExperimentContact.conversation_id,
                )
            ).all()
            orders = session.execute(
                select(models.Order.order_number, models.Order.status, models.Order.cancelled_at)
            ).all()
            actions = session.execute(
                select(
                    models.ExperimentContact.key, models.ActionLog.action, models.ActionLog.outcome
                ).join(
                    models.ActionLog,
                    models.ActionLog.conversation_id == models.ExperimentContact.conversation_id,
                )
            ).all()
            return {
                "turns": sorted(turns),
                "orders": sorted(orders, key=str),
                "actions": sorted(actions),
                "refunds": session.scalar(select(func.count(models.Refund.id))),
                "handoffs": session.scalar(select(func.count(models.Handoff.id))),
                "assignments": session.scalar(select(func.count(models.ExperimentAssignment.id))),
            }
    raise AssertionError("unreachable")


def test_ray_workers_match_the_serial_run(small_world_file: Path, tmp_path: Path) -> None:
    spec = _spec("rules,rules_no_descriptions", 300, seed=9)
    url_serial = _world(small_world_file, tmp_path / "a")
    url_ray = _world(small_world_file, tmp_path / "b")
    serial = _run(url_serial, spec, tmp_path / "ra")
    on_ray = _run(url_ray, spec, tmp_path / "rb", workers=2)
    assert _figures_dict(on_ray) == _figures_dict(serial)
    ray_store, serial_store = _store_contents(url_ray), _store_contents(url_serial)
    assert ray_store["actions"], "the run should have logged actions"
    assert ray_store == serial_store


# ---- bad input: clear errors before anything runs ----------------------------------------------
@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"arms": ["rules"], "contacts": 10, "bogus": 1}, "unknown spec fields"),
        ({"arms": ["nope"], "contacts": 10}, "unknown arm 'nope'"),
        ({"arms": ["rules"], "contacts": 0}, "contacts must be between"),
        ({"arms": ["rules"], "contacts": "ten"}, "contacts must be an integer"),
        ({"arms": [], "contacts": 10}, "at least one arm"),
        ({"contacts": 10}, "malformed experiment spec"),
        ({"arms": ["rules", "rules"], "contacts": 10}, "arm labels must be unique"),
        ({"arms": [{"name": "a", "agent": "rules", "weight": 0}], "contacts": 5}, "weight"),
        ({"arms": ["rules"], "contacts": 5, "population": {"issue_mix": {"x": 1}}}, "unknown"),
        ([1, 2], "must be a JSON object"),
    ],
    ids=[
        "unknown-field",
        "unknown-arm",
        "zero-contacts",
        "string-contacts",
        "no-arms",
        "no-arms-key",
        "duplicate-labels",
        "zero-weight",
        "bad-issue-mix",
        "not-an-object",
    ],
)
def test_malformed_specs_are_refused(data: Any, message: str) -> None:
    with pytest.raises(SpecError, match=message):
        ExperimentSpec.from_json(data)


def test_world_without_an_issue_type_is_refused_before_running(
    small_world_file: Path, tmp_path: Path
) -> None:
    url = _world(small_world_file, tmp_path / "w")
    for sessions in _sessions(url):
        with sessions() as session, session.begin():
            session.execute(models.Refund.__table__.delete())
    with pytest.raises(SpecError, match="no customers eligible for 'refund_status'"):
        run_experiment(url, _spec("rules", 10))
    for sessions in _sessions(url):
        with sessions() as session:
            assert session.scalar(select(func.count(models.Experiment.id))) == 0
            assert session.scalar(select(func.count(models.Conversation.id))) == 0


def test_parse_arms_labels_repeats_and_weights() -> None:
    assert parse_arms("rules,rules") == (
        ArmSpec(name="rules", agent="rules"),
        ArmSpec(name="rules_2", agent="rules"),
    )
    assert parse_arms("A=rules:2,B=human") == (
        ArmSpec(name="A", agent="rules", weight=2.0),
        ArmSpec(name="B", agent="human"),
    )
    with pytest.raises(SpecError, match="empty arm"):
        parse_arms("rules,,human")
    with pytest.raises(SpecError, match="not a number"):
        parse_arms("rules:heavy")


def test_stable_hash_assignment_is_stable_and_balanced() -> None:
    spec = _spec("rules,rules", 10)
    assign = StableHashAssigner(spec.key, spec.arms)
    first = [assign(c) for c in range(4000)]
    assert first == [StableHashAssigner(spec.key, spec.arms)(c) for c in range(4000)]
    share = first.count("rules") / len(first)
    assert 0.46 < share < 0.54
