"""The ``csbot`` command line: store, world, chat, demo, experiments and the corpus."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.api.cli import serve, users_app
from dialogue.config import Settings
from dialogue.conversation import ConversationRunner
from dialogue.personalization.cli import personalize_app
from dialogue.rules import RulesAgent, RulesConfig
from dialogue.store import models
from dialogue.store.session import (
    alembic_config,
    make_engine,
    make_session_factory,
    upgrade,
)
from generator.cli import generator_app
from ranker.cli import ranker_app, train_app
from simulator.cli import corpus_app, experiment_app

app = typer.Typer(
    help="csbot: refund-status and cancellation customer-service agents.", no_args_is_help=True
)
db_app = typer.Typer(help="The store's schema.", no_args_is_help=True)
world_app = typer.Typer(help="Seed or import the store's world.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(world_app, name="world")
app.add_typer(experiment_app, name="experiment")
app.add_typer(corpus_app, name="corpus")
app.add_typer(train_app, name="train")
app.add_typer(ranker_app, name="ranker")
app.add_typer(generator_app, name="generator")
app.add_typer(personalize_app, name="personalize")
app.add_typer(users_app, name="users")
app.command()(serve)

DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database-url",
        help="SQLAlchemy URL (default: CSBOT_DATABASE_URL or the embedded SQLite file)",
    ),
]


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def _url(database_url: str | None) -> str:
    return database_url or Settings().resolved_database_url()


def _reset(url: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(url), "base")


def _sessions(url: str) -> sessionmaker[Session]:
    upgrade(url)
    return make_session_factory(make_engine(url))


def _has_world(sessions: sessionmaker[Session]) -> bool:
    with sessions() as session:
        return session.scalar(select(models.Customer.id).limit(1)) is not None


@db_app.command("upgrade")
def db_upgrade(database_url: DatabaseOption = None) -> None:
    """Run the Alembic migrations up to head."""
    url = _url(database_url)
    upgrade(url)
    typer.echo(f"store at head: {url}")


@world_app.command("seed")
def world_seed(
    database_url: DatabaseOption = None,
    seed: Annotated[int | None, typer.Option(help="world seed (default: CSBOT_WORLD_SEED)")] = None,
    customers: Annotated[int | None, typer.Option(min=1)] = None,
    items: Annotated[int | None, typer.Option(min=10)] = None,
    reset: Annotated[bool, typer.Option(help="empty the store first")] = False,
) -> None:
    """Seed a synthetic world (same seed, identical world)."""
    from simulator.world import WorldConfig, WorldError, seed_world

    settings = Settings()
    url = _url(database_url)
    if reset:
        _reset(url)
    sessions = _sessions(url)
    config = WorldConfig(
        seed=settings.world_seed if seed is None else seed,
        customers=customers or settings.world_customers,
        items=items or settings.world_items,
    )
    started = time.perf_counter()
    try:
        with sessions() as session, session.begin():
            summary = seed_world(session, config)
    except WorldError as exc:
        _fail(f"{exc} (use --reset to replace the current world)")
    typer.echo(f"seeded {url} in {time.perf_counter() - started:.1f}s")
    typer.echo(_format_summary(summary))


@world_app.command("import-tau2")
def world_import_tau2(
    path: Annotated[Path, typer.Argument(help="tau2-bench retail db.json")],
    database_url: DatabaseOption = None,
    reset: Annotated[bool, typer.Option(help="empty the store first")] = False,
) -> None:
    """Import a tau2-bench retail world (users, orders, products)."""
    from simulator.tau2 import import_tau2
    from simulator.world import WorldError

    url = _url(database_url)
    if reset:
        _reset(url)
    sessions = _sessions(url)
    try:
        with sessions() as session, session.begin():
            summary = import_tau2(session, path)
    except WorldError as exc:
        _fail(f"{exc} (use --reset to replace the current world)")
    typer.echo(f"imported {path} into {url}")
    typer.echo(_format_summary(summary))


@world_app.command("summary")
def world_summary_command(database_url: DatabaseOption = None) -> None:
    """Print what the store's world holds."""
    from simulator.world import WorldError, world_summary

    sessions = _sessions(_url(database_url))
    try:
        with sessions() as session:
            typer.echo(_format_summary(world_summary(session)))
    except WorldError as exc:
        _fail(str(exc))


def _sample_customer_hint(sessions: sessionmaker[Session]) -> str:
    """A customer with an open order and a refund, for trying the agent in a test world."""
    from dialogue.store import repository

    with sessions() as session:
        for customer_id in repository.customers_with_orders(session, limit=500):
            record = repository.customer_record(session, customer_id)
            if record is None:
                continue
            statuses = {o.status.value for o in record.orders}
            if {"pending", "processing"} & statuses and any(o.refunds for o in record.orders):
                orders = ", ".join(
                    f"{o.order_number} ({o.lines[0].title}, {o.status.value})"
                    for o in record.orders[:4]
                )
                return f"(test world) try signing in as {record.profile.email}; orders: {orders}"
    return "(no sample customer found)"


def _format_summary(summary: object) -> str:
    fields = getattr(summary, "__dataclass_fields__", {})
    return "\n".join(f"  {name}: {getattr(summary, name)}" for name in fields)


@app.command()
def chat(
    database_url: DatabaseOption = None,
    no_descriptions: Annotated[
        bool, typer.Option(help="turn off order description matching")
    ] = False,
    hint: Annotated[bool, typer.Option(help="print a sample customer to sign in as")] = True,
) -> None:
    """Talk to the rule-based agent in the terminal (seeds a world first if the store is empty)."""
    settings = Settings()
    url = _url(database_url)
    sessions = _sessions(url)
    if not _has_world(sessions):
        typer.echo("The store is empty: seeding the default world first...")
        world_seed(database_url=url)
    agent = RulesAgent(RulesConfig(match_descriptions=not no_descriptions))
    runner = ConversationRunner(sessions, agent, max_message_chars=settings.max_message_chars)
    conversation_id = runner.start(channel="terminal")
    typer.echo(f"Conversation {conversation_id} with the rule-based agent. Ctrl-D to leave.")
    if hint:
        typer.echo(_sample_customer_hint(sessions))
    while True:
        try:
            line = input("you> ")
        except (EOFError, KeyboardInterrupt):
            typer.echo("")
            return
        reply = runner.send(conversation_id, line)
        typer.echo(f"bot> {reply.text}")
        if reply.action in ("handoff", "end_conversation"):
            typer.echo(f"[conversation {'handed off' if reply.action == 'handoff' else 'closed'}]")
            return


@app.command()
def demo(
    dialogues: Annotated[int, typer.Option(min=1, help="scripted dialogues to run")] = 200,
    show: Annotated[int, typer.Option(min=0, help="transcripts to print")] = 3,
    database_url: Annotated[
        str | None,
        typer.Option("--database-url", help="default: a fresh demo.sqlite3 in the data dir"),
    ] = None,
    seed: Annotated[int, typer.Option()] = 7,
    tau2: Annotated[
        Path | None, typer.Option(help="import this tau2-bench retail db.json instead of seeding")
    ] = None,
    no_descriptions: Annotated[
        bool, typer.Option(help="the rule-based agent without order description matching")
    ] = False,
) -> None:
    """Seed a world, run scripted dialogues through the rule-based agent, print a summary."""
    from simulator.scripted import run_corpus
    from simulator.tau2 import import_tau2
    from simulator.world import WorldConfig, WorldError, seed_world

    settings = Settings()
    if database_url is None:
        path = settings.data_dir / "demo.sqlite3"
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)
        url = f"sqlite:///{path}"
    else:
        url = database_url
        _reset(url)
    started = time.perf_counter()
    sessions = _sessions(url)
    try:
        with sessions() as session, session.begin():
            if tau2 is not None:
                summary = import_tau2(session, tau2)
            else:
                config = WorldConfig(
                    seed=seed, customers=settings.world_customers, items=settings.world_items
                )
                summary = seed_world(session, config)
    except WorldError as exc:
        _fail(str(exc))
    seeded = time.perf_counter()
    typer.echo(
        f"World ({summary.source}, seed {summary.seed}) in {url}: {summary.customers} customers, "
        f"{summary.items} items, {sum(summary.orders_by_status.values())} orders "
        f"({seeded - started:.1f}s)"
    )
    agent = RulesAgent(RulesConfig(match_descriptions=not no_descriptions))
    report = run_corpus(
        sessions, agent, n=dialogues, seed=seed, max_message_chars=settings.max_message_chars
    )
    elapsed = time.perf_counter() - seeded
    for result in report.results[:show]:
        s = result.script
        typer.echo(
            f"\n--- {s.id}: {s.intent.value}, order by {s.refer_by}, auth by {s.auth_by} ---"
        )
        for speaker, text in result.transcript:
            typer.echo(f"{'customer' if speaker == 'customer' else '   agent'}: {text}")
        typer.echo(f"[{'completed' if result.completed else 'NOT completed'}]")
    typer.echo("\nSummary")
    typer.echo(f"  dialogues: {len(report.results)} in {elapsed:.1f}s")
    typer.echo(f"  completed: {report.completed} ({report.completion_rate:.1%})")
    for key in ("intent", "refer_by", "auth_by"):
        parts = ", ".join(f"{k} {c}/{t}" for k, (c, t) in report.by(key).items())
        typer.echo(f"  by {key}: {parts}")
    failed = [r for r in report.results if not r.completed]
    for result in failed[:5]:
        expected = sorted(result.script.expected_acts)
        problems = f" ({'; '.join(result.problems)})" if result.problems else ""
        typer.echo(
            f"  not completed: {result.script.id} expected {expected}, "
            f"acts {list(result.acts)}{problems}"
        )
    wrong = sum(bool(r.wrong_changes) for r in report.results)
    typer.echo(f"  dialogues with a wrong store change: {wrong}")
    typer.echo(f"completion_rate: {report.completion_rate:.3f}")
    typer.echo(f"wrong_store_changes: {wrong}")


@app.command()
def actions(port: int = 5055, host: str = "127.0.0.1", database_url: DatabaseOption = None) -> None:
    """Run the Rasa action server (rasa-sdk) with csbot's actions; keep it private to Rasa."""
    from dialogue.rasa_actions import ActionStore
    from dialogue.rasa_actions import serve as serve_actions

    url = _url(database_url)
    typer.echo(f"Rasa action server on http://{host}:{port}/webhook")
    serve_actions(ActionStore(_sessions(url)), host=host, port=port)


if __name__ == "__main__":  # pragma: no cover
    app()
