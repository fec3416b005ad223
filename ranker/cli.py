"""``csbot train ranker`` and ``csbot ranker evaluate``."""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from dialogue.config import Settings

if TYPE_CHECKING:
    from dialogue.personalization.soft import SoftTokens

train_app = typer.Typer(help="Train the models.", no_args_is_help=True)
ranker_app = typer.Typer(help="The template ranker.", no_args_is_help=True)

_CORPUS_HELP = "corpus folder (default: the data dir's corpus/, exported first if missing)"


def _fail(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code=2)


def ensure_corpus(corpus: Path | None, *, dialogues: int, seed: int) -> Path:
    """The corpus folder to read, exported (on a scratch world) if it holds no train split."""
    from simulator.corpus import export_corpus

    settings = Settings()
    folder = corpus or settings.data_dir / "corpus"
    if not (folder / "train.jsonl").is_file():
        typer.echo(f"exporting a {dialogues}-dialogue transcripts corpus to {folder} ...")
        export_corpus(folder, dialogues=dialogues, seed=seed, shared_data=settings.shared_data_dir)
    return folder


def _soft_source(artifact_path: Path, corpus: Path, mode: str, n_tokens: int) -> SoftTokens:
    """The soft tokens a training run reads; the artifact must come from the corpus's world."""
    import json

    from dialogue.personalization.artifact import MODES, ArtifactError, PersonalizationArtifact
    from dialogue.personalization.soft import SoftTokens

    if mode not in MODES:
        _fail(f"--soft-mode must be one of {', '.join(MODES)}, got {mode!r}")
    try:
        manifest = json.loads((corpus / "manifest.json").read_text())
    except (OSError, ValueError):
        manifest = {}
    try:
        artifact = PersonalizationArtifact.load(
            artifact_path, fingerprint=manifest.get("world_fingerprint")
        )
    except ArtifactError as exc:
        _fail(str(exc))
    return SoftTokens(artifact, mode=mode, n_tokens=n_tokens)  # type: ignore[arg-type]


@train_app.command("ranker")
def train_ranker_command(
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    out: Annotated[Path | None, typer.Option(help="checkpoint path (default: settings)")] = None,
    dialogues: Annotated[int, typer.Option(min=10, help="dialogues if exporting")] = 8000,
    epochs: Annotated[int, typer.Option(min=1)] = 3,
    max_examples: Annotated[int, typer.Option(min=1, help="cap on training turns")] = 15000,
    max_minutes: Annotated[float, typer.Option(min=0.1, help="stop training after this")] = 25.0,
    tiny: Annotated[bool, typer.Option(help="the tiny config (tests, smoke runs)")] = False,
    context_attention: Annotated[
        bool, typer.Option(help="off: candidates see a pooled context only (ablation)")
    ] = True,
    profile: Annotated[bool, typer.Option(help="off: no profile features (ablation)")] = True,
    encoder_layers: Annotated[
        int | None, typer.Option(min=1, max=6, help="MiniLM layers kept (default: the config's)")
    ] = None,
    encoder_precision: Annotated[
        str | None,
        typer.Option(help="MiniLM's weights: float32 | int8 (default: the config's)"),
    ] = None,
    meaning: Annotated[
        bool, typer.Option(help="also fit the meaning reader (ranker.meaning) into the checkpoint")
    ] = True,
    personalization: Annotated[
        Path | None,
        typer.Option(
            help="read soft tokens from this artifact (`csbot personalize fit` on the corpus's "
            "world; default: none)"
        ),
    ] = None,
    soft_mode: Annotated[
        str, typer.Option(help="which vectors the soft tokens carry: both | cf | content | none")
    ] = "both",
    soft_tokens: Annotated[int, typer.Option(min=1, max=32, help="longest soft sequence")] = 8,
    seed: Annotated[int, typer.Option()] = 0,
    progress: Annotated[bool, typer.Option(help="show a progress bar")] = True,
) -> None:
    """Train the cross-attention ranker on the transcripts corpus and save its checkpoint."""
    import torch
    from tqdm import tqdm

    from ranker.config import TINY, RankerConfig, TrainConfig
    from ranker.data import CorpusError, load_turns
    from ranker.encoder import PRECISIONS, EncoderUnavailable, TextEncoder
    from ranker.meaning import fit_meaning, meaning_example
    from ranker.train import train_ranker
    from templates import load_catalog

    if encoder_precision is not None and encoder_precision not in PRECISIONS:
        _fail(f"--encoder-precision must be one of {', '.join(PRECISIONS)}")
    torch.manual_seed(seed)
    logging.basicConfig(level=logging.WARNING)
    folder = ensure_corpus(corpus, dialogues=dialogues, seed=seed)
    target = out or Settings().resolved_ranker_checkpoint()
    cfg = replace(
        TINY if tiny else RankerConfig(),
        use_context_attention=context_attention,
        use_profile=profile,
    )
    if encoder_layers is not None:
        cfg = replace(cfg, encoder_layers=encoder_layers)
    if encoder_precision is not None:
        cfg = replace(cfg, encoder_precision=encoder_precision)
    soft = None
    if personalization is not None:
        soft = _soft_source(personalization, folder, soft_mode, soft_tokens)
        cfg = replace(cfg, soft_dim=soft.dim, soft_tokens=soft_tokens)
    try:
        train_split = load_turns(folder / "train.jsonl")
        turns = train_split[:max_examples]
        encoder = TextEncoder(
            max_tokens=cfg.max_utterance_tokens,
            layers=cfg.encoder_layers,
            # int8 states exist on ONNX Runtime only: the model trains on what it will be served
            runtime="torch" if cfg.encoder_precision == "float32" else "onnxruntime",
            precision=cfg.encoder_precision,
        )
    except (CorpusError, EncoderUnavailable) as exc:
        _fail(str(exc))
    extra: dict[str, object] = {}
    if meaning:
        try:
            valid_split = load_turns(folder / "valid.jsonl")
        except CorpusError as exc:
            _fail(str(exc))
        reader, figures = fit_meaning(
            [e for t in train_split if (e := meaning_example(t))],
            [e for t in valid_split if (e := meaning_example(t))],
            encoder,
            seed=seed,
        )
        extra = {"meaning": reader.to_json() if reader else None, "meaning_validation": figures}
        typer.echo(f"meaning reader (validation): {figures}")
    tc = TrainConfig(epochs=epochs, seed=seed, max_minutes=max_minutes)
    bar = tqdm(total=None, disable=not progress, unit="step", desc="training")

    def on_step(step: int, loss: float) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{loss:.3f}")

    result = train_ranker(
        turns,
        load_catalog().entries,
        encoder=encoder,
        cfg=cfg,
        tc=tc,
        out=target,
        on_step=on_step,
        extra_meta=extra,
        soft=soft,
    )
    bar.close()
    typer.echo(
        f"trained on {result.examples} turns: {result.steps} steps, "
        f"{result.epochs_run:.2f} epochs, {result.seconds:.0f} s, "
        f"final loss {result.final_loss:.3f}"
    )
    typer.echo(f"checkpoint: {target}")


@ranker_app.command("evaluate")
def evaluate_command(
    corpus: Annotated[Path | None, typer.Option(help=_CORPUS_HELP)] = None,
    checkpoint: Annotated[Path | None, typer.Option(help="the ranker (default: settings)")] = None,
    ablation: Annotated[
        list[str] | None, typer.Option(help="NAME=CHECKPOINT, an ablation model to score too")
    ] = None,
    baselines: Annotated[bool, typer.Option(help="train and score the baselines")] = True,
    cross_minutes: Annotated[float, typer.Option(min=0.1, help="cross-encoder training")] = 10.0,
    subset_size: Annotated[int, typer.Option(min=10, help="test turns for the subset")] = 500,
    baseline_train: Annotated[
        int, typer.Option(min=10, help="training turns (bi-encoder)")
    ] = 15000,
    json_out: Annotated[Path, typer.Option()] = Path("docs/ranker_results.json"),
    md_out: Annotated[Path, typer.Option()] = Path("docs/ranker_results.md"),
    seed: Annotated[int, typer.Option()] = 0,
) -> None:
    """Score the ranker, its ablations and the baselines on the test split (JSON + Markdown)."""
    import sys

    import torch

    from ranker.baselines import BiEncoderRanker, CrossEncoderRanker, TfidfRanker
    from ranker.checkpoint import CheckpointError
    from ranker.data import CorpusError, load_turns
    from ranker.encoder import TextEncoder
    from ranker.evaluate import Scored, score, subset, write_results
    from ranker.scorer import NeuralRanker
    from templates import load_catalog

    torch.manual_seed(seed)
    folder = corpus or Settings().data_dir / "corpus"
    path = checkpoint or Settings().resolved_ranker_checkpoint()
    catalog = load_catalog()
    try:
        test = load_turns(folder / "test.jsonl")
        main = NeuralRanker.load(path, catalog)
    except (CorpusError, CheckpointError) as exc:
        _fail(str(exc))
    held_out = list(main.meta.get("held_out_acts", []))
    sample = subset(test, subset_size, seed=seed)
    results: list[Scored] = []

    def add(name: str, ranker: object, *, full: bool = True, auc: bool = False) -> None:
        scored = score(name, ranker, test, sample, held_out, full=full, auc=auc)  # type: ignore
        results.append(scored)
        typer.echo(
            f"{name}: test R@1 {scored.test.r_at_1:.3f} R@4 {scored.test.r_at_4:.3f} "
            f"new R@1 {scored.new_templates.r_at_1:.3f} subset R@1 {scored.subset.r_at_1:.3f} "
            f"{scored.ms_per_turn:.1f} ms/turn"
        )

    add("ranker", main, auc=True)
    for spec in ablation or []:
        name, _, where = spec.partition("=")
        try:
            add(name, NeuralRanker.load(Path(where), catalog), auc=True)
        except CheckpointError as exc:
            _fail(str(exc))
    if baselines:
        train = load_turns(folder / "train.jsonl", limit=baseline_train)
        unseen = frozenset(held_out)  # templates "added after training"
        add("tfidf_cosine", TfidfRanker(catalog.entries, train))
        bi = BiEncoderRanker(catalog.entries, TextEncoder())  # the full sentence encoder
        bi.fit(train, seed=seed, exclude_acts=unseen)
        add("minilm_bi_encoder", bi)
        cross = CrossEncoderRanker(catalog.entries)
        steps = cross.fit(train, max_minutes=cross_minutes, seed=seed, exclude_acts=unseen)
        typer.echo(f"cross-encoder: {steps} training steps")
        add("minilm_cross_encoder", cross, full=False)
    meaning = None
    if main.meaning is not None:
        from ranker.meaning import meaning_example, measure

        examples = [e for t in test if (e := meaning_example(t))]
        meaning = measure(main.meaning, examples, main.encoder)
        typer.echo(f"meaning reader (test): {meaning}")
    command = "csbot ranker evaluate " + " ".join(sys.argv[3:])
    meta = {
        "checkpoint_examples": main.meta.get("examples"),
        "held_out_acts": "/".join(held_out),
        "subset": len(sample),
        "seed": seed,
    }
    write_results(
        results,
        command=command.strip(),
        meta=meta,
        json_path=json_out,
        md_path=md_out,
        meaning=meaning,
    )
    typer.echo(f"wrote {json_out} and {md_out}")
