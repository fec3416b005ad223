"""MiniLM's encoding of one text on each runtime: torch float32 and bfloat16, ONNX Runtime float32
and int8.

    .venv/bin/python benchmarks/encoder_runtime.py [--layers 2] [--repeats 200] [--threads 1]

The ranker's encoder (``ranker.encoder.TextEncoder``, the first ``--layers`` layers of the packaged
all-MiniLM-L6-v2) encodes each text once, one text per call while serving: the customer's new
message on the turn's path and the reply it sends in the background. This times that call (the
tokenizer included) for texts of the lengths a turn meets, on one thread (a turn worker's), for:

- ``torch_float32``: the transformers module, as training encodes the corpus;
- ``torch_bfloat16``: the same module with bfloat16 weights (what serving used before);
- ``onnxruntime``: the same layers exported to ONNX and run by ONNX Runtime in float32
  (``ranker.encoder.SERVING_RUNTIME``);
- ``onnxruntime_int8``: that graph with int8 weights (``ranker.onnx_export.quantize_graph``),
  what the default ranker is trained and served on. Its states differ from float32's by design
  (the last column; a model is trained on the precision it is served).

The runtimes are timed in rotation, a call each, so that a busy machine slows them alike; each
text's median over ``--repeats`` calls is printed with its ratio to torch float32 measured in the
same run, and how far the token states are from torch float32's (largest absolute difference).

Ends with one ``name: value`` line per headline figure.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import torch

from ranker.encoder import TextEncoder

TEXTS = {
    "message": "where is my refund",
    "email": "jordan.alvarez1987@example.com",
    "order": "it's order #W4817356",
    "reply": (
        "Your refund of $45.20 for order #W4817356 was issued on March 3 to your card ending "
        "4242; it usually shows within 3-5 business days."
    ),
}


def build(layers: int) -> dict[str, TextEncoder]:
    bf16 = TextEncoder(layers=layers)
    assert bf16.model is not None
    bf16.model.to(torch.bfloat16)
    return {
        "torch_float32": TextEncoder(layers=layers),
        "torch_bfloat16": bf16,
        "onnxruntime": TextEncoder(layers=layers, runtime="onnxruntime"),
        "onnxruntime_int8": TextEncoder(layers=layers, runtime="onnxruntime", precision="int8"),
    }


def time_rotation(calls: dict[str, Callable[[], object]], repeats: int) -> dict[str, float]:
    """Median ms of each call, the calls taken in turn ``repeats`` times (after 10 warm-ups)."""
    times: dict[str, list[float]] = {name: [] for name in calls}
    for n in range(repeats + 10):
        for name, call in calls.items():
            start = time.perf_counter()
            call()
            if n >= 10:
                times[name].append(1000 * (time.perf_counter() - start))
    return {name: statistics.median(ts) for name, ts in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=2, help="MiniLM layers kept (the ranker's)")
    parser.add_argument("--repeats", type=int, default=200, help="timed calls per text")
    parser.add_argument("--threads", type=int, default=1, help="torch / ONNX Runtime threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    encoders = build(args.layers)
    caps = torch.backends.cpu.get_cpu_capability()
    print(f"MiniLM layers: {args.layers}, threads: {args.threads}, CPU capability: {caps}")
    medians: dict[str, dict[str, float]] = {}
    for label, text in TEXTS.items():
        tokens = len(
            encoders["torch_float32"].tokenizer(text, truncation=True, max_length=40)["input_ids"]
        )
        reference = encoders["torch_float32"]._encode_batch([text])[0]
        calls: dict[str, Callable[[], object]] = {
            name: (lambda enc=enc, text=text: enc._encode_batch([text]))
            for name, enc in encoders.items()
        }
        medians[label] = time_rotation(calls, args.repeats)
        for name, enc in encoders.items():
            states = enc._encode_batch([text])[0]
            diff = float((states - reference).abs().max())
            ms = medians[label][name]
            ratio = medians[label]["torch_float32"] / ms
            print(
                f"{label} ({tokens} tokens) {name}: {ms:.2f} ms, {ratio:.2f}x torch float32's "
                f"speed, states within {diff:.1e}"
            )
    for name in encoders:
        total = sum(medians[label][name] for label in TEXTS)
        print(f"{name}_ms_all_texts: {total:.2f}")
    for name in ("torch_bfloat16", "onnxruntime", "onnxruntime_int8"):
        ratio = sum(m["torch_float32"] for m in medians.values()) / sum(
            m[name] for m in medians.values()
        )
        print(f"{name}_speedup_vs_torch_float32: {ratio:.2f}")


if __name__ == "__main__":
    main()
