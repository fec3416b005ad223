"""The ranker's scoring pass (memory, cross-attention, score and list heads) on ONNX Runtime.

``NeuralRanker.load`` (serving) runs a checkpoint's scoring pass here: the same weights, exported
once per checkpoint into the graph cache (``ranker.onnx_export.cached_graph``) by a child process:

    python -m ranker.onnx_scoring CHECKPOINT OUT

Why: a turn scores about 50 candidates with a few dozen small matrix products, and torch's eager
dispatch costs more than the arithmetic. ONNX Runtime runs the same pass in about 60 % of the
time (docs/ranker.md). Scores equal torch's within about 1e-5. Training, evaluation and the
ablation configurations keep torch: :func:`scoring_supported` says which models this graph covers.
"""

from __future__ import annotations

import logging
import subprocess
import sys
import threading
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ranker.model import TemplateRanker
from ranker.onnx_export import EXPORT_TIMEOUT, cached_graph, file_key, session_options

logger = logging.getLogger(__name__)

__all__ = ["SCORING_VERSION", "ScoringGraph", "ScoringUnavailable", "scoring_supported"]

# Bump when _Scoring changes what it computes: cached graphs of other versions are not read.
SCORING_VERSION = 1
_INPUTS = (
    "ctx", "ctx_pad", "ctx_speaker", "ctx_age", "feature_ids", "cand", "slot_ids", "cand_pad",
)  # fmt: skip


class ScoringUnavailable(RuntimeError):
    """The scoring graph could not be exported or opened (the ranker then scores with torch)."""


def scoring_supported(model: TemplateRanker) -> bool:
    """Whether the graph computes what ``model`` does: context attention on, no soft tokens."""
    return model.cfg.use_context_attention and model.soft_proj is None


def _attend(attn: nn.MultiheadAttention, q: Tensor, kv: Tensor, pad: Tensor) -> Tensor:
    """``attn(q, kv, kv, key_padding_mask=pad)`` in eval mode, written with shapes the exporter
    keeps dynamic (torch's own module traces some of them as constants)."""
    d, h = q.size(-1), attn.num_heads
    w, b = attn.in_proj_weight, attn.in_proj_bias
    B = q.size(0)

    def heads(x: Tensor) -> Tensor:
        return x.reshape(B, -1, h, d // h).transpose(1, 2)  # (B, h, L, d/h)

    qp = heads(F.linear(q, w[:d], b[:d]))
    kp = heads(F.linear(kv, w[d : 2 * d], b[d : 2 * d]))
    vp = heads(F.linear(kv, w[2 * d :], b[2 * d :]))
    mask = torch.zeros_like(pad, dtype=q.dtype).masked_fill(pad, float("-inf"))[:, None, None, :]
    out = F.scaled_dot_product_attention(qp, kp, vp, attn_mask=mask)
    return attn.out_proj(out.transpose(1, 2).reshape(B, -1, d))


class _Scoring(nn.Module):
    """``TemplateRanker.memory`` then ``TemplateRanker.forward`` (eval mode, no soft tokens), as
    one module of tensors in and tensors out."""

    def __init__(self, model: TemplateRanker) -> None:
        super().__init__()
        self.m = model.eval()

    def forward(
        self,
        ctx: Tensor,
        ctx_pad: Tensor,
        ctx_speaker: Tensor,
        ctx_age: Tensor,
        feature_ids: Tensor,
        cand: Tensor,
        slot_ids: Tensor,
        cand_pad: Tensor,
    ) -> tuple[Tensor, Tensor]:
        m = self.m
        context = m.ctx_proj(ctx) + m.speaker(ctx_speaker) + m.age(ctx_age)  # (B, C, d)
        tokens = torch.cat([context, m.features(feature_ids)], dim=1)  # (B, M, d)
        pad = torch.cat([ctx_pad, feature_ids == 0], dim=1)  # (B, M)
        empty = pad.all(dim=1, keepdim=True)  # nothing to attend to: let it see one token
        pad = torch.cat([pad[:, :1] & ~empty, pad[:, 1:]], dim=1)
        cand = cand + m.slots(slot_ids).sum(dim=2).unsqueeze(2)  # (B, N, Q, d)
        B, N, Q, d = cand.shape
        q = cand.reshape(B, N * Q, d)
        cross = m.cross
        x = cross.norm1(q + _attend(cross.attn, q, tokens, pad)).reshape(B, N, Q, d).mean(dim=2)
        items = cross.norm2(x + cross.ffn(x))  # (B, N, d)
        scores = m.score_head(items).squeeze(-1)  # (B, N)
        head = m.list_head
        listed = items + head.score_proj(scores.unsqueeze(-1))
        token = head.token.expand(B, -1, -1)  # (B, 1, d)
        out = _attend(head.attn, token, listed, cand_pad)  # (B, 1, d)
        top = scores.masked_fill(cand_pad, float("-inf")).max(dim=1).values
        top = torch.where(torch.isfinite(top), top, torch.zeros_like(top))
        h = torch.cat([head.norm(out.squeeze(1) + token.squeeze(1)), top.unsqueeze(-1)], dim=-1)
        return scores.masked_fill(cand_pad, float("-inf")), head.head(h).squeeze(-1)


def _example(model: TemplateRanker, *, candidates: int = 2) -> tuple[Tensor, ...]:
    """Inputs of the pass's shapes, from a fixed seed: 3 context tokens (one padding), 4 feature
    slots (two padding), ``candidates`` candidates with 2 slot ids each."""
    cfg = model.cfg
    rng = torch.Generator().manual_seed(0)
    C, N, Q, S = 3, candidates, cfg.candidate_queries, 2
    return (
        torch.randn(1, C, cfg.encoder_dim, generator=rng),
        torch.tensor([[False, False, True]]),
        torch.tensor([[0, 1, 1]]),
        torch.tensor([[1, 0, 0]]),
        torch.tensor([[1, 2, 0, 0]]),
        torch.randn(1, N, Q, cfg.d_model, generator=rng),
        torch.randint(0, 2 * cfg.n_slots + 1, (1, N, S), generator=rng),
        torch.zeros(1, N, dtype=torch.bool),
    )


def export_scoring(checkpoint: Path, out: Path) -> None:
    """Write ``checkpoint``'s scoring pass to ``out`` as an ONNX graph (batch, context, feature,
    candidate and slot axes dynamic). ``python -m ranker.onnx_scoring`` runs this."""
    from ranker.checkpoint import load_checkpoint

    model, _ = load_checkpoint(checkpoint)
    if not scoring_supported(model):
        raise ValueError(f"{checkpoint}: the scoring graph covers no soft tokens and no ablation")
    example = _example(model)
    axes: dict[str, dict[int, str]] = {name: {0: "batch"} for name in _INPUTS}
    for name in ("ctx", "ctx_pad", "ctx_speaker", "ctx_age"):
        axes[name][1] = "context"
    axes["feature_ids"][1] = "features"
    for name in ("cand", "slot_ids", "cand_pad"):
        axes[name][1] = "candidates"
    axes["slot_ids"][2] = "slots"
    axes["scores"] = {0: "batch", 1: "candidates"}
    axes["list_logit"] = {0: "batch"}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")  # the TorchScript exporter's legacy notice
        torch.onnx.export(
            _Scoring(model),
            example,
            out,
            input_names=list(_INPUTS),
            output_names=["scores", "list_logit"],
            dynamic_axes=axes,
            opset_version=17,
            dynamo=False,
        )


def _graph_name(checkpoint: Path) -> str:
    """The cached graph's file name: the checkpoint file, this module's version, the exporters."""
    return f"ranker-scoring-{file_key(checkpoint, SCORING_VERSION)}.onnx"


def _export(checkpoint: Path, out: Path) -> None:
    command = [sys.executable, "-m", "ranker.onnx_scoring", str(checkpoint), str(out)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=EXPORT_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (exc.stderr or "").strip()[-2000:] if isinstance(exc.stderr, str) else ""
        message = f"exporting the ranker's scoring pass failed: {exc}\n{tail}"
        raise ScoringUnavailable(message) from exc


class ScoringGraph:
    """A checkpoint's scoring pass on an ONNX Runtime session (this process's torch threads).

    Args:
        checkpoint: The checkpoint file; its graph is exported into the cache once.

    Raises:
        ScoringUnavailable: The graph cannot be exported, cached or opened.
    """

    _sessions: dict[tuple[str, int], Any] = {}
    _lock = threading.Lock()

    def __init__(self, checkpoint: Path) -> None:
        import onnxruntime as ort

        checkpoint = Path(checkpoint).resolve()
        threads = max(1, torch.get_num_threads())
        try:
            graph = cached_graph(_graph_name(checkpoint), lambda out: _export(checkpoint, out))
            key = (str(graph), threads)
            with self._lock:
                if key not in self._sessions:
                    self._sessions[key] = ort.InferenceSession(
                        str(graph), session_options(threads), providers=["CPUExecutionProvider"]
                    )
                self.session = self._sessions[key]
        except ScoringUnavailable:
            raise
        except Exception as exc:  # noqa: BLE001 - a cache to write, ONNX Runtime's own errors
            raise ScoringUnavailable(f"no scoring graph for {checkpoint}: {exc}") from exc

    def check(self, model: TemplateRanker, *, tolerance: float = 1e-4) -> None:
        """Raise :class:`ScoringUnavailable` unless the graph scores as ``model`` does on torch
        (fixed inputs, 5 candidates): a graph of another checkpoint is never used."""
        inputs = _example(model, candidates=5)
        with torch.inference_mode():
            want = _Scoring(model)(*inputs)
        got = self(*inputs)
        worst = max(float((w - g).abs().max()) for w, g in zip(want, got, strict=True))
        if not worst <= tolerance:  # also NaN
            raise ScoringUnavailable(f"the graph's scores differ from torch's by {worst:.2g}")

    def __call__(self, *inputs: Tensor) -> tuple[Tensor, Tensor]:
        """``(scores, list_logit)`` as ``TemplateRanker.forward`` returns them, from the tensors
        ``_Scoring.forward`` takes, in its order."""
        feed = {n: np.ascontiguousarray(v.numpy()) for n, v in zip(_INPUTS, inputs, strict=True)}
        scores, logit = self.session.run(None, feed)
        return torch.from_numpy(scores), torch.from_numpy(logit)


def main(argv: list[str]) -> None:
    checkpoint, out = argv
    export_scoring(Path(checkpoint), Path(out))


if __name__ == "__main__":
    main(sys.argv[1:])
