"""Create or resume an experiment, run its contacts (serially or on Ray), and report on it."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.agent import LIST_SCORE_KEY
from dialogue.store import models
from dialogue.store.repository import world_now
from dialogue.store.session import make_engine, make_session_factory
from simulator.harness import ContactRunner, shard_of, task_runner, utcnow
from simulator.outcomes import ArmAssignmentCounts, ArmSpec, ContactOutcome, ExperimentInfo
from simulator.phrases import load_phrase_bank
from simulator.report import ReportFiles, write_report
from simulator.shards import ShardResult, merge, run_task, sqlite_path
from simulator.spec import (
    Assigner,
    ExperimentSpec,
    SpecError,
    StableHashAssigner,
    check_population,
    eligible_population,
    primary_schedule,
)
from simulator.stats import ExperimentFigures, summarize

Primary = tuple[str, int, str, datetime]
Progress = Callable[[int], None]


class ExperimentNotFound(LookupError):
    pass


def create_or_resume(session: Session, spec: ExperimentSpec) -> models.Experiment:
    """The experiment with this spec's key, created (and checked against the world) if new.

    Raises:
        SpecError: the spec is malformed or the world lacks customers for an issue type.
    """
    spec.validate()
    existing = session.scalar(select(models.Experiment).where(models.Experiment.key == spec.key))
    if existing is not None:
        return existing
    population = eligible_population(session)
    check_population(spec, population)
    arms = " vs ".join(a.name for a in spec.arms)
    row = models.Experiment(
        key=spec.key,
        name=spec.name or f"{arms}, {spec.contacts} contacts, seed {spec.seed}",
        spec=spec.to_json(),
        population=population,
        status="running",
        created_at=utcnow(),
    )
    session.add(row)
    session.flush()
    return row


def run_experiment(
    database_url: str,
    spec: ExperimentSpec,
    *,
    workers: int = 1,
    ray_address: str | None = None,
    shared_data: Path | None = None,
    assigner: Assigner | None = None,
    batch_size: int = 200,
    on_progress: Progress | None = None,
    on_start: Callable[[int, int], None] | None = None,
) -> int:
    """Run (or resume) the experiment of ``spec`` on the store at ``database_url``; its id.

    Args:
        workers: 1 runs in this process; more run customers' contacts on Ray tasks.
        ray_address: a Ray cluster to join; None starts a local one.
        assigner: replaces the stable-hash assignment (tests of the SRM check); serial only.
        on_start: called with (primary contacts in the schedule, already done) before running.
        on_progress: called with the number of contacts finished since the last call.
    """
    spec.validate()
    if workers < 1:
        raise SpecError(f"workers must be at least 1, got {workers}")
    if assigner is not None and workers > 1:
        raise SpecError("a custom assigner runs serially only")
    engine = make_engine(database_url, immediate=True)
    sessions = make_session_factory(engine)
    with sessions() as session, session.begin():
        row = create_or_resume(session, spec)
        experiment_id = row.id
        population = row.population
        start = world_now(session)
        done = _count_done(session, experiment_id)
    primaries = primary_schedule(spec, population, start)
    if on_start is not None:
        on_start(len(primaries), done)
    chosen = assigner or StableHashAssigner(spec.key, spec.arms)
    if workers == 1:
        ContactRunner(
            sessions,
            experiment_id,
            spec,
            assigner=chosen,
            bank=load_phrase_bank(shared_data),
            batch_size=batch_size,
            on_progress=on_progress,
        ).run(primaries)
    else:
        _run_on_ray(
            database_url,
            sessions,
            experiment_id,
            spec,
            primaries,
            workers=workers,
            address=ray_address,
            shared_data=shared_data,
            batch_size=batch_size,
            on_progress=on_progress,
        )
    engine.dispose()
    return experiment_id


def _count_done(session: Session, experiment_id: int) -> int:
    return int(
        session.scalar(
            select(func.count(models.ExperimentContact.id)).where(
                models.ExperimentContact.experiment_id == experiment_id
            )
        )
        or 0
    )


def _shard_task(
    database_url: str,
    experiment_id: int,
    spec_json: dict[str, Any],
    primaries: Sequence[Primary],
    shared_data: str | None,
    batch_size: int,
) -> int:
    """One Ray task: run these customers' contacts against the shared store."""
    engine = make_engine(database_url, immediate=True)
    try:
        runner = task_runner(
            make_session_factory(engine),
            experiment_id,
            spec_json,
            shared_data=shared_data,
            batch_size=batch_size,
        )
        return runner.run(primaries).contacts_run
    finally:
        engine.dispose()


def _run_on_ray(
    database_url: str,
    sessions: sessionmaker[Session],
    experiment_id: int,
    spec: ExperimentSpec,
    primaries: Sequence[Primary],
    *,
    workers: int,
    address: str | None,
    shared_data: Path | None,
    batch_size: int,
    on_progress: Progress | None,
) -> None:
    import ray

    local_file = sqlite_path(database_url)
    if local_file is not None and address is not None:
        raise SpecError(
            "a Ray cluster cannot share an SQLite file: use a PostgreSQL store "
            "(--database-url postgresql+psycopg://...) with --ray-address"
        )
    if not ray.is_initialized():
        if address is None:
            ray.init(num_cpus=workers, include_dashboard=False, log_to_driver=False)
        else:
            ray.init(address=address, log_to_driver=False)
    if local_file is not None:
        _run_sqlite_shards(
            ray,
            database_url,
            sessions,
            experiment_id,
            spec,
            primaries,
            workers,
            shared_data,
            batch_size,
            on_progress,
        )
        return
    task = ray.remote(_shard_task)
    shards: list[list[Primary]] = [[] for _ in range(workers)]
    for primary in primaries:
        shards[shard_of(primary[1], workers)].append(primary)
    refs = [
        task.remote(
            database_url,
            experiment_id,
            spec.to_json(),
            shard,
            str(shared_data) if shared_data else None,
            batch_size,
        )
        for shard in shards
        if shard
    ]
    seen = None
    while refs:
        _, refs = ray.wait(refs, timeout=0.5, num_returns=len(refs))
        if on_progress is not None:
            with sessions() as session:
                now = _count_done(session, experiment_id)
            if seen is not None and now > seen:
                on_progress(now - seen)
            seen = now if seen is None else max(seen, now)
    ray.get(refs)


def _run_sqlite_shards(
    ray: Any,
    database_url: str,
    sessions: sessionmaker[Session],
    experiment_id: int,
    spec: ExperimentSpec,
    primaries: Sequence[Primary],
    workers: int,
    shared_data: Path | None,
    batch_size: int,
    on_progress: Progress | None,
) -> None:
    """Tasks run customers on private copies of the store; each result is merged as it lands."""
    chunks = workers * 4  # several tasks per worker: progress, and less lost to a kill
    shards: list[list[Primary]] = [[] for _ in range(chunks)]
    for primary in primaries:
        shards[shard_of(primary[1], chunks)].append(primary)
    task = ray.remote(run_task)
    spec_json = spec.to_json()
    data = str(shared_data) if shared_data else None
    refs = [
        task.remote(database_url, experiment_id, spec_json, shard, data, batch_size)
        for shard in shards
        if shard
    ]
    while refs:
        ready, refs = ray.wait(refs, num_returns=1)
        result: ShardResult = ray.get(ready[0])
        with sessions() as session, session.begin():
            merge(session.connection(), result)
        if on_progress is not None:
            on_progress(result.contacts_run)


# ---- reading results and reporting -------------------------------------------------------------
def load_results(
    session: Session, experiment_id: int
) -> tuple[ExperimentInfo, list[ContactOutcome], ArmAssignmentCounts]:
    """The experiment's info, every contact's outcome, and customers per arm."""
    row = session.get(models.Experiment, experiment_id)
    if row is None:
        raise ExperimentNotFound(f"no experiment {experiment_id}")
    spec = row.spec
    arms = tuple(
        ArmSpec(name=a["name"], agent=a["agent"], weight=float(a["weight"])) for a in spec["arms"]
    )
    instrument = {
        "versions": spec["versions"],
        "population": spec["population"],
        "recontact": spec["recontact"],
    }
    info = ExperimentInfo(
        id=row.id,
        name=row.name,
        arms=arms,
        seed=int(spec["seed"]),
        contacts=int(spec["contacts"]),
        instrument=instrument,
        # Wall-clock times stay in the store row, out of the figures: same seed, same report.
    )
    rows = session.execute(
        select(models.ExperimentContact, models.ExperimentOutcome)
        .join(models.ExperimentOutcome)
        .where(models.ExperimentContact.experiment_id == experiment_id)
        .order_by(models.ExperimentContact.key)
    ).all()
    list_probs = _min_list_probs(session, experiment_id)
    outcomes = [
        ContactOutcome(
            contact_key=c.key,
            customer_id=c.customer_id,
            arm=c.arm,
            issue_type=c.issue_type,  # type: ignore[arg-type]
            started_at=c.started_at,
            is_recontact=c.is_recontact,
            turns=o.turns,
            handed_off=o.handed_off,
            goal_met=o.goal_met,
            wrong_action=o.wrong_action,
            wrong_fact=o.wrong_fact,
            abandoned=o.abandoned,
            recontacted_24h=o.recontacted_24h,
            min_list_prob=list_probs.get(c.conversation_id),
        )
        for c, o in rows
    ]
    counts = dict.fromkeys((a.name for a in arms), 0)
    for arm, n in session.execute(
        select(models.ExperimentAssignment.arm, func.count())
        .where(models.ExperimentAssignment.experiment_id == experiment_id)
        .group_by(models.ExperimentAssignment.arm)
    ):
        counts[arm] = int(n)
    weights = {a.name: a.weight for a in arms}
    return info, outcomes, ArmAssignmentCounts(customers=counts, weights=weights)


def _min_list_probs(session: Session, experiment_id: int) -> dict[int, float]:
    """Per conversation, the lowest list-head probability its replies carry (neural arms)."""
    conversations = select(models.ExperimentContact.conversation_id).where(
        models.ExperimentContact.experiment_id == experiment_id
    )
    lowest: dict[int, float] = {}
    for conversation_id, scores in session.execute(
        select(models.Turn.conversation_id, models.Turn.scores).where(
            models.Turn.conversation_id.in_(conversations), models.Turn.speaker == "agent"
        )
    ):
        if isinstance(scores, dict) and isinstance(scores.get(LIST_SCORE_KEY), int | float):
            value = float(scores[LIST_SCORE_KEY])
            lowest[conversation_id] = min(value, lowest.get(conversation_id, value))
    return lowest


@dataclass(frozen=True)
class Finished:
    figures: ExperimentFigures
    files: ReportFiles


def finish(sessions: sessionmaker[Session], experiment_id: int, out_dir: Path) -> Finished:
    """Compute every figure, write the HTML and JSON report, and save its row in the store."""
    with sessions() as session, session.begin():
        row = session.get(models.Experiment, experiment_id)
        if row is None:
            raise ExperimentNotFound(f"no experiment {experiment_id}")
        if row.finished_at is None:
            row.finished_at = utcnow()
        row.status = "finished"
        session.flush()
        info, outcomes, assignments = load_results(session, experiment_id)
        figures = summarize(info, outcomes, assignments)
        files = write_report(figures, out_dir)
        row.report = figures.to_dict()
        row.report_path = str(files.html_path)
    return Finished(figures=figures, files=files)


def find_experiment(session: Session, ref: str) -> int:
    """An experiment id from its id or its key."""
    query = select(models.Experiment.id).where(models.Experiment.key == ref)
    found = session.scalar(query)
    if found is None and ref.isdigit():
        found = session.scalar(select(models.Experiment.id).where(models.Experiment.id == int(ref)))
    if found is None:
        raise ExperimentNotFound(f"no experiment {ref!r} in this store")
    return int(found)
