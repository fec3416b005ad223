"""MiniLM on ONNX Runtime, the encoder that serving runs (``ranker.onnx_export``): the same token
states as torch's, one session per process, and the exported graph's cache (one export for
processes that start together, a damaged graph, no writable cache, a failed export)."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from pathlib import Path

import pytest
import torch

from ranker import onnx_export
from ranker.config import TINY
from ranker.encoder import SERVING_RUNTIME, EncoderUnavailable, TextEncoder, minilm_path


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs with torch on one thread (conftest.one_torch_thread)."""


@pytest.fixture(scope="module")
def encoder(_one_thread: None) -> TextEncoder:
    return TextEncoder(layers=TINY.encoder_layers)


def _export_by_copying(good: Path, monkeypatch: pytest.MonkeyPatch) -> list[list[str]]:
    """The export's child process, replaced by a copy of an exported graph (without its seconds);
    no session of this process is reused. Returns the commands it was run with."""
    monkeypatch.setattr(onnx_export, "_SESSIONS", {})
    commands: list[list[str]] = []

    def export(command: list[str], **_: object) -> None:
        commands.append(command)
        time.sleep(0.2)  # long enough for a second caller to reach the lock
        shutil.copyfile(good, command[-1])

    monkeypatch.setattr(onnx_export.subprocess, "run", export)
    return commands


ODD_TEXTS = [
    "",
    "yes",
    "where is my refund for order #W1234567?",
    "Your refund of $45.20 for order #W1234567 was issued on March 3 to your card ending 4242.",
    "word " * 500,  # truncated to max_tokens
    "<script>alert('x')</script> \u00e9\u00e8 \U0001f600",
]


@pytest.fixture(scope="module")
def served(_one_thread: None) -> TextEncoder:
    return TextEncoder(layers=TINY.encoder_layers, runtime=SERVING_RUNTIME)


def test_serving_runs_the_encoder_on_onnx_runtime() -> None:
    assert SERVING_RUNTIME == "onnxruntime"


def test_onnx_runtime_gives_torchs_token_states(encoder: TextEncoder, served: TextEncoder) -> None:
    expected = [encoder._encode_batch([t])[0] for t in ODD_TEXTS]
    alone = [served._encode_batch([t])[0] for t in ODD_TEXTS]
    padded = served._encode_batch(ODD_TEXTS)  # one batch, padded to the longest
    for want, one, batched in zip(expected, alone, padded, strict=True):
        assert one.dtype == batched.dtype == torch.float32
        assert one.shape == batched.shape == want.shape
        assert torch.allclose(one, want, atol=1e-4) and torch.allclose(batched, want, atol=1e-4)
    assert padded[4].size(0) == served.max_tokens == 40


def test_onnx_runtime_encoders_of_a_process_share_one_session(served: TextEncoder) -> None:
    other = TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime")
    assert other._session is served._session
    assert other.model is None and served.model is None  # the session holds the weights
    deeper = TextEncoder(layers=TINY.encoder_layers + 1, runtime="onnxruntime")
    assert deeper._session is not served._session
    (low,) = served.encode(["where is my refund"])
    (high,) = deeper.encode(["where is my refund"])
    assert not torch.allclose(low, high, atol=1e-3)


def test_the_graph_is_exported_once_and_read_from_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    where = minilm_path()
    cached = onnx_export.onnx_graph(where, TINY.encoder_layers)  # the user's cache, as served
    monkeypatch.setenv("CSBOT_CACHE_DIR", str(tmp_path))
    exports = _export_by_copying(cached, monkeypatch)
    paths: list[Path] = []
    threads = [
        threading.Thread(target=lambda: paths.append(onnx_export.onnx_graph(where, 2)))
        for _ in range(2)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert len(exports) == 1 and exports[0][1:3] == ["-m", "ranker.onnx_export"]
    assert paths[0] == paths[1] and paths[0].parent == tmp_path
    assert paths[0].read_bytes() == cached.read_bytes()
    assert not list(tmp_path.glob("*.partial"))
    assert onnx_export.onnx_graph(where, 2) == paths[0] and len(exports) == 1
    other = onnx_export.onnx_graph(where, 3)  # another depth is another graph
    assert other != paths[0] and len(exports) == 2


def test_a_damaged_cached_graph_is_exported_again(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers)
    monkeypatch.setenv("CSBOT_CACHE_DIR", str(tmp_path))
    damaged = tmp_path / good.name
    damaged.write_bytes(b"not an onnx graph")
    exports = _export_by_copying(good, monkeypatch)
    encoder = TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime")
    assert len(exports) == 1 and damaged.read_bytes() == good.read_bytes()
    assert encoder.encode(["hello"])[0].shape == (3, 384)


def test_without_a_writable_cache_the_graph_is_exported_for_the_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers)
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the cache folder would be")
    monkeypatch.setenv("CSBOT_CACHE_DIR", str(blocked / "csbot"))
    exports = _export_by_copying(good, monkeypatch)
    encoder = TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime")
    assert encoder.encode(["hello"])[0].shape == (3, 384)
    assert len(exports) == 1 and not Path(exports[0][-1]).exists()  # its temporary folder is gone


def test_a_failed_export_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CSBOT_CACHE_DIR", str(tmp_path))

    def export(command: list[str], **_: object) -> None:
        Path(command[-1]).write_bytes(b"half a graph")
        raise subprocess.CalledProcessError(1, command, stderr="RuntimeError: no space left")

    monkeypatch.setattr(onnx_export.subprocess, "run", export)
    with pytest.raises(EncoderUnavailable, match="exporting MiniLM to ONNX failed(.|\\n)*no space"):
        onnx_export.onnx_graph(minilm_path(), 2)
    assert [p.name for p in tmp_path.iterdir()] == [p.name for p in tmp_path.glob("*.lock")]


def test_an_unknown_runtime_is_refused() -> None:
    with pytest.raises(ValueError, match="runtime must be one of"):
        TextEncoder(layers=TINY.encoder_layers, runtime="tensorflow")


def test_an_unknown_precision_or_int8_on_torch_is_refused() -> None:
    with pytest.raises(ValueError, match="precision must be one of"):
        TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime", precision="float16")
    with pytest.raises(ValueError, match="int8 encoder runs on onnxruntime"):
        TextEncoder(layers=TINY.encoder_layers, precision="int8")


def test_int8_token_states_are_close_to_float32_but_not_equal(served: TextEncoder) -> None:
    quantized = TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime", precision="int8")
    assert quantized.precision == "int8" and quantized._session is not served._session
    for text in ODD_TEXTS:
        (plain,) = served._encode_batch([text])
        (low,) = quantized._encode_batch([text])
        assert low.shape == plain.shape and low.dtype == torch.float32
        cosine = torch.nn.functional.cosine_similarity(low, plain, dim=-1)
        assert float(cosine.min()) > 0.98, text  # the same model, its weights rounded
        assert not torch.allclose(low, plain, atol=1e-3)  # and really rounded


def test_the_int8_graph_is_cached_beside_the_float32_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers)  # the user's cache
    monkeypatch.setenv("CSBOT_CACHE_DIR", str(tmp_path))
    commands = _export_by_copying(good, monkeypatch)
    plain = onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers)
    low = onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers, "int8")
    assert plain != low and "-int8-" in low.name and "-int8-" not in plain.name
    assert [c[-2] for c in commands] == [str(TINY.encoder_layers), "int8"]  # then the path
    with pytest.raises(ValueError, match="precision must be one of"):
        onnx_export.onnx_graph(minilm_path(), TINY.encoder_layers, "int4")
