"""MiniLM's kept layers as an ONNX graph, and the ONNX Runtime session that serving runs them on.

``ranker.encoder.TextEncoder(runtime="onnxruntime")`` (what ``NeuralRanker.load`` builds) asks
:func:`onnx_session` for its session. The graph is exported once per machine, in a child process,
into :func:`graph_cache_dir`:

    python -m ranker.onnx_export MINILM_DIR LAYERS [int8] OUT
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import subprocess
import sys
import tempfile
import threading
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from torch import Tensor

from ranker.encoder import PRECISIONS, EncoderUnavailable, load_module

logger = logging.getLogger(__name__)

__all__ = [
    "GRAPH_VERSION",
    "cached_graph",
    "export_graph",
    "file_key",
    "graph_cache_dir",
    "onnx_graph",
    "onnx_session",
    "quantize_graph",
    "session_options",
]


class _StatesOnly(torch.nn.Module):
    """MiniLM's last kept layer's token states from ids and mask (one segment: type ids 0)."""

    def __init__(self, model: torch.nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, input_ids: Tensor, attention_mask: Tensor) -> Tensor:
        out = self.model(
            input_ids=input_ids,
            attention_mask=attention_mask,
            token_type_ids=torch.zeros_like(input_ids),
        )
        return out.last_hidden_state


def export_graph(where: Path, layers: int, out: Path) -> None:
    """Write MiniLM's first ``layers`` layers (from ``where``) to ``out`` as an ONNX graph taking
    ``input_ids`` and ``attention_mask`` (batch and length dynamic) to float32 ``states``.

    ``python -m ranker.onnx_export`` runs this in a process of its own (:func:`onnx_graph`).
    """
    from transformers import AutoConfig

    config = AutoConfig.from_pretrained(str(where), local_files_only=True)
    config.num_hidden_layers = layers
    module = _StatesOnly(load_module(where, config)).eval()
    # A padded pair, so that the mask's path is the one traced.
    ids = torch.tensor([[101, 7592, 2088, 102], [101, 7592, 102, 0]])
    mask = (ids != 0).long()
    with warnings.catch_warnings():
        # The TorchScript exporter: torch 2.13 (pinned) marks it legacy and warns about shape
        # arithmetic it traces as constants (one segment, the full mask length).
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            (ids, mask),
            out,
            input_names=["input_ids", "attention_mask"],
            output_names=["states"],
            dynamic_axes={
                "input_ids": {0: "batch", 1: "tokens"},
                "attention_mask": {0: "batch", 1: "tokens"},
                "states": {0: "batch", 1: "tokens"},
            },
            opset_version=17,
            dynamo=False,
        )


# Bump when export_graph changes what it writes: cached graphs of other versions are not read.
GRAPH_VERSION = 1
EXPORT_TIMEOUT = 600.0


def graph_cache_dir() -> Path:
    """Where exported graphs are kept: ``CSBOT_CACHE_DIR``, else the user's cache directory."""
    from platformdirs import user_cache_dir

    return Path(os.environ.get("CSBOT_CACHE_DIR") or user_cache_dir("csbot", appauthor=False))


def file_key(path: Path, *extra: object) -> str:
    """What a graph exported from the file ``path`` depends on, hashed: the file (its path, size
    and modification time), ``extra`` and the exporting packages' versions (read from their
    metadata: importing onnx here would cost a server memory)."""
    from importlib.metadata import version

    stat = path.stat()
    parts = [
        str(path),
        stat.st_size,
        stat.st_mtime_ns,
        *extra,
        torch.__version__,
        version("transformers"),
        version("onnx"),
        version("onnxruntime"),  # its quantizer writes the int8 graphs
    ]
    return hashlib.sha256(json.dumps(parts).encode()).hexdigest()[:20]


def _graph_key(where: Path, layers: int) -> str:
    """What MiniLM's graph depends on: the weights file, the depth and the exporting code."""
    return file_key((where / "model.safetensors").resolve(), layers, GRAPH_VERSION)


def onnx_graph(where: Path, layers: int, precision: str = "float32") -> Path:
    """The ONNX graph of MiniLM's first ``layers`` layers, exported once into
    :func:`graph_cache_dir` and read from there afterwards.

    The export runs in a child process: a serving process then never imports transformers'
    modeling code, the exporter or a second copy of the weights (docs/service.md has the memory).
    Processes that start together (a server's turn workers) export once: the others wait on a
    lock and read the graph the first one wrote.

    Raises:
        EncoderUnavailable: The export failed.
        OSError: The cache folder cannot be made or written.
    """
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")
    kind = "" if precision == "float32" else f"-{precision}"
    name = f"minilm-{layers}-layers{kind}-{_graph_key(where, layers)}.onnx"
    return cached_graph(name, lambda out: _export(where, layers, out, precision))


def cached_graph(name: str, export: Callable[[Path], None]) -> Path:
    """The graph ``name`` in :func:`graph_cache_dir`, written by ``export(partial_path)`` (a child
    process) if it is not there yet. Processes that start together export once: the others wait
    on a lock and read the graph the first one wrote.

    Raises:
        OSError: The cache folder cannot be made or written.
    """
    folder = graph_cache_dir()
    path = folder / name
    if path.is_file():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / f"{path.name}.lock", "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # the kernel drops it if this process dies
        if path.is_file():
            return path
        partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
        try:
            export(partial)
            os.replace(partial, path)  # readers see the whole graph or none
        finally:
            partial.unlink(missing_ok=True)
    return path


def session_options(threads: int) -> Any:
    """ONNX Runtime session options for serving: ``threads`` intra-op threads that do not spin
    between runs, all graph optimizations."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return options


def _export(where: Path, layers: int, out: Path, precision: str = "float32") -> None:
    """:func:`export_graph` (then :func:`quantize_graph` for int8) in a child process (raises
    :class:`EncoderUnavailable`)."""
    kind = [] if precision == "float32" else [precision]
    command = [sys.executable, "-m", "ranker.onnx_export", str(where), str(layers), *kind, str(out)]
    try:
        subprocess.run(command, check=True, capture_output=True, text=True, timeout=EXPORT_TIMEOUT)
    except (subprocess.CalledProcessError, subprocess.TimeoutExpired) as exc:
        tail = (exc.stderr or "").strip()[-2000:] if isinstance(exc.stderr, str) else ""
        raise EncoderUnavailable(f"exporting MiniLM to ONNX failed: {exc}\n{tail}") from exc


# One ONNX Runtime session per MiniLM directory, depth and precision in a process: a session is
# safe to run from several threads, and every encoder of a process (tests load many rankers)
# shares its weights.
_SESSIONS: dict[tuple[str, int, str, int], Any] = {}
_SESSIONS_LOCK = threading.Lock()


def onnx_session(where: Path, layers: int, precision: str = "float32") -> Any:
    """An ONNX Runtime session running MiniLM's first ``layers`` layers, in ``precision``, on
    this process's torch thread count (a graph in the cache that ONNX Runtime cannot read is
    exported again)."""
    import onnxruntime as ort

    threads = max(1, torch.get_num_threads())
    key = (str(Path(where).resolve()), layers, precision, threads)
    with _SESSIONS_LOCK:
        if key in _SESSIONS:
            return _SESSIONS[key]
        options = session_options(threads)

        def open_graph(graph: Path) -> Any:
            return ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])

        try:
            graph = onnx_graph(where, layers, precision)
        except OSError as exc:  # no cache to write (a read-only home): export for this process
            logger.warning("no cache for MiniLM's ONNX graph (%s): exporting it for now", exc)
            with tempfile.TemporaryDirectory(prefix="csbot-minilm-") as folder:
                _export(where, layers, Path(folder) / "minilm.onnx", precision)
                session = open_graph(Path(folder) / "minilm.onnx")
        else:
            try:
                session = open_graph(graph)
            except Exception:  # noqa: BLE001 - a damaged file: ONNX Runtime's errors are its own
                logger.warning("cannot read the cached graph %s: exporting it again", graph)
                graph.unlink(missing_ok=True)
                session = open_graph(onnx_graph(where, layers, precision))
        _SESSIONS[key] = session
        return session


def quantize_graph(graph: Path, out: Path) -> None:
    """Write ``graph`` with int8 weights to ``out``: ONNX Runtime's dynamic quantization, one
    scale per output channel (the activations are quantized per run). Token states keep a
    cosine of about 0.995 to float32's; a ranker reads them only if it was trained on them."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    quantize_dynamic(str(graph), str(out), weight_type=QuantType.QInt8, per_channel=True)


def main(argv: list[str]) -> None:
    where, layers, *kind, out = argv  # MINILM_DIR LAYERS [int8] OUT
    precision = kind[0] if kind else "float32"
    if precision == "float32":
        export_graph(Path(where), int(layers), Path(out))
        return
    with tempfile.TemporaryDirectory(prefix="csbot-minilm-") as folder:
        plain = Path(folder) / "float32.onnx"
        export_graph(Path(where), int(layers), plain)
        quantize_graph(plain, Path(out))


if __name__ == "__main__":
    main(sys.argv[1:])
