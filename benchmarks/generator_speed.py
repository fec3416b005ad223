"""Generator decoding speed on this CPU: tokens/s greedy, a 30-token draft, the first token.

    .venv/bin/python benchmarks/generator_speed.py [--checkpoint PATH] [--corpus DIR] [--prompts 60]

1. The default generator (``--checkpoint``, else the configured path; without one, a model of
   the default shape with MiniLM's warm-start weights and an untrained head: speed depends on
   the shape, not the training) and real prompts: test-split turns of the corpus, serialized as
   serving serializes them (soft tokens included where the model reads them).
2. Each prompt is decoded greedily for exactly 30 new tokens (the end token is masked so every
   draft has the same length): the time to the first token (prefill + the first logits), the
   whole draft, and new tokens per second over the 29 cached steps.
3. The same drafts with transformers' own forward and cache (``HFStepper``), in this run: the
   baseline the fast stepper is compared against.
4. Beam search (4 beams) and 3 nucleus samples per prompt, for scale.

torch uses the 2 cores. Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from dataclasses import replace
from pathlib import Path

import torch

from dialogue.config import Settings
from generator.config import GeneratorConfig
from generator.decode import HFStepper, Stepper, build_constraints, decode, stepper_for
from generator.drafter import Drafter
from generator.model import build_model, load_tokenizer
from ranker.data import CUSTOMER, REP, RankTurn, load_turns

NEW_TOKENS = 30


def _drafter(path: Path | None, layers: int | None) -> tuple[Drafter, str]:
    where = path or Settings().resolved_generator_checkpoint()
    if where.is_file() and layers is None:
        return Drafter.load(where), str(where)
    cfg = GeneratorConfig() if layers is None else GeneratorConfig(layers=layers)
    tok = load_tokenizer(cfg)
    from generator.codec import Codec

    codec = Codec(tok, cfg)
    vocab = codec.reply_vocab([list(range(1000, 3500))])  # a reply vocabulary of typical size
    return Drafter(build_model(cfg, tok, vocab).eval(), tok), "untrained default shape"


def _prompts(corpus: Path | None, n: int) -> list[RankTurn]:
    split = (corpus or Settings().data_dir / "corpus") / "test.jsonl"
    if split.is_file():
        turns = [t for t in load_turns(split, limit=4 * n) if len(t.context) >= 3]
        return turns[:n]
    # No corpus: a typical mid-conversation turn, repeated.
    turn = RankTurn(
        context=(
            (CUSTOMER, "hi, I want to cancel my order from last week"),
            (REP, "Sure! What's the email on your account?"),
            (CUSTOMER, "it's sam.jones1234@example.com and the order is #W1234567"),
        ),
        facts=frozenset({"authenticated", "order_identified", "order_cancellable"}),
        slots={"order_id": "#W1234567", "item_summary": "Blue Water Bottle"},
        profile={"membership": "gold", "tenure_days": 400, "orders": 5, "open_orders": 1,
                 "refunds": 0},
        tracker={"awaiting": "auth", "last_act": "request_auth", "intent": "cancel_order"},
    )  # fmt: skip
    return [turn] * n


def _time(drafter: Drafter, stepper: Stepper, turns: list[RankTurn], method: str = "greedy",
          n: int = 1) -> tuple[list[float], list[float], list[float]]:  # fmt: skip
    """Per prompt: first-token ms, whole-draft ms, cached-step tokens/s."""
    codec = drafter.codec
    cons = build_constraints(
        drafter.model,
        allowed_act_ids=list(codec.act_ids.values()),
        banned_ids=codec.never_ids,
        act_ids=codec.act_ids.values(),
        end_id=codec.end_id,
    )
    endless = replace(cons, later=cons.later.clone())
    endless.later[cons.end_index] = False  # every draft is exactly NEW_TOKENS long
    firsts, totals, rates = [], [], []
    with torch.inference_mode():
        for turn in turns:
            embeds = drafter.prompt_embeds(drafter.prompt_ids(turn), drafter.soft_for_turn(turn))
            t0 = time.perf_counter()
            stepper.prefill(embeds)
            t1 = time.perf_counter()
            decode(drafter.model, stepper, embeds, endless, method=method, n=n,
                   max_new_tokens=NEW_TOKENS)  # fmt: skip
            t2 = time.perf_counter()
            first = (t1 - t0) * 1000
            total = (t2 - t1) * 1000  # decode() prefills again: the draft's whole time
            firsts.append(first)
            totals.append(total)
            rates.append((NEW_TOKENS - 1) / max((total - first) / 1000, 1e-9))
    return firsts, totals, rates


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", type=Path, default=None)
    parser.add_argument("--corpus", type=Path, default=None)
    parser.add_argument("--prompts", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="torch threads (default: 2)")
    parser.add_argument(
        "--layers", type=int, default=None,
        help="time an untrained model of this many layers instead of a checkpoint",
    )  # fmt: skip
    args = parser.parse_args()
    if args.threads is not None:
        torch.set_num_threads(args.threads)
    drafter, source = _drafter(args.checkpoint, args.layers)
    turns = _prompts(args.corpus, args.prompts)
    lengths = [len(drafter.prompt_ids(t)) for t in turns]
    vocab = drafter.model.reply_vocab.numel()
    soft = drafter.cfg.soft_dim > 0
    print(f"model: {source}; layers {drafter.cfg.layers}, reply vocabulary {vocab}, soft {soft}")
    print(f"prompts: {len(turns)}, prompt tokens p50 {statistics.median(lengths):.0f}, "
          f"max {max(lengths)}; torch threads {torch.get_num_threads()}")  # fmt: skip
    _time(drafter, stepper_for(drafter.model), turns[:3])  # warm-up
    firsts, totals, rates = _time(drafter, stepper_for(drafter.model), turns)
    hf_firsts, hf_totals, hf_rates = _time(drafter, HFStepper(drafter.model), turns)
    beam = _time(drafter, stepper_for(drafter.model), turns[:20], method="beam", n=4)[1]
    sample = _time(drafter, stepper_for(drafter.model), turns[:20], method="sample", n=3)[1]
    print(f"fast stepper: first token p50 {_p(firsts, .5):.1f} ms p99 {_p(firsts, .99):.1f}; "
          f"30-token draft p50 {_p(totals, .5):.1f} ms p99 {_p(totals, .99):.1f}; "
          f"{statistics.median(rates):.0f} tok/s")  # fmt: skip
    print(
        f"transformers forward + cache: first token p50 {_p(hf_firsts, 0.5):.1f} ms; "
        f"30-token draft p50 {_p(hf_totals, 0.5):.1f} ms; {statistics.median(hf_rates):.0f} tok/s"
    )
    print(f"beam (4) 30 tokens p50 {_p(beam, 0.5):.1f} ms; 3 samples p50 {_p(sample, 0.5):.1f} ms")
    print(f"greedy_tokens_per_s: {statistics.median(rates):.0f}")
    print(f"draft30_p50_ms: {_p(totals, 0.5):.1f}")
    print(f"draft30_p99_ms: {_p(totals, 0.99):.1f}")
    print(f"first_token_p50_ms: {_p(firsts, 0.5):.1f}")
    print(f"first_token_p99_ms: {_p(firsts, 0.99):.1f}")
    print(
        "speedup_vs_transformers_forward: "
        f"{statistics.median(rates) / statistics.median(hf_rates):.2f}"
    )
    print(f"beam4_draft30_p50_ms: {_p(beam, 0.5):.1f}")


if __name__ == "__main__":
    main()
