"""``csbot personalize``: fit the vectors, and measure order resolution by description."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Annotated

import typer

from dialogue.config import Settings

personalize_app = typer.Typer(
    help="Personalization: CF + content vectors of purchase histories.", no_args_is_help=True
)


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


@personalize_app.command("fit")
def fit_command(
    database_url: Annotated[
        str | None, typer.Option("--database-url", help="SQLAlchemy URL (default: the store)")
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option(help="artifact path (default: data_dir/models/personalization.npz)"),
    ] = None,
    factors: Annotated[int, typer.Option(min=2, max=512, help="ALS factors")] = 32,
    iterations: Annotated[int, typer.Option(min=1, max=200, help="ALS sweeps")] = 15,
    seed: Annotated[int, typer.Option(help="ALS random seed")] = 0,
) -> None:
    """Fit ALS on the store's purchases and embed its catalog; write the artifact."""
    from dialogue.personalization.cf import ALSConfig
    from dialogue.personalization.fit import fit_personalization
    from dialogue.store.session import make_engine, make_session_factory, upgrade

    settings = Settings()
    url = database_url or settings.resolved_database_url()
    target = out or settings.resolved_personalization_artifact()
    upgrade(url)
    engine = make_engine(url)
    started = time.perf_counter()
    try:
        with make_session_factory(engine)() as session:
            artifact = fit_personalization(
                session, als=ALSConfig(factors=factors, iterations=iterations, seed=seed)
            )
    except (LookupError, ValueError) as exc:
        _fail(str(exc))
    finally:
        engine.dispose()
    artifact.save(target)
    typer.echo(
        f"fitted {len(artifact.customers)} customers x {len(artifact.skus)} items "
        f"(ALS {artifact.fit_seconds:.2f} s, {time.perf_counter() - started:.1f} s in all; "
        f"world {artifact.fingerprint}) -> {target}"
    )


@personalize_app.command("orders")
def orders_command(
    json_out: Annotated[Path | None, typer.Option(help="write the figures as JSON")] = None,
    md_out: Annotated[Path | None, typer.Option(help="write the figures as Markdown")] = None,
    seed: Annotated[int, typer.Option(help="seed of the description draws")] = 0,
    limit: Annotated[int | None, typer.Option(min=1, help="cases per set (default: all)")] = None,
) -> None:
    """Measure order resolution by description: the word matcher against the embeddings."""
    from simulator.order_resolution import resolution_report, write_resolution_markdown

    settings = Settings()
    report = resolution_report(settings.shared_data_dir, seed=seed, limit=limit)
    for name, table in report["sets"].items():
        for resolver, figures in table["resolvers"].items():
            low, high = figures["ci95"]
            typer.echo(
                f"{name:9s} {resolver:22s} {figures['accuracy']:.3f} [{low:.3f}, {high:.3f}] "
                f"wrong {figures['wrong']} asked {figures['asked']} missed {figures['missed']} "
                f"(n={figures['n']})"
            )
    if json_out:
        json_out.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    if md_out:
        write_resolution_markdown(report, md_out)
