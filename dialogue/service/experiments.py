"""The experiment owners' board: the experiments the stores hold, their reports, new runs.

Experiments live where ``csbot experiment run`` puts them: by default one SQLite store per
experiment under ``data_dir/experiments`` (a fresh copy of the world each, so a simulated contact
never touches the service's own customers), or the configured store for runs given
``--database-url``. A run started here is that same command in a child process, so it survives
nothing but itself: its progress and its report are read back from its store, and a run that
died is shown as failed with the end of its log.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import IO, Any, Protocol

from sqlalchemy import func, select
from sqlalchemy.exc import SQLAlchemyError

from dialogue.config import Settings
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory

_LOG_TAIL_CHARS = 4000


class RunProcess(Protocol):
    """A started run, as the board watches it (:class:`subprocess.Popen` is one)."""

    def poll(self) -> int | None: ...

    def terminate(self) -> None: ...


class Launcher(Protocol):
    """Starts a run's command with its output going to ``log`` (tests pass a fake)."""

    def __call__(
        self, command: list[str], *, log: IO[bytes], env: dict[str, str]
    ) -> RunProcess: ...


def launch_process(command: list[str], *, log: IO[bytes], env: dict[str, str]) -> RunProcess:
    """The run in a child process: a fixed argv, no shell, no stdin."""
    return subprocess.Popen(  # noqa: S603 - fixed argv, no shell
        command, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env
    )


class IdleRun:
    """A run that never ends and never ran (what :class:`RecordingLauncher` starts)."""

    def poll(self) -> int | None:
        return None

    def terminate(self) -> None:
        return None


@dataclass
class RecordingLauncher:
    """A launcher for tests: records each command and starts nothing."""

    commands: list[list[str]] = field(default_factory=list)

    def __call__(self, command: list[str], *, log: IO[bytes], env: dict[str, str]) -> RunProcess:
        self.commands.append(list(command))
        return IdleRun()


class BoardError(ValueError):
    """A run cannot be started as asked (bad arms, an arm whose model is missing, …)."""


@dataclass(frozen=True)
class ExperimentEntry:
    key: str
    name: str
    status: str  # starting | running | finished | failed
    arms: list[str]
    contacts: int
    seed: int
    created_at: datetime | None
    finished_at: datetime | None
    contacts_done: int
    report: dict[str, Any] | None
    report_path: str | None


class ExperimentBoard:
    """List, read and start experiments.

    Args:
        settings: Where the per-experiment stores and logs live.
        main_url: The service's own store (it may hold experiments run with --database-url).
        launch: Starts a run's command (a child process; tests pass a fake that starts
            nothing).
    """

    def __init__(
        self, settings: Settings, *, main_url: str, launch: Launcher = launch_process
    ) -> None:
        self.settings = settings
        self.main_url = main_url
        self.folder = settings.data_dir / "experiments"
        self.launch = launch
        self._runs: dict[str, tuple[RunProcess, ExperimentEntry]] = {}
        self._lock = threading.Lock()

    def _store_urls(self) -> list[str]:
        files = sorted(self.folder.glob("*.sqlite3")) if self.folder.is_dir() else []
        return [self.main_url, *(f"sqlite:///{f}" for f in files)]

    def list(self) -> list[ExperimentEntry]:
        """Every experiment, newest first; runs started here that have no row yet as starting."""
        found: dict[str, ExperimentEntry] = {}
        for url in self._store_urls():
            for entry in _read_store(url):
                found.setdefault(entry.key, entry)
        with self._lock:
            for key, (process, pending) in self._runs.items():
                if key in found and found[key].status == "finished":
                    continue
                failed = process.poll() not in (None, 0)
                if failed:
                    base = found.get(key, pending)
                    found[key] = replace(base, status="failed")
                elif key not in found:
                    found[key] = pending
        return sorted(found.values(), key=lambda e: e.created_at or datetime.max, reverse=True)

    def get(self, key: str) -> ExperimentEntry | None:
        return next((e for e in self.list() if e.key == key), None)

    def log_tail(self, key: str) -> str | None:
        path = self._log_path(key)
        if not path.is_file():
            return None
        text = path.read_text(encoding="utf-8", errors="replace")
        return text[-_LOG_TAIL_CHARS:]

    def _log_path(self, key: str) -> Path:
        return self.folder / f"{key}.log"

    def start(
        self, *, arms: str, contacts: int, seed: int, name: str, workers: int
    ) -> ExperimentEntry:
        """Start ``csbot experiment run`` for this spec in a child process (or return the run of
        the same spec already going).

        Raises:
            BoardError: the spec is invalid or an arm cannot be built here.
        """
        from simulator.spec import ExperimentSpec, SpecError, parse_arms

        try:
            spec = ExperimentSpec(arms=parse_arms(arms), contacts=contacts, seed=seed, name=name)
            spec.validate()
        except SpecError as exc:
            raise BoardError(str(exc)) from None
        for arm in spec.arms:
            self._check_ready(arm.agent_name)
        existing = self.get(spec.key)
        if existing is not None and existing.status in ("starting", "running", "finished"):
            return existing
        self.folder.mkdir(parents=True, exist_ok=True)
        command = [sys.executable, "-m", "dialogue.cli", "experiment", "run"]
        command += ["--arms", arms, "--contacts", str(contacts), "--seed", str(seed)]
        command += ["--name", name, "--workers", str(workers), "--no-progress"]
        with self._log_path(spec.key).open("wb") as log:
            process = self.launch(command, log=log, env=self._child_env())
        pending = ExperimentEntry(
            key=spec.key,
            name=name,
            status="starting",
            arms=[a.name for a in spec.arms],
            contacts=contacts,
            seed=seed,
            created_at=None,
            finished_at=None,
            contacts_done=0,
            report=None,
            report_path=None,
        )
        with self._lock:
            self._runs[spec.key] = (process, pending)
        return pending

    def _child_env(self) -> dict[str, str]:
        """The service's settings, passed on: the run finds the same data dir, world and models
        (whatever set them: environment, flags or a test's Settings)."""
        s = self.settings
        env = dict(os.environ)
        env.pop("CSBOT_DATABASE_URL", None)  # a run gets its own store, never the service's
        env |= {
            "CSBOT_DATA_DIR": str(s.data_dir),
            "CSBOT_WORLD_SEED": str(s.world_seed),
            "CSBOT_WORLD_CUSTOMERS": str(s.world_customers),
            "CSBOT_WORLD_ITEMS": str(s.world_items),
            "CSBOT_RANKER_CHECKPOINT": str(s.resolved_ranker_checkpoint()),
            "CSBOT_GENERATOR_CHECKPOINT": str(s.resolved_generator_checkpoint()),
            "CSBOT_PERSONALIZATION_ARTIFACT": str(s.resolved_personalization_artifact()),
        }
        if s.shared_data_dir is not None:
            env["CSBOT_SHARED_DATA_DIR"] = str(s.shared_data_dir)
        return env

    def _check_ready(self, agent_name: str) -> None:
        """A model arm needs its checkpoints on disk (checked without loading them here)."""
        from simulator.arms import checkpoints_for

        missing = [str(p) for p in checkpoints_for(agent_name, self.settings) if not p.is_file()]
        if missing:
            raise BoardError(f"arm {agent_name!r} is not ready: no checkpoint at {missing[0]}")

    def stop_all(self) -> None:
        """Stop the runs this process started (the service is shutting down)."""
        with self._lock:
            for process, _ in self._runs.values():
                if process.poll() is None:
                    process.terminate()


def _read_store(url: str) -> list[ExperimentEntry]:
    """The experiments of one store (none where it has no experiments table yet)."""
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            rows = session.scalars(select(models.Experiment)).all()
            done = dict(
                session.execute(
                    select(models.ExperimentContact.experiment_id, func.count())
                    .join(
                        models.ExperimentOutcome,
                        models.ExperimentOutcome.contact_id == models.ExperimentContact.id,
                    )
                    .where(models.ExperimentContact.is_recontact.is_(False))
                    .group_by(models.ExperimentContact.experiment_id)
                ).all()
            )
            return [_entry(row, int(done.get(row.id, 0))) for row in rows]
    except SQLAlchemyError:
        return []
    finally:
        engine.dispose()


def _entry(row: models.Experiment, done: int) -> ExperimentEntry:
    spec = row.spec or {}
    arms = [str(a.get("name", "?")) for a in spec.get("arms", []) if isinstance(a, dict)]
    return ExperimentEntry(
        key=row.key,
        name=row.name,
        status="finished" if row.status == "finished" else "running",
        arms=arms,
        contacts=int(spec.get("contacts", 0)),
        seed=int(spec.get("seed", 0)),
        created_at=row.created_at,
        finished_at=row.finished_at,
        contacts_done=done,
        report=row.report,
        report_path=row.report_path,
    )
