"""``csbot experiment run|report`` and ``csbot corpus export``."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from sqlalchemy import select
from tqdm import tqdm

from dialogue.config import Settings
from dialogue.store import models
from dialogue.store.session import make_engine, make_session_factory, upgrade

experiment_app = typer.Typer(help="Automation-rate A/B experiments.", no_args_is_help=True)
corpus_app = typer.Typer(help="The historical-transcripts corpus.", no_args_is_help=True)


OutOption = Annotated[
    Path | None, typer.Option(help="report folder (default: the data dir's reports/)")
]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _experiment_store(key: str, settings: Settings) -> str:
    """The embedded default: one SQLite store per experiment, seeded with the default world, so
    that every experiment starts from the same world and a rerun resumes in the same file."""
    from simulator.world import WorldConfig, seed_world

    w = (settings.world_seed, settings.world_customers, settings.world_items)
    path = settings.data_dir / "experiments" / f"{key}-world{w[0]}-{w[1]}-{w[2]}.sqlite3"
    url = f"sqlite:///{path}"
    upgrade(url)
    if not _has_world(url):  # new, or a first run killed while seeding (rolled back)
        engine = make_engine(url)
        with make_session_factory(engine)() as session, session.begin():
            seed_world(session, WorldConfig(seed=w[0], customers=w[1], items=w[2]))
        engine.dispose()
    return url


def _find_store(ref: str, settings: Settings) -> str | None:
    folder = settings.data_dir / "experiments"
    matches = sorted(folder.glob(f"{ref}-world*.sqlite3")) if folder.is_dir() else []
    return f"sqlite:///{matches[0]}" if matches else None


def _has_world(url: str) -> bool:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session:
            return session.scalar(select(models.Customer.id).limit(1)) is not None
    finally:
        engine.dispose()


@experiment_app.command("run")
def experiment_run(
    arms: Annotated[
        str | None,
        typer.Option(help="comma-separated arms: rules,rules_no_descriptions or A=rules,B=rules"),
    ] = None,
    contacts: Annotated[int | None, typer.Option(help="primary contacts to simulate")] = None,
    seed: Annotated[int, typer.Option()] = 0,
    name: Annotated[str, typer.Option(help="a name for the report")] = "",
    spec_file: Annotated[
        Path | None, typer.Option("--spec", help="a JSON experiment spec (instead of the options)")
    ] = None,
    workers: Annotated[int, typer.Option(min=1, help="Ray workers (1 = in-process)")] = 1,
    ray_address: Annotated[
        str | None, typer.Option(help="a Ray cluster address (default: start a local one)")
    ] = None,
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url",
            help="a store holding a world (default: a fresh SQLite store per experiment)",
        ),
    ] = None,
    out: OutOption = None,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Run (or resume) an experiment, write its report, print a summary table."""
    from simulator.arms import ArmNotReady, build_agent
    from simulator.experiment import finish, run_experiment
    from simulator.report import summary_table
    from simulator.spec import ExperimentSpec, SpecError, parse_arms

    settings = Settings()
    try:
        if spec_file is not None:
            try:
                data = json.loads(spec_file.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
                raise SpecError(f"cannot read spec {spec_file}: {exc}") from None
            spec = ExperimentSpec.from_json(data)
        else:
            if arms is None or contacts is None:
                raise SpecError("give --arms and --contacts, or --spec FILE")
            spec = ExperimentSpec(arms=parse_arms(arms), contacts=contacts, seed=seed, name=name)
        spec.validate()
        for arm in spec.arms:  # a model arm without its checkpoint fails here, before any row
            build_agent(arm.agent_name)
    except (SpecError, ArmNotReady) as exc:
        _fail(str(exc))
        return
    url = database_url or _experiment_store(spec.key, settings)
    if database_url is not None:
        upgrade(url)
        if not _has_world(url):
            _fail(f"{url} holds no world: run `csbot world seed --database-url {url}` first")
    bar: tqdm[Any] | None = None

    def on_start(total: int, done: int) -> None:
        nonlocal bar
        typer.echo(f"experiment {spec.key}: {total} primary contacts, {done} contacts already run")
        if progress:
            bar = tqdm(total=total, unit="contact", dynamic_ncols=True)

    def on_progress(n: int) -> None:
        if bar is not None:
            bar.update(n)

    started = time.perf_counter()
    try:
        experiment_id = run_experiment(
            url,
            spec,
            workers=workers,
            ray_address=ray_address,
            shared_data=settings.shared_data_dir,
            on_start=on_start,
            on_progress=on_progress,
        )
    except SpecError as exc:
        _fail(str(exc))
        return
    finally:
        if bar is not None:
            bar.close()
    elapsed = time.perf_counter() - started
    engine = make_engine(url)
    folder = (out or settings.data_dir / "reports") / spec.key
    done = finish(make_session_factory(engine), experiment_id, folder)
    engine.dispose()
    typer.echo(summary_table(done.figures))
    typer.echo(f"\nstore: {url}")
    typer.echo(f"report: {done.files.html_path}")
    typer.echo(f"figures: {done.files.json_path}")
    typer.echo(f"experiment: {spec.key} (id {experiment_id}) in {elapsed:.1f}s")


@experiment_app.command("report")
def experiment_report(
    ref: Annotated[str, typer.Argument(help="the experiment key (or id with --database-url)")],
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    out: OutOption = None,
) -> None:
    """Write an experiment's report again from the store and print its summary."""
    from simulator.experiment import ExperimentNotFound, find_experiment, finish
    from simulator.report import summary_table

    settings = Settings()
    url = database_url or _find_store(ref, settings)
    if url is None:
        _fail(f"no experiment {ref!r} in {settings.data_dir / 'experiments'}")
        return
    engine = make_engine(url)
    sessions = make_session_factory(engine)
    try:
        with sessions() as session:
            experiment_id = find_experiment(session, ref)
        folder = (out or settings.data_dir / "reports") / ref
        done = finish(sessions, experiment_id, folder)
    except ExperimentNotFound as exc:
        _fail(str(exc))
        return
    finally:
        engine.dispose()
    typer.echo(summary_table(done.figures))
    typer.echo(f"report: {done.files.html_path}")
    typer.echo(f"figures: {done.files.json_path}")


@experiment_app.command("paired")
def experiment_paired(
    store_a: Annotated[Path, typer.Argument(help="experiment store (SQLite file) of run A")],
    store_b: Annotated[Path, typer.Argument(help="the same spec's store of run B")],
    arm: Annotated[str, typer.Option(help="the arm whose agent differs between the runs")],
) -> None:
    """Compare two runs of one spec (another model behind ``--arm``) on paired first contacts."""
    from simulator.paired import PairedError, compare_runs

    try:
        result = compare_runs(store_a, store_b, arm)
    except PairedError as exc:
        _fail(str(exc))
        return
    low, high = result.ci95
    typer.echo(
        f"{arm}: {result.pairs} paired first contacts; automated A {result.automated_a} "
        f"({result.automated_a / result.pairs:.1%}), B {result.automated_b} "
        f"({result.automated_b / result.pairs:.1%}); only A {result.only_a}, only B "
        f"{result.only_b}; B - A {100 * result.difference:+.1f} pts "
        f"[95% CI {100 * low:+.1f}, {100 * high:+.1f}], McNemar p = {result.p_value:.3g}"
    )


@corpus_app.command("export")
def corpus_export(
    out: Annotated[Path, typer.Option(help="folder for train/valid/test.jsonl")] = Path("corpus"),
    dialogues: Annotated[int, typer.Option(min=1, help="dialogues to simulate")] = 20_000,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Simulate expert-rep dialogues on a fresh world and write them as JSONL, split by customer."""
    from simulator.corpus import export_corpus
    from simulator.world import WorldConfig

    settings = Settings()
    bar = tqdm(total=dialogues, unit="dialogue", disable=not progress, dynamic_ncols=True)
    try:
        summary = export_corpus(
            out,
            dialogues=dialogues,
            seed=seed,
            world=WorldConfig(
                seed=settings.world_seed,
                customers=settings.world_customers,
                items=settings.world_items,
            ),
            shared_data=settings.shared_data_dir,
            on_progress=bar.update,  # type: ignore[arg-type]
        )
    finally:
        bar.close()
    typer.echo(
        f"{summary.dialogues} dialogues, {summary.examples} rep turns "
        f"({summary.off_catalog} off-catalog) in {summary.seconds}s -> {out}"
    )
    for split, n in sorted(summary.by_split.items()):
        typer.echo(f"  {split}: {n} dialogues, {summary.customers_by_split[split]} customers")
