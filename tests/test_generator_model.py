"""The draft model and its decoders on tiny randomly initialised configs: the fast KV-cache
stepper computes what transformers computes, the decoders obey the constraints that live in code,
drafts that never end are marked, and a local Hugging Face model with LoRA plugs in by path."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import torch

from generator.checkpoint import GeneratorCheckpointError, load_generator, save_generator
from generator.codec import Codec
from generator.config import TINY, GeneratorConfig, TrainConfig
from generator.data import ACT_TOKENS, SLOT_TOKENS
from generator.decode import BertStepper, HFStepper, build_constraints, decode, stepper_for
from generator.drafter import Drafter
from generator.grounding import StoreFacts
from generator.model import DraftModel, build_model, load_tokenizer
from generator.train import train_generator
from ranker.data import CUSTOMER, RankTurn

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny() -> tuple[DraftModel, Codec]:
    tok = load_tokenizer(TINY)
    codec = Codec(tok, TINY)
    words = tok("thanks bye order your refund is on its way", add_special_tokens=False)["input_ids"]
    model = build_model(TINY, tok, codec.reply_vocab([words])).eval()
    return model, codec


def _full_logits(model: DraftModel, embeds: torch.Tensor) -> torch.Tensor:
    out = model.body(inputs_embeds=embeds, use_cache=False)
    return model.logits(out.last_hidden_state[:, -1])


def test_the_fast_stepper_computes_what_transformers_computes(
    tiny: tuple[DraftModel, Codec],
) -> None:
    model, codec = tiny
    ids = torch.tensor(
        [codec.tok("hello where is my refund", add_special_tokens=True)["input_ids"]]
    )
    with torch.inference_mode():
        embeds = model.embed_tokens(ids)
        stepper = BertStepper(model, max_len=64)
        first = stepper.prefill(embeds)
        torch.testing.assert_close(first, _full_logits(model, embeds), rtol=1e-4, atol=1e-4)
        nxt = torch.tensor([2000, 2017])
        stepper.select(torch.zeros(2, dtype=torch.long))
        stepped = stepper.step(nxt)  # (2, V): the same prompt, two next tokens
        for row, tok_id in enumerate(nxt.tolist()):
            longer = torch.cat([embeds, model.embed_tokens(torch.tensor([[tok_id]]))], dim=1)
            torch.testing.assert_close(stepped[row : row + 1], _full_logits(model, longer),
                                       rtol=1e-4, atol=1e-4)  # fmt: skip
        generic = HFStepper(model)
        torch.testing.assert_close(generic.prefill(embeds), first, rtol=1e-4, atol=1e-4)


def _constraints(model: DraftModel, codec: Codec, acts: list[str], banned: list[str] = ()) -> Any:
    return build_constraints(
        model,
        allowed_act_ids=[codec.act_ids[a] for a in acts],
        banned_ids=[codec.slot_ids[s] for s in banned],
        act_ids=codec.act_ids.values(),
        end_id=codec.end_id,
    )


@pytest.mark.parametrize("method", ["greedy", "beam", "sample"])
def test_decoders_start_with_an_allowed_act_and_never_say_a_banned_token(
    tiny: tuple[DraftModel, Codec], method: str
) -> None:
    model, codec = tiny
    embeds = model.embed_tokens(torch.tensor([[codec.cls_id, 2000, codec.end_id]]))
    banned = sorted(SLOT_TOKENS)[:8]
    cons = _constraints(model, codec, ["closing", "request_auth"], banned)
    drafts = decode(model, stepper_for(model), embeds, cons, method=method, n=3, max_new_tokens=12)
    assert 1 <= len(drafts) <= 3
    banned_ids = {codec.slot_ids[s] for s in banned} | set(codec.act_ids.values())
    for d in drafts:
        assert d.token_ids[0] in (codec.act_ids["closing"], codec.act_ids["request_auth"])
        assert not banned_ids & set(d.token_ids[1:])
        assert len(d.token_ids) <= 12
        assert d.finished == (len(d.token_ids) < 12) or d.finished is False


def test_greedy_is_the_argmax_chain(tiny: tuple[DraftModel, Codec]) -> None:
    model, codec = tiny
    embeds = model.embed_tokens(torch.tensor([[codec.cls_id, 2054, codec.end_id]]))
    cons = _constraints(model, codec, ["closing"])
    (draft,) = decode(model, stepper_for(model), embeds, cons, method="greedy", max_new_tokens=6)
    # Recompute every step from scratch with transformers, no cache.
    seq = embeds
    expected = []
    with torch.inference_mode():
        for t in range(len(draft.token_ids)):
            logits = _full_logits(model, seq)[0]
            allowed = cons.first if t == 0 else cons.later
            idx = int(logits.masked_fill(~allowed, float("-inf")).argmax())
            tok_id = int(model.reply_vocab[idx])
            expected.append(tok_id)
            seq = torch.cat([seq, model.embed_tokens(torch.tensor([[tok_id]]))], dim=1)
    assert list(draft.token_ids) == expected


def test_sampling_is_seeded_and_beam_is_sorted(tiny: tuple[DraftModel, Codec]) -> None:
    model, codec = tiny
    embeds = model.embed_tokens(torch.tensor([[codec.cls_id, 2054, codec.end_id]]))
    cons = _constraints(model, codec, ["closing", "request_auth", "anything_else"])
    step = stepper_for(model)
    a = decode(model, step, embeds, cons, method="sample", n=3, seed=5, max_new_tokens=8)
    b = decode(model, step, embeds, cons, method="sample", n=3, seed=5, max_new_tokens=8)
    assert a == b
    beams = decode(model, step, embeds, cons, method="beam", n=3, max_new_tokens=8)
    finished = [d for d in beams if d.finished]
    norm = [d.logprob / (len(d.token_ids) + 1) for d in finished]
    assert norm == sorted(norm, reverse=True)


def test_a_draft_that_never_ends_is_marked_and_no_allowed_act_gives_nothing(
    tiny: tuple[DraftModel, Codec],
) -> None:
    model, codec = tiny
    embeds = model.embed_tokens(torch.tensor([[codec.cls_id, codec.end_id]]))
    cons = _constraints(model, codec, ["closing"])
    never_end = replace(cons, later=cons.later.clone())
    never_end.later[cons.end_index] = False  # the end token can never be produced
    (draft,) = decode(model, stepper_for(model), embeds, never_end, max_new_tokens=10)
    assert (draft.finished, len(draft.token_ids)) == (False, 10)
    assert decode(model, stepper_for(model), embeds, _constraints(model, codec, [])) == []
    with pytest.raises(ValueError, match="method"):
        decode(model, stepper_for(model), embeds, cons, method="telepathy")


def test_a_prompt_past_the_positions_is_a_clear_error(tiny: tuple[DraftModel, Codec]) -> None:
    model, _ = tiny
    stepper = BertStepper(model, max_len=16)
    with pytest.raises(ValueError, match="past the model"):
        stepper.prefill(torch.zeros(1, 20, model.hidden_size))


def _corpus_turns() -> list[RankTurn]:
    turns = []
    for i in range(24):
        ask = i % 2 == 0
        turns.append(
            RankTurn(
                context=((CUSTOMER, "where is my refund" if ask else "thanks, bye"),),
                facts=frozenset({"not_authenticated"}),
                gold_act="request_auth" if ask else "closing",
                gold_reply="what is your email?" if ask else "bye, take care!",
                customer_id=i,
            )
        )
    return turns


def test_training_lowers_the_loss_and_the_checkpoint_round_trips(tmp_path: Path) -> None:
    turns = _corpus_turns()
    tc = TrainConfig(epochs=6, batch_size=8, lr=2e-3, warmup_steps=2, max_minutes=2)
    result = train_generator(turns, turns[:8], TINY, tc)
    assert result.steps == 18 and result.final_loss < 2.0 and result.valid_loss < 2.0
    path = tmp_path / "gen.pt"
    save_generator(path, result.model, meta=result.meta())
    drafter = Drafter.load(path)
    store = StoreFacts(slots={}, facts=frozenset({"not_authenticated"}))
    turn = RankTurn(
        context=((CUSTOMER, "where is my refund"),), facts=frozenset({"not_authenticated"})
    )
    (draft,) = drafter.drafts(turn, None, allowed_acts={"request_auth", "closing"}, store=store)
    assert draft.act == "request_auth" and draft.text == "What is your email?" and draft.grounded
    (other,) = drafter.drafts(turn, None, allowed_acts={"closing"}, store=store)
    assert other.act == "closing" and other.grounded  # its act reader reads it as a closing
    # Words that perform another act than the draft's act token are a problem.
    assert drafter.act_reader is not None
    p = drafter.act_reader.read("What is your email?").probability
    assert drafter.act_problem("closing", "What is your email?") == (
        f"reads as request_auth ({p:.2f}), not closing"
    )
    assert result.act_reader_valid_accuracy == 1.0
    # A checkpoint without an act reader grounds nothing.
    save_generator(path, result.model, meta={"training": result.figures()})
    (bare,) = Drafter.load(path).drafts(turn, None, allowed_acts={"request_auth"}, store=store)
    assert bare.text == draft.text and not bare.grounded
    assert any("no act reader" in p for p in bare.grounding.problems)


@pytest.mark.parametrize(
    "payload",
    [b"not a checkpoint", None, {"format": "csbot-generator/1", "config": {"wings": 1}}],
    ids=["garbage", "missing", "bad-config"],
)
def test_bad_checkpoints_are_clear_errors(tmp_path: Path, payload: Any) -> None:
    path = tmp_path / "gen.pt"
    if isinstance(payload, bytes):
        path.write_bytes(payload)
    elif payload is not None:
        torch.save(payload, path)
    with pytest.raises(GeneratorCheckpointError):
        load_generator(path)


def _tiny_llama(where: Path) -> Path:
    """A tiny random Llama-architecture causal LM saved as a local directory (tied embeddings,
    as in SmolLM or Qwen 0.5B), with a copy of the MiniLM tokenizer."""
    from transformers import LlamaConfig, LlamaForCausalLM

    tok = load_tokenizer(TINY)
    cfg = LlamaConfig(
        vocab_size=len(tok),
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=256,
        tie_word_embeddings=True,
    )
    torch.manual_seed(0)
    LlamaForCausalLM(cfg).save_pretrained(where)
    from transformers import AutoTokenizer

    from ranker.encoder import minilm_path

    AutoTokenizer.from_pretrained(str(minilm_path())).save_pretrained(where)
    return where


def test_a_local_causal_lm_with_lora_trains_saves_and_drafts(tmp_path: Path) -> None:
    base = _tiny_llama(tmp_path / "tiny-llama")
    cfg = GeneratorConfig(
        base="path", base_path=str(base), lora_rank=4, lora_targets=("q_proj", "v_proj"),
        max_prompt_tokens=48, max_reply_tokens=16,
    )  # fmt: skip
    turns = _corpus_turns()
    tc = TrainConfig(epochs=3, batch_size=8, lr=5e-3, warmup_steps=1, max_minutes=2)
    result = train_generator(turns, turns[:8], cfg, tc)
    model = result.model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert any("lora_A" in n for n in trainable)
    assert not any("q_proj.base_layer" in n for n in trainable)  # the base stays frozen
    assert isinstance(stepper_for(model), HFStepper)
    path = tmp_path / "lora.pt"
    save_generator(path, model, meta={})
    saved = torch.load(path, weights_only=True)["state_dict"]
    assert all("lora" in k or "trainable_tokens" in k or k == "reply_vocab" for k in saved)
    drafter = Drafter.load(path)
    turn = RankTurn(
        context=((CUSTOMER, "where is my refund"),), facts=frozenset({"not_authenticated"})
    )
    store = StoreFacts(slots={}, facts=frozenset({"not_authenticated"}))
    for method in ("greedy", "beam", "sample"):
        drafts = drafter.drafts(turn, None, allowed_acts={"request_auth"}, store=store, n=2,
                                method=method)  # fmt: skip
        assert drafts and all(d.act == "request_auth" for d in drafts)
    # The reloaded model computes what the trained one did.
    ids = torch.tensor([[2, 2000, 2001]])
    with torch.inference_mode():
        a = model.logits(model.body(inputs_embeds=model.embed_tokens(ids)).last_hidden_state)
        m2 = drafter.model
        b = m2.logits(m2.body(inputs_embeds=m2.embed_tokens(ids)).last_hidden_state)
    torch.testing.assert_close(a, b)
    assert ACT_TOKENS["request_auth"] in drafter.codec.tok.get_vocab()
