"""The acceptance corpus: ≥ 200 scripted dialogues built from the world, through the rule-based
agent, every side effect checked in the store."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from dialogue.rules import RulesAgent, RulesConfig
from simulator.scripted import build_scripts, run_corpus
from simulator.world import WorldConfig, seed_world
from tests.conftest import copy_sqlite


@pytest.fixture(scope="module")
def default_world_file(tmp_path_factory: pytest.TempPathFactory):  # type: ignore[no-untyped-def]
    from dialogue.store.session import make_engine, make_session_factory, upgrade

    path = tmp_path_factory.mktemp("default-world") / "world.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        seed_world(session, WorldConfig())
    with engine.connect() as conn:
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def default_world(default_world_file, tmp_path):  # type: ignore[no-untyped-def]
    from dialogue.store.session import make_engine, make_session_factory

    engine = make_engine(copy_sqlite(default_world_file, tmp_path))
    yield make_session_factory(engine)
    engine.dispose()


def test_scripts_cover_both_flows_ids_descriptions_and_multi_order_customers(
    default_world: sessionmaker[Session],
) -> None:
    with default_world() as session:
        scripts = build_scripts(session, 200, seed=7)
        from dialogue.store.repository import customer_record

        multi = sum(
            len(customer_record(session, s.customer_id).orders) >= 3  # type: ignore[union-attr]
            for s in scripts
        )
    assert len(scripts) == 200
    assert {s.intent.value for s in scripts} == {"cancel_order", "refund_status"}
    assert {s.refer_by for s in scripts} >= {"id", "description"}
    assert {s.auth_by for s in scripts} == {"email", "name_zip"}
    assert multi >= 80
    assert len({s.order_number for s in scripts}) == 200
    expected = {act for s in scripts for act in s.expected_acts}
    assert expected >= {
        "cancel_done",
        "refund_not_started",
        "refund_in_progress",
        "refund_completed",
    }


def test_rule_based_agent_completes_at_least_95_percent(
    default_world: sessionmaker[Session],
) -> None:
    report = run_corpus(default_world, RulesAgent(), n=200, seed=7)
    assert len(report.results) == 200
    failed = [(r.script.id, r.acts, r.problems) for r in report.results if not r.completed]
    assert report.completion_rate >= 0.95, failed
    assert [r.wrong_changes for r in report.results if r.wrong_changes] == []
    assert all(r.store_ok for r in report.results if r.completed)


def test_description_matching_off_is_measurably_worse(default_world: sessionmaker[Session]) -> None:
    agent = RulesAgent(RulesConfig(match_descriptions=False), name="rules-no-descriptions")
    report = run_corpus(default_world, agent, n=120, seed=3)
    by_ref = report.by("refer_by")
    done, total = by_ref["description"]
    assert total > 0 and done / total < 0.5
    assert by_ref["id"][0] == by_ref["id"][1]


def test_corpus_on_both_databases(store_sessions: sessionmaker[Session]) -> None:
    with store_sessions() as session, session.begin():
        seed_world(session, WorldConfig(seed=5, customers=200, items=120))
    report = run_corpus(store_sessions, RulesAgent(), n=60, seed=5)
    assert len(report.results) == 60
    assert report.completion_rate >= 0.95
    assert [r.wrong_changes for r in report.results if r.wrong_changes] == []


def test_corpus_on_the_imported_tau2_world(
    store_sessions: sessionmaker[Session], shared_data: Path
) -> None:
    """The agent also runs on a world nobody here wrote (tau2-bench retail)."""
    from simulator.tau2 import import_tau2

    with store_sessions() as session, session.begin():
        import_tau2(session, shared_data / "tau2_bench_retail" / "db.json")
    report = run_corpus(store_sessions, RulesAgent(), n=100, seed=1)
    assert len(report.results) == 100
    assert report.completion_rate >= 0.95
    assert [r.wrong_changes for r in report.results if r.wrong_changes] == []
