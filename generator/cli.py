"""``csbot train generator`` and ``csbot generator evaluate``."""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer

from dialogue.config import Settings
from ranker.cli import _CORPUS_HELP, _fail, _soft_source, ensure_corpus, train_app

generator_app = typer.Typer(help="The generative model.", no_args_is_help=True)


def _base(base: str, layers: int, lora_rank: int, lora_targets: str) -> dict[str, object]:
    if base in ("minilm", "scratch"):
        return {"base": base, "layers": layers}
    targets = tuple(t for t in lora_targets.split(",") if t)
    return {"base": "path", "base_path": base, "lora_rank": lora_rank, "lora_targets": targets}


@train_app.command("generator")
def train_generator_command(
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="checkpoint path (default: settings)")] = None,
    dialogues: Annotated[int, typer.Option(min=10, help="dialogues if exporting")] = 8000,
    base: Annotated[
        str,
        typer.Option(
            help="minilm (warm start from the packaged MiniLM) | scratch | a local Hugging Face "
            "causal-LM directory"
        ),
    ] = "minilm",
    layers: Annotated[int, typer.Option(min=1, max=6, help="decoder layers (minilm/scratch)")] = 2,
    lora_rank: Annotated[int, typer.Option(min=0, help="LoRA rank for a directory base")] = 8,
    lora_targets: Annotated[str, typer.Option(help="comma-separated LoRA module names")] = "",
    epochs: Annotated[int, typer.Option(min=1)] = 2,
    batch_size: Annotated[int, typer.Option(min=1)] = 16,
    lr: Annotated[float, typer.Option(min=0.0)] = 3e-4,
    max_examples: Annotated[int | None, typer.Option(min=1, help="cap on training turns")] = None,
    max_minutes: Annotated[float, typer.Option(min=0.05, help="stop training after this")] = 25.0,
    max_steps: Annotated[
        int | None, typer.Option(min=1, help="stop after this many steps (LR decays over them)")
    ] = None,
    profile: Annotated[bool, typer.Option(help="off: no profile line in the prompt")] = True,
    personalization: Annotated[
        Path | None, typer.Option(help="read soft tokens from this artifact (default: none)")
    ] = None,
    soft_mode: Annotated[str, typer.Option(help="both | cf | content | none")] = "both",
    soft_tokens: Annotated[int, typer.Option(min=1, max=32, help="longest soft sequence")] = 8,
    threads: Annotated[int | None, typer.Option(min=1, help="torch threads")] = None,
    tiny: Annotated[bool, typer.Option(help="the tiny config (tests, smoke runs)")] = False,
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Train the generator on the transcripts corpus and save its checkpoint."""
    import torch

    from generator.checkpoint import save_generator
    from generator.config import TINY, GeneratorConfig, TrainConfig
    from generator.model import ModelUnavailable
    from generator.train import train_generator
    from ranker.data import CorpusError, load_turns
    from ranker.personal import soft_meta

    if threads is not None:
        torch.set_num_threads(threads)
    logging.basicConfig(level=logging.WARNING)
    folder = ensure_corpus(corpus, dialogues=dialogues, seed=seed)
    target = out or Settings().resolved_generator_checkpoint()
    soft = None
    extra: dict[str, object] = {}
    if personalization is not None:
        soft = _soft_source(personalization, folder, soft_mode, soft_tokens)
        extra = {"soft_dim": soft.dim, "soft_tokens": soft_tokens}
    try:
        cfg = GeneratorConfig(
            **_base(base, layers, lora_rank, lora_targets),  # type: ignore[arg-type]
            use_profile=profile,
            **extra,  # type: ignore[arg-type]
        )
        if tiny:
            cfg = replace(TINY, use_profile=profile, **extra)  # type: ignore[arg-type]
    except ValueError as exc:
        _fail(str(exc))
    try:
        train_split = load_turns(folder / "train.jsonl")
        valid_split = load_turns(folder / "valid.jsonl")
    except CorpusError as exc:
        _fail(str(exc))
    tcfg = TrainConfig(
        epochs=epochs,
        batch_size=batch_size,
        lr=lr,
        seed=seed,
        max_minutes=max_minutes,
        max_steps=max_steps,
        max_train_examples=max_examples,
    )
    try:
        result = train_generator(
            train_split, valid_split, cfg, tcfg, soft=soft, progress=typer.echo
        )
    except ModelUnavailable as exc:
        _fail(str(exc))
    meta: dict[str, object] = {
        **result.meta(),
        "train_config": {k: v for k, v in vars(tcfg).items()},
        "corpus": str(folder),
    }
    if soft is not None:
        meta["personalization"] = soft_meta(soft)
    save_generator(target, result.model, meta=meta)
    typer.echo(json.dumps(result.figures()))
    typer.echo(f"checkpoint: {target}")


@generator_app.command("evaluate")
def evaluate_command(
    checkpoints: Annotated[
        list[Path], typer.Argument(help="generator checkpoints (name=PATH or PATH)")
    ],
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    split: Annotated[str, typer.Option(help="train | valid | test")] = "test",
    limit: Annotated[int, typer.Option(min=1, help="turns sampled from the split")] = 600,
    seed: Annotated[int, typer.Option()] = 0,
    json_out: Annotated[Path | None, typer.Option(help="write every figure here")] = None,
    md_out: Annotated[Path | None, typer.Option(help="write the table here")] = None,
) -> None:
    """BLEU, ROUGE-L, embedding similarity, act accuracy and grounding failures of each
    generator on held-out human-rep replies."""
    from generator.checkpoint import GeneratorCheckpointError
    from generator.drafter import Drafter
    from generator.evaluate import evaluate_generator, markdown_table, sample_turns
    from ranker.data import CorpusError, load_turns

    if split not in ("train", "valid", "test"):
        _fail(f"--split must be train, valid or test, got {split!r}")
    folder = ensure_corpus(corpus, dialogues=8000, seed=seed)
    try:
        turns = sample_turns(load_turns(folder / f"{split}.jsonl"), limit, seed=seed)
    except CorpusError as exc:
        _fail(str(exc))
    titles = _catalog_titles()
    results = []
    for spec in checkpoints:
        name, _, path = str(spec).rpartition("=")
        try:
            drafter = Drafter.load(Path(path))
        except GeneratorCheckpointError as exc:
            _fail(str(exc))
        scores, _ = evaluate_generator(
            name or Path(path).stem, drafter, turns, catalog_titles=titles, seed=seed
        )
        typer.echo(json.dumps(scores.to_json()))
        results.append(scores)
    table = markdown_table(results)
    typer.echo(table)
    if json_out is not None:
        json_out.write_text(json.dumps([r.to_json() for r in results], indent=2) + "\n")
    if md_out is not None:
        md_out.write_text(table)


@generator_app.command("act-reader")
def act_reader_command(
    checkpoint: Annotated[Path, typer.Argument(help="generator checkpoint to update")],
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    seed: Annotated[int, typer.Option(help="the seed the generator was trained with")] = 0,
) -> None:
    """Fit the act reader on the corpus's training turns and store it in the checkpoint.

    `csbot train generator` does this itself; a checkpoint saved without a reader grounds no
    draft until it has one."""
    from generator.act_check import accuracy, fit_act_reader
    from generator.checkpoint import GeneratorCheckpointError, load_generator, update_meta
    from generator.train import select_turns
    from ranker.data import CorpusError, load_turns

    try:
        load_generator(checkpoint)
    except GeneratorCheckpointError as exc:
        _fail(str(exc))
    folder = ensure_corpus(corpus, dialogues=8000, seed=seed)
    try:
        train_split = load_turns(folder / "train.jsonl")
        valid_split = load_turns(folder / "valid.jsonl")
    except CorpusError as exc:
        _fail(str(exc))
    reader = fit_act_reader(select_turns(train_split, seed=seed), seed=seed)
    update_meta(checkpoint, act_reader=reader.to_json())
    typer.echo(f"act reader: {len(reader.labels)} acts, validation accuracy "
               f"{accuracy(reader, valid_split):.4f} -> {checkpoint}")  # fmt: skip


def _catalog_titles() -> frozenset[str]:
    """Item titles from the configured store (empty: no world there, item names unchecked)."""
    from sqlalchemy.exc import SQLAlchemyError

    from dialogue.store.repository import catalog_titles
    from dialogue.store.session import make_engine, make_session_factory

    try:
        engine = make_engine(Settings().resolved_database_url())
        with make_session_factory(engine)() as session:
            return catalog_titles(session)
    except SQLAlchemyError:
        return frozenset()
