"""Shared fixtures: migrated stores on SQLite and PostgreSQL, and small seeded worlds.

PostgreSQL: ``CSBOT_TEST_POSTGRES_URL`` (default: the local server at 127.0.0.1:5432, database
``test``, user ``postgres``). Each test session works in its own schema, dropped at the end.
When the
server is unreachable the PostgreSQL tests skip on a developer's machine and FAIL under ``CI=true``.
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.orm import Session, sessionmaker

from dialogue.store.models import Base
from dialogue.store.session import make_engine, make_session_factory, upgrade

POSTGRES_URL = os.environ.get(
    "CSBOT_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _postgres_schema_url() -> Iterator[str]:
    try:
        admin = create_engine(POSTGRES_URL, pool_pre_ping=True)
        with admin.connect() as conn:
            conn.execute(text("select 1"))
    except Exception as exc:  # noqa: BLE001 - any connection failure means "no server"
        message = f"PostgreSQL unreachable at {POSTGRES_URL}: {exc}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    schema = f"csbot_test_{uuid.uuid4().hex[:10]}"
    with admin.begin() as conn:
        conn.execute(text(f'create schema "{schema}"'))
    sep = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'drop schema "{schema}" cascade'))
        admin.dispose()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def store_url(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A freshly migrated (``alembic upgrade head``) database URL, once per backend."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path_factory.mktemp('store') / 'store.sqlite3'}"
        upgrade(url)
        yield url
        return
    gen = _postgres_schema_url()
    url = next(gen)
    upgrade(url)
    yield url
    next(gen, None)


def _truncate_all(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def store_engine(store_url: str) -> Iterator[Engine]:
    """An engine on the migrated store of each backend; every table is emptied after the test."""
    engine = make_engine(store_url)
    try:
        yield engine
    finally:
        _truncate_all(engine)
        engine.dispose()


@pytest.fixture
def store_sessions(store_engine: Engine) -> sessionmaker[Session]:
    """A session factory on the migrated store of each backend (SQLite and PostgreSQL)."""
    return make_session_factory(store_engine)


@pytest.fixture
def shared_data() -> Path:
    """The read-only reference data folder; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"reference data not present at {SHARED_DATA}")
    return SHARED_DATA


def copy_sqlite(template: Path, dest_dir: Path) -> str:
    """Copy a seeded SQLite file (a cheap per-test world) and return its URL."""
    dest = dest_dir / template.name
    shutil.copyfile(template, dest)
    return f"sqlite:///{dest}"


# ---- seeded worlds -----------------------------------------------------------------------------
SMALL_WORLD = {"seed": 11, "customers": 300, "items": 150}


@pytest.fixture(scope="session")
def small_world_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file holding a small seeded world, built once per test session."""
    from simulator.world import WorldConfig, seed_world

    path = tmp_path_factory.mktemp("world") / "world.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        seed_world(session, WorldConfig(**SMALL_WORLD))
    with engine.connect() as conn:  # fold the WAL into the main file so a plain copy is complete
        conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
    engine.dispose()
    return path


@pytest.fixture
def world_sessions(small_world_file: Path, tmp_path: Path) -> Iterator[sessionmaker[Session]]:
    """Sessions on a private copy of the small world (each test may change it freely)."""
    engine = make_engine(copy_sqlite(small_world_file, tmp_path))
    try:
        yield make_session_factory(engine)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def one_torch_thread() -> Iterator[None]:
    """torch on one thread for a test module (the models' tests stay off the other core, which
    pytest-xdist gives another worker), restored afterwards."""
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
