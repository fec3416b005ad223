"""``csbot serve`` (the service under uvicorn) and ``csbot users add`` (reps and owners)."""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from dialogue.config import Settings

users_app = typer.Typer(help="Reps' and experiment owners' accounts.", no_args_is_help=True)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def serve(
    host: Annotated[str | None, typer.Option(help="address to listen on (CSBOT_HOST)")] = None,
    port: Annotated[int | None, typer.Option(help="port (CSBOT_PORT)")] = None,
    arm: Annotated[
        str | None,
        typer.Option(help="the arm answering customers: auto (ranker if trained, else rules)"),
    ] = None,
    mode: Annotated[
        str | None, typer.Option(help="new chats start in: auto (the bot answers) | assist")
    ] = None,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
    workers: Annotated[
        int,
        typer.Option(
            min=1,
            max=64,
            help="processes computing customers' turns (one per core); 1: the app's own process",
        ),
    ] = 1,
    seed_world: Annotated[
        bool, typer.Option(help="seed the default world first when the store has none")
    ] = True,
) -> None:
    """Run the service: chat widget (/chat), agent-assist panel (/assist), reports (/reports)
    and the JSON API (/docs) on the configured store."""
    import uvicorn

    # One app process; with --workers N, customers' turns are computed by N worker processes
    # taking them from one queue (dialogue.service.turns), which start with the app.
    if workers > 1:
        # Each worker runs its own model: split the cores between them rather than let every
        # worker's torch start a thread per core (set OMP_NUM_THREADS to choose otherwise).
        os.environ.setdefault("OMP_NUM_THREADS", str(max(1, (os.cpu_count() or 1) // workers)))
    for name, value in (
        ("CSBOT_DATABASE_URL", database_url),
        ("CSBOT_SERVE_ARM", arm),
        ("CSBOT_CHAT_MODE", mode),
        ("CSBOT_TURN_WORKERS", str(workers)),
    ):
        if value is not None:
            os.environ[name] = value
    settings = Settings()
    if settings.chat_mode not in ("auto", "assist"):
        _fail(f"--mode must be auto or assist, got {settings.chat_mode!r}")
    url = settings.resolved_database_url()
    if seed_world:
        _seed_if_empty(url, settings)
    from dialogue.service.wiring import chosen_arm
    from simulator.arms import ArmNotReady, UnknownArm, build_agent

    try:
        build_agent(chosen_arm(settings))  # fail here, not on the first customer
    except (UnknownArm, ArmNotReady) as exc:
        _fail(str(exc))
    typer.echo(f"csbot on http://{host or settings.host}:{port or settings.port} ({url})")
    uvicorn.run(
        "dialogue.api.app:create_app",
        factory=True,
        host=host or settings.host,
        port=port or settings.port,
        log_level="warning",
    )


def _seed_if_empty(url: str, settings: Settings) -> None:
    from sqlalchemy import select

    from dialogue.store import models
    from dialogue.store.session import make_engine, make_session_factory, upgrade
    from simulator.world import WorldConfig, seed_world

    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as session, session.begin():
        if session.scalar(select(models.Customer.id).limit(1)) is None:
            typer.echo("The store is empty: seeding the default world first...")
            config = WorldConfig(
                seed=settings.world_seed,
                customers=settings.world_customers,
                items=settings.world_items,
            )
            seed_world(session, config)
    engine.dispose()


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="the name to sign in with")],
    role: Annotated[str, typer.Option(help="rep | owner")] = "rep",
    password_stdin: Annotated[
        bool, typer.Option(help="read the password from standard input")
    ] = False,
    database_url: Annotated[str | None, typer.Option("--database-url")] = None,
) -> None:
    """Add a rep or an experiment owner (the password is asked for, or read from stdin)."""
    from datetime import UTC, datetime

    from dialogue.service.accounts import AccountError, create_user
    from dialogue.store.session import make_engine, make_session_factory, upgrade

    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("password", hide_input=True, confirmation_prompt=True)
    url = database_url or Settings().resolved_database_url()
    upgrade(url)
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as session, session.begin():
            create_user(
                session,
                username=username,
                password=password,
                role=role,
                now=datetime.now(UTC).replace(tzinfo=None),
            )
    except AccountError as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    typer.echo(f"added {role} {username!r}")
