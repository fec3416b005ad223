"""The cross-attention template ranker (TINY, randomly initialised): shapes, padding, empty rows,
the ablation switches and the personalization soft tokens."""

from __future__ import annotations

import dataclasses

import pytest
import torch
from torch import Tensor

from ranker.config import TINY, RankerConfig
from ranker.features import MAX_FEATURE_TOKENS, vocabulary
from ranker.model import Memory, TemplateRanker

B, C, N, T, S = 2, 5, 4, 6, 3  # lists, context tokens, candidates, template tokens, soft tokens
SOFT = dataclasses.replace(TINY, soft_dim=8)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Tiny models run fastest on one thread (and do not fight a busy machine's other work)."""


def _model(cfg: RankerConfig = TINY) -> TemplateRanker:
    torch.manual_seed(0)
    return TemplateRanker(cfg).eval()


def _inputs(seed: int = 1) -> dict[str, Tensor]:
    g = torch.Generator().manual_seed(seed)
    ctx_pad = torch.zeros(B, C, dtype=torch.bool)
    ctx_pad[1, 3:] = True
    feats = torch.zeros(B, MAX_FEATURE_TOKENS, dtype=torch.long)
    feats[0, :4] = torch.tensor([1, 7, 20, 30])
    feats[1, :2] = torch.tensor([2, 9])
    return {
        "ctx_states": torch.randn(B, C, 384, generator=g),
        "ctx_pad": ctx_pad,
        "ctx_speaker": torch.tensor([[0, 1, 0, 1, 0], [1, 0, 0, 0, 0]]),
        "ctx_age": torch.tensor([[2, 1, 1, 0, 0], [1, 0, 0, 0, 0]]),
        "feature_ids": feats,
    }


def _candidates(model: TemplateRanker, seed: int = 2) -> tuple[Tensor, Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    tpad = torch.zeros(N, T, dtype=torch.bool)
    tpad[0, 4:] = True
    table = model.encode_candidates(torch.randn(N, T, 384, generator=g), tpad)  # (N, Q, d)
    cand = table.unsqueeze(0).expand(B, -1, -1, -1)
    slot_ids = torch.zeros(B, N, 2, dtype=torch.long)
    slot_ids[0, 1] = torch.tensor([3, 4])
    slot_ids[1, 2, 0] = 5
    return cand, slot_ids, torch.zeros(B, N, dtype=torch.bool)


def _run(
    model: TemplateRanker,
    inputs: dict[str, Tensor],
    soft: Tensor | None = None,
    cand_pad: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    cand, slot_ids, no_pad = _candidates(model)
    with torch.no_grad():
        memory = model.memory(**inputs, soft=soft)
        return model(memory, cand, slot_ids, no_pad if cand_pad is None else cand_pad)


# ---- shapes ------------------------------------------------------------------------------------
@pytest.mark.parametrize("cfg", [TINY, SOFT], ids=["tiny", "soft-8"])
def test_output_shapes(cfg: RankerConfig) -> None:
    model = _model(cfg)
    inputs = _inputs()
    soft = torch.randn(B, S, 8) if cfg.soft_dim else None
    with torch.no_grad():
        memory = model.memory(**inputs, soft=soft)
        cand, slot_ids, cand_pad = _candidates(model)
        scores, logit = model(memory, cand, slot_ids, cand_pad)
    d, Q = cfg.d_model, cfg.candidate_queries
    M = C + MAX_FEATURE_TOKENS + (S if soft is not None else 0)
    assert isinstance(memory, Memory)
    assert memory.tokens.shape == (B, M, d)
    assert memory.pad.shape == (B, M) and memory.pad.dtype == torch.bool
    assert memory.pooled.shape == (B, d)
    assert cand.shape == (B, N, Q, d)
    assert scores.shape == (B, N) and logit.shape == (B,)
    assert torch.isfinite(scores).all() and torch.isfinite(logit).all()
    # The memory's padding mask is the context's, then the features' (id 0), then soft tokens.
    assert torch.equal(memory.pad[:, :C], inputs["ctx_pad"])
    assert torch.equal(memory.pad[:, C : C + MAX_FEATURE_TOKENS], inputs["feature_ids"] == 0)
    if soft is not None:
        assert not memory.pad[:, C + MAX_FEATURE_TOKENS :].any()


def test_feature_embedding_covers_the_vocabulary_and_pads_with_zero() -> None:
    model = _model()
    assert model.features.num_embeddings == len(vocabulary())
    assert not model.features.weight[0].any()


# ---- padding -----------------------------------------------------------------------------------
def test_padded_candidates_score_minus_inf_and_do_not_change_the_others() -> None:
    model = _model()
    inputs = _inputs()
    scores, logit = _run(model, inputs)
    cand_pad = torch.tensor([[False, False, True, True], [False, True, False, True]])
    padded, padded_logit = _run(model, inputs, cand_pad=cand_pad)
    assert torch.isneginf(padded[cand_pad]).all()
    assert torch.isfinite(padded[~cand_pad]).all()
    # Candidates never attend to each other: the live ones keep their scores.
    assert torch.allclose(padded[~cand_pad], scores[~cand_pad], atol=1e-6)
    assert padded_logit.shape == (B,) and torch.isfinite(padded_logit).all()
    assert not torch.allclose(padded_logit, logit)  # the list head reads only live candidates


def test_a_list_that_is_all_padding_scores_minus_inf_with_a_finite_list_logit() -> None:
    model = _model()
    cand_pad = torch.tensor([[False] * N, [True] * N])
    scores, logit = _run(model, _inputs(), cand_pad=cand_pad)
    assert torch.isneginf(scores[1]).all() and torch.isfinite(scores[0]).all()
    assert torch.isfinite(logit).all()


def test_rows_are_independent() -> None:
    model = _model()
    inputs = _inputs()
    both, both_logit = _run(model, inputs)
    changed = {k: v.clone() for k, v in inputs.items()}
    changed["ctx_states"][1] += 5.0
    changed["feature_ids"][1, :2] = torch.tensor([3, 11])
    other, other_logit = _run(model, changed)
    assert torch.allclose(other[0], both[0], atol=1e-6)
    assert torch.allclose(other_logit[0], both_logit[0], atol=1e-6)
    assert not torch.allclose(other[1], both[1])


def test_padded_context_content_is_ignored() -> None:
    model = _model()
    inputs = _inputs()
    scores, logit = _run(model, inputs)
    noisy = {k: v.clone() for k, v in inputs.items()}
    noisy["ctx_states"][1, 3:] = 1e3  # the padded tail of row 1
    noisy["ctx_speaker"][1, 3:] = 1
    noisy["ctx_age"][1, 3:] = 7
    again, again_logit = _run(model, noisy)
    assert torch.allclose(again, scores, atol=1e-5)
    assert torch.allclose(again_logit, logit, atol=1e-5)


@pytest.mark.parametrize(
    "features",
    ["kept", "padding"],
    ids=["context-padding", "context-and-features-padding"],
)
@pytest.mark.parametrize("attention", [True, False], ids=["attention", "pooled"])
def test_a_row_whose_context_is_all_padding_still_scores(features: str, attention: bool) -> None:
    model = _model(dataclasses.replace(TINY, use_context_attention=attention))
    inputs = _inputs()
    inputs["ctx_pad"][0] = True
    if features == "padding":
        inputs["feature_ids"][0] = 0
    scores, logit = _run(model, inputs)
    assert torch.isfinite(scores).all() and torch.isfinite(logit).all()
    with torch.no_grad():
        memory = model.memory(**inputs)
    assert not memory.pooled[0].any()  # no live context token: the pooled vector is zero
    assert not memory.pad[0].all()  # one token is left visible so attention cannot give NaN


# ---- ablations ---------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "changes",
    [
        {"use_context_attention": False},
        {"use_profile": False},
        {"use_soft_tokens": False, "soft_dim": 8},
        {"use_context_attention": False, "use_profile": False, "use_soft_tokens": False},
    ],
    ids=["no-context-attention", "no-profile", "no-soft-tokens", "all-off"],
)
def test_ablation_switches_run(changes: dict[str, object]) -> None:
    cfg = dataclasses.replace(TINY, **changes)  # type: ignore[arg-type]
    model = _model(cfg)
    soft = torch.randn(B, S, 8) if cfg.soft_dim else None
    scores, logit = _run(model, _inputs(), soft=soft)
    assert scores.shape == (B, N) and logit.shape == (B,)
    assert torch.isfinite(scores).all() and torch.isfinite(logit).all()
    with torch.no_grad():
        memory = model.memory(**_inputs(), soft=soft)
    context_in_memory = C if cfg.use_context_attention else 0
    assert memory.tokens.shape[1] == context_in_memory + MAX_FEATURE_TOKENS


def _same_mean_other_tokens(inputs: dict[str, Tensor]) -> dict[str, Tensor]:
    """Move context tokens of equal speaker and age apart without moving their mean."""
    out = {k: v.clone() for k, v in inputs.items()}
    shift = torch.randn(384, generator=torch.Generator().manual_seed(9)) * 3
    # Row 0: tokens 3 and 4 share speaker 0 and age 0; row 1: tokens 1 and 2 share (0, 0).
    out["ctx_states"][0, 3] += shift
    out["ctx_states"][0, 4] -= shift
    out["ctx_states"][1, 1] += shift
    out["ctx_states"][1, 2] -= shift
    return out


def test_without_context_attention_only_the_pooled_context_matters() -> None:
    """The ablation's candidates see the mean context vector, not the tokens: tokens that move
    without moving their mean change nothing, a moved mean does."""
    model = _model(dataclasses.replace(TINY, use_context_attention=False))
    inputs = _inputs()
    scores, logit = _run(model, inputs)
    same_mean, same_logit = _run(model, _same_mean_other_tokens(inputs))
    assert torch.allclose(same_mean, scores, atol=1e-5)
    assert torch.allclose(same_logit, logit, atol=1e-5)
    moved = {k: v.clone() for k, v in inputs.items()}
    moved["ctx_states"] += 1.0
    moved_scores, _ = _run(model, moved)
    assert not torch.allclose(moved_scores, scores, atol=1e-4)


def test_with_context_attention_the_tokens_themselves_matter() -> None:
    model = _model()
    inputs = _inputs()
    scores, _ = _run(model, inputs)
    other, _ = _run(model, _same_mean_other_tokens(inputs))
    assert not torch.allclose(other, scores, atol=1e-4)


def test_without_context_attention_padded_context_is_still_ignored() -> None:
    model = _model(dataclasses.replace(TINY, use_context_attention=False))
    inputs = _inputs()
    scores, _ = _run(model, inputs)
    noisy = {k: v.clone() for k, v in inputs.items()}
    noisy["ctx_states"][1, 3:] = -1e3
    again, _ = _run(model, noisy)
    assert torch.allclose(again, scores, atol=1e-5)


# ---- soft tokens -------------------------------------------------------------------------------
def test_soft_tokens_change_the_scores_when_used() -> None:
    model = _model(SOFT)
    inputs = _inputs()
    plain, plain_logit = _run(model, inputs)
    soft_a = torch.randn(B, S, 8, generator=torch.Generator().manual_seed(3))
    with_a, _ = _run(model, inputs, soft=soft_a)
    # (The adapter layer-normalises its input: another sequence, not a shifted one.)
    soft_b = torch.randn(B, S, 8, generator=torch.Generator().manual_seed(4))
    with_b, _ = _run(model, inputs, soft=soft_b)
    assert not torch.allclose(with_a, plain, atol=1e-4)
    assert not torch.allclose(with_b, with_a, atol=1e-4)
    # No soft tokens at all (S = 0) is the same as none given.
    empty, empty_logit = _run(model, inputs, soft=torch.zeros(B, 0, 8))
    assert torch.equal(empty, plain) and torch.equal(empty_logit, plain_logit)


def test_soft_tokens_are_ignored_when_switched_off() -> None:
    model = _model(dataclasses.replace(SOFT, use_soft_tokens=False))
    inputs = _inputs()
    plain, plain_logit = _run(model, inputs)
    soft = torch.randn(B, S, 8, generator=torch.Generator().manual_seed(3))
    with_soft, with_logit = _run(model, inputs, soft=soft)
    assert torch.equal(with_soft, plain) and torch.equal(with_logit, plain_logit)


def test_soft_tokens_are_ignored_without_a_soft_projection() -> None:
    model = _model(TINY)  # soft_dim=0
    assert model.soft_proj is None
    inputs = _inputs()
    plain, _ = _run(model, inputs)
    with_soft, _ = _run(model, inputs, soft=torch.randn(B, S, 8))
    assert torch.equal(with_soft, plain)


# ---- determinism and training ------------------------------------------------------------------
def test_eval_mode_is_deterministic_and_seeded_init_is_reproducible() -> None:
    a, b = _model(), _model()
    inputs = _inputs()
    sa, la = _run(a, inputs)
    sb, lb = _run(b, inputs)
    assert torch.equal(sa, sb) and torch.equal(la, lb)
    sa2, la2 = _run(a, inputs)
    assert torch.equal(sa, sa2) and torch.equal(la, la2)


def test_gradients_are_finite_with_padding_everywhere() -> None:
    torch.manual_seed(0)
    model = TemplateRanker(TINY).train()
    inputs = _inputs()
    inputs["ctx_pad"][0] = True
    inputs["feature_ids"][0] = 0
    cand, slot_ids, _ = _candidates(model)
    cand_pad = torch.tensor([[False, False, True, True], [False, False, False, False]])
    memory = model.memory(**inputs)
    scores, logit = model(memory, cand, slot_ids, cand_pad)
    loss = scores[~cand_pad].sum() + logit.sum()
    loss.backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)
