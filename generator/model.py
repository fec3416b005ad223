"""The draft model: a transformers causal LM read through an ``inputs_embeds`` prefix.

- The language model is any transformers causal LM. The default is MiniLM (the packaged
  all-MiniLM-L6-v2, a BERT encoder) turned into a decoder (``BertLMHeadModel`` with
  ``is_decoder=True``: causal self-attention, the MLM head as the LM head, tied to the word
  embeddings): its first ``layers`` layers warm-start it (``base="minilm"``), or the same shape is
  randomly initialised (``base="scratch"``). A local Hugging Face causal-LM directory plugs in by
  path (``base="path"``), fully fine-tuned or with LoRA adapters (peft).
- The act and slot placeholder tokens (``generator.data``) are added to the tokenizer.
- Personalization soft tokens go through the generator's own :class:`SoftTokenAdapter` into the
  LM's hidden size and are prepended to the prompt's token embeddings.
- The head scores only the *reply vocabulary* (the tokens the training replies use, plus the end
  token and every act and placeholder token): a slice of the LM head. On this CPU the full
  30k-row head is a 47 MB read per generated token, most of a step's time.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from dialogue.personalization.adapter import SoftTokenAdapter
from generator.config import GeneratorConfig
from generator.data import SPECIAL_TOKENS

__all__ = ["DraftModel", "ModelUnavailable", "Tokenizer", "build_model", "load_tokenizer"]

Tokenizer = Any  # a transformers PreTrainedTokenizer(Fast); transformers ships no usable stubs


class ModelUnavailable(RuntimeError):
    """The base weights or tokenizer cannot be loaded (missing package or directory)."""


def _base_dir(cfg: GeneratorConfig) -> Path:
    if cfg.base == "path":
        where = Path(str(cfg.base_path))
        if not (where / "config.json").is_file():
            raise ModelUnavailable(f"no Hugging Face model directory at {where}")
        return where
    from ranker.encoder import EncoderUnavailable, minilm_path

    try:
        return minilm_path()
    except EncoderUnavailable as exc:
        raise ModelUnavailable(str(exc)) from exc


def load_tokenizer(cfg: GeneratorConfig) -> Tokenizer:
    """The base model's tokenizer with the act and placeholder tokens added (same ids every time:
    added in a fixed order after the base vocabulary)."""
    from transformers import AutoTokenizer

    where = _base_dir(cfg)
    try:
        tok = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load a tokenizer from {where}: {exc}") from exc
    tok.add_special_tokens({"additional_special_tokens": list(SPECIAL_TOKENS)})
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token or tok.unk_token
    return tok


def end_token_id(tok: Tokenizer) -> int:
    """The token that ends a reply: [SEP] for BERT vocabularies, else the model's EOS."""
    end = tok.sep_token_id if tok.sep_token_id is not None else tok.eos_token_id
    if end is None:
        raise ModelUnavailable("the tokenizer has neither a [SEP] nor an EOS token")
    return int(end)


def _lm(cfg: GeneratorConfig, vocab_size: int) -> Any:
    from transformers import AutoModelForCausalLM, BertConfig, BertLMHeadModel
    from transformers.utils import logging as hf_logging

    where = _base_dir(cfg)
    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the unused layers and the new LM-head transform are expected
    lm: Any
    try:
        if cfg.base == "path":
            lm = AutoModelForCausalLM.from_pretrained(str(where), local_files_only=True)
        else:
            bert_cfg = BertConfig.from_pretrained(str(where), local_files_only=True)
            bert_cfg.is_decoder = True
            bert_cfg.add_cross_attention = False
            bert_cfg.num_hidden_layers = cfg.layers
            bert_cfg.tie_word_embeddings = True
            if cfg.base == "minilm":
                lm = BertLMHeadModel.from_pretrained(
                    str(where), config=bert_cfg, local_files_only=True
                )
            else:
                torch.manual_seed(0)
                lm = BertLMHeadModel(bert_cfg)
    except (OSError, ValueError) as exc:
        raise ModelUnavailable(f"cannot load the language model from {where}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    lm.resize_token_embeddings(vocab_size, mean_resizing=False)
    return lm


def _with_lora(lm: Any, cfg: GeneratorConfig, new_token_ids: list[int]) -> Any:
    from peft import LoraConfig, get_peft_model

    targets = list(cfg.lora_targets) or None  # None: peft's defaults for the architecture
    lora = LoraConfig(
        r=cfg.lora_rank,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=0.0,
        target_modules=targets,
        # The act and placeholder rows are new: they must learn too.
        trainable_token_indices=new_token_ids,
    )
    return get_peft_model(lm, lora)


@dataclass(frozen=True)
class Head:
    """How hidden states become reply-vocabulary logits."""

    transform: nn.Module | None  # BERT's MLM transform (dense + gelu + LayerNorm); None elsewhere
    weight: Tensor  # (V_full, d) output embeddings
    bias: Tensor | None


class DraftModel(nn.Module):
    """The LM, the soft-token adapter and the reply-vocabulary head.

    Args:
        cfg: Shapes and inputs.
        lm: A transformers causal LM (possibly wrapped by peft).
        reply_vocab: (V,) token ids the head scores, sorted.
        hidden_size: The LM's hidden size.
    """

    def __init__(
        self, cfg: GeneratorConfig, lm: Any, reply_vocab: Tensor, hidden_size: int
    ) -> None:
        super().__init__()
        self.cfg = cfg
        self.lm: Any = lm
        self.hidden_size = hidden_size
        self.reply_vocab: Tensor
        self.register_buffer("reply_vocab", reply_vocab.long(), persistent=True)
        self.adapter: SoftTokenAdapter | None = None
        if cfg.soft_dim > 0:
            self.adapter = SoftTokenAdapter(
                cfg.soft_dim, hidden_size, hidden=cfg.soft_hidden, max_tokens=cfg.soft_tokens
            )

    # ---- parts -------------------------------------------------------------------------------
    @property
    def causal_lm(self) -> Any:
        """The transformers model under any peft wrapper."""
        get = getattr(self.lm, "get_base_model", None)
        return get() if get is not None else self.lm

    @property
    def body(self) -> Any:
        """The transformer without its LM head (BertModel, LlamaModel, …)."""
        return self.causal_lm.base_model

    def head(self) -> Head:
        lm = self.causal_lm
        out = lm.get_output_embeddings()
        cls = getattr(lm, "cls", None)
        transform = cls.predictions.transform if cls is not None else None
        merged = getattr(out, "get_merged_weights", None)  # peft's trainable-token rows
        weight = merged(out.active_adapters) if merged is not None else out.weight
        bias = getattr(getattr(out, "base_layer", out), "bias", None)
        return Head(transform=transform, weight=weight, bias=bias)

    def embed_tokens(self, ids: Tensor) -> Tensor:
        return self.lm.get_input_embeddings()(ids)

    def soft_embeds(self, soft: Tensor | None) -> Tensor | None:
        """(B, S, soft_dim) → (B, S, d); None when the model reads no soft tokens."""
        if self.adapter is None or soft is None or soft.numel() == 0:
            return None
        return self.adapter(soft)

    def logits(self, hidden: Tensor) -> Tensor:
        """(…, d) hidden states → (…, V) logits over the reply vocabulary."""
        h = self.head()
        x = h.transform(hidden) if h.transform is not None else hidden
        weight = h.weight[self.reply_vocab]  # (V, d)
        bias = h.bias[self.reply_vocab] if h.bias is not None else None
        return F.linear(x, weight, bias)

    # ---- training ----------------------------------------------------------------------------
    def forward(
        self, embeds: Tensor, attention: Tensor, targets: Tensor, positions: Tensor | None = None
    ) -> Tensor:
        """Mean cross-entropy of the reply tokens.

        Args:
            embeds: (B, T, d) soft tokens + prompt + reply embeddings, right-padded.
            attention: (B, T) 1 for real positions.
            targets: (B, T) reply-vocabulary index of the token after each position, -100
                where nothing is predicted (soft tokens, prompt, padding).
            positions: (B, T) position ids (real tokens counted from 0; left padding repeats 0).
        """
        out = self.body(
            inputs_embeds=embeds, attention_mask=attention, position_ids=positions, use_cache=False
        )
        hidden = out.last_hidden_state  # (B, T, d)
        keep = targets != -100  # (B, T)
        logits = self.logits(hidden[keep])  # (N, V)
        return F.cross_entropy(logits, targets[keep])


def build_model(cfg: GeneratorConfig, tok: Tokenizer, reply_vocab: Tensor) -> DraftModel:
    """A fresh draft model (warm-started, scratch, or a local model with optional LoRA)."""
    lm = _lm(cfg, len(tok))
    hidden = int(lm.get_input_embeddings().weight.size(1))
    if cfg.base == "path" and cfg.lora_rank > 0:
        new_ids = [int(i) for i in tok.convert_tokens_to_ids(list(SPECIAL_TOKENS))]
        lm = _with_lora(lm, cfg, new_ids)
    return DraftModel(cfg, lm, reply_vocab, hidden)
