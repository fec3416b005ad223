"""Training and serving the ranker end to end on hand-made turns (one per act): template text,
the frozen MiniLM encoder and its cache, one epoch of TINY training, loading the checkpoint,
ranking, and seeded determinism."""

from __future__ import annotations

import math
import threading
from concurrent.futures import Future
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from torch import Tensor

from ranker import onnx_scoring, scorer
from ranker.checkpoint import CheckpointError
from ranker.config import TINY, RankerConfig, TrainConfig
from ranker.data import CUSTOMER, REP, RankTurn, candidate_entries
from ranker.encoder import TextEncoder, defer_prefetch, run_deferred, template_text
from ranker.model import TemplateRanker
from ranker.scorer import NeuralRanker
from ranker.train import DEFAULT_HELD_OUT_ACTS, TrainResult, train_ranker
from templates import TemplateEntry, load_catalog

CATALOG = load_catalog()
ENTRIES: list[TemplateEntry] = sorted(CATALOG.entries, key=lambda e: e.id)
TC = TrainConfig(epochs=1, batch_lists=16, seed=0)


@pytest.fixture(autouse=True, scope="module")
def _one_thread(one_torch_thread: None) -> None:
    """Every test here runs with torch on one thread (conftest.one_torch_thread)."""


@pytest.fixture(scope="module")
def encoder(_one_thread: None) -> TextEncoder:
    return TextEncoder(layers=TINY.encoder_layers)


def _hand_made_turns() -> list[RankTurn]:
    """One turn per act (the corpus export is tested in test_ranker_data.py): the first template
    of each act is applicable, its slots are filled and its plain text is the gold reply."""
    profile = {"membership": "silver", "tenure_days": 200, "orders": 3, "open_orders": 1}
    turns = []
    for n, act in enumerate(sorted(CATALOG.acts())):
        entry = CATALOG.by_act(act)[0]
        facts = set(entry.preconditions)
        if "authenticated" not in facts:
            facts.add("not_authenticated")
        turns.append(
            RankTurn(
                context=(
                    (CUSTOMER, "hello"),
                    (REP, "Hi! How can I help?"),
                    (CUSTOMER, f"{act} {n}"),
                ),
                facts=frozenset(facts),
                slots={slot: f"{slot} {n}" for slot in entry.slots},
                profile=profile if "authenticated" in facts else None,
                tracker={"awaiting": "intent", "last_act": "greeting", "turns": 2, "signals": []},
                gold_act=act,
                gold_reply=template_text(entry.source),
                customer_id=n,
            )
        )
    return turns


@pytest.fixture(scope="module")
def turns() -> list[RankTurn]:
    return _hand_made_turns()


@pytest.fixture(scope="module")
def trained(
    tmp_path_factory: pytest.TempPathFactory, turns: list[RankTurn], encoder: TextEncoder
) -> tuple[Path, TrainResult]:
    path = tmp_path_factory.mktemp("ckpt") / "ranker.pt"
    result = train_ranker(turns, ENTRIES, encoder=encoder, cfg=TINY, tc=TC, out=path)
    return path, result


@pytest.fixture(scope="module")
def ranker(trained: tuple[Path, TrainResult]) -> NeuralRanker:
    return NeuralRanker.load(trained[0])


# ---- template text -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("source", "text"),
    [
        ("Your order {{ order_id }} is on its way.", "Your order order id is on its way."),
        ("{{order_total|money}} total", "order total total"),
        ("{{ o.order_date }}", "order date"),
        ("{% if first_name %}Hi {{ first_name }}{% endif %}!", "Hi first name !"),
        (
            "Orders:\n{%- for o in order_options %}\n  {{ o.item_summary }}\n{%- endfor %}\nOK",
            "Orders: item summary OK",
        ),
        ("{%\n multi-line block\n%}kept", "kept"),
        ("", ""),
        ("  plain   text\n\there ", "plain text here"),
    ],
    ids=[
        "variable",
        "filter",
        "attribute",
        "if-block",
        "for-loop",
        "multi-line-block",
        "empty",
        "whitespace",
    ],
)
def test_template_text(source: str, text: str) -> None:
    assert template_text(source) == text


def test_template_text_of_a_real_template() -> None:
    entry = CATALOG.get("cancel.done.1")
    text = template_text(entry.source)
    assert "order id" in text and "refund amount" in text
    assert "{{" not in text and "{%" not in text and "_" not in text


def test_no_catalog_template_text_keeps_jinja_syntax() -> None:
    leftovers = {
        e.id: template_text(e.source)
        for e in ENTRIES
        if any(mark in template_text(e.source) for mark in ("{{", "}}", "{%", "%}"))
    }
    assert leftovers == {}


# ---- the encoder -------------------------------------------------------------------------------
def test_encode_gives_token_states_per_text(encoder: TextEncoder) -> None:
    texts = ["hello", "", "I'd like to cancel order #W1234567 please"]
    states = encoder.encode(texts)
    assert len(states) == 3
    for s in states:
        assert s.dim() == 2 and s.size(1) == 384 == TextEncoder.dim
        assert s.dtype == torch.float32 and torch.isfinite(s).all()
    assert states[0].size(0) == 3  # [CLS] hello [SEP]
    assert states[1].size(0) == 2  # an empty text is [CLS] [SEP]
    assert states[2].size(0) > states[0].size(0)


def test_encode_caches_per_text(encoder: TextEncoder) -> None:
    first = encoder.encode(["cache me", "and me"])
    second = encoder.encode(["and me", "cache me", "cache me"])
    assert second[0] is first[1] and second[1] is first[0] and second[2] is first[0]


def test_encode_of_nothing_is_nothing(encoder: TextEncoder) -> None:
    assert encoder.encode([]) == []
    assert encoder.pooled([]).shape == (0, 384)


def test_encode_truncates_to_max_tokens(encoder: TextEncoder) -> None:
    (states,) = encoder.encode(["word " * 500])
    assert states.size(0) == encoder.max_tokens == 40


def test_encode_keeps_the_order_across_batches(encoder: TextEncoder) -> None:
    texts = [f"utterance number {i} " + "x " * (10 - i) for i in range(10)]
    small = encoder.encode(texts, batch_size=3)
    assert [s.size(0) for s in small] == [s.size(0) for s in encoder.encode(texts)]
    assert all(a is b for a, b in zip(small, encoder.encode(texts), strict=True))


def test_padding_in_a_batch_does_not_change_a_texts_states(encoder: TextEncoder) -> None:
    alone = encoder._encode_batch(["hi there"])[0]
    padded = encoder._encode_batch(["hi there", "a much longer sentence " * 5])[0]
    assert alone.shape == padded.shape
    assert torch.allclose(alone, padded, atol=1e-4)


def test_the_encoder_keeps_its_first_layers(encoder: TextEncoder) -> None:
    full = TextEncoder()
    assert (full.layers, encoder.layers) == (6, TINY.encoder_layers)
    assert len(encoder.model.encoder.layer) == TINY.encoder_layers
    (low,) = encoder._encode_batch(["where is my refund"])
    (top,) = full._encode_batch(["where is my refund"])
    assert low.shape == top.shape and not torch.allclose(low, top, atol=1e-3)


def test_a_prefetched_text_is_encoded_once_in_the_background(
    encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = "your refund of $12.50 was issued to your card"
    expected = encoder._encode_batch([text])[0]
    real, calls = encoder._encode_batch, []
    release = threading.Event()

    def slow(texts: list[str]) -> list[Tensor]:
        calls.append((threading.current_thread().name, list(texts)))
        release.wait(timeout=10)
        return real(texts)

    monkeypatch.setattr(encoder, "_encode_batch", slow)
    job = encoder.prefetch([text, text])
    assert job is not None and encoder.prefetch([text]) is None  # in flight: not queued twice
    got: list[Tensor] = []
    reader = threading.Thread(target=lambda: got.extend(encoder.encode([text])))
    reader.start()  # asks while the background job is still encoding: it waits, no re-encoding
    release.set()
    reader.join(timeout=10)
    job.result(timeout=10)
    assert [c[1] for c in calls] == [[text]]
    assert calls[0][0].startswith("encoder-prefetch")
    assert torch.equal(got[0], expected)
    assert encoder.prefetch([text]) is None  # cached now
    assert torch.equal(encoder.encode([text])[0], expected) and len(calls) == 1


def test_a_failed_prefetch_does_not_block_a_later_encode(
    encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    real = encoder._encode_batch
    monkeypatch.setattr(encoder, "_encode_batch", lambda texts: 1 / 0)
    job = encoder.prefetch(["a reply that fails to encode"])
    assert job is not None and isinstance(job.exception(timeout=10), ZeroDivisionError)
    monkeypatch.setattr(encoder, "_encode_batch", real)
    (states,) = encoder.encode(["a reply that fails to encode"])
    assert states.shape[1] == 384


def test_a_deferred_prefetch_waits_for_run_deferred_on_the_turns_thread(
    encoder: TextEncoder, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = "your order W123 is cancelled", "anything else I can help with today?"
    real, calls = encoder._encode_batch, []

    def counted(texts: list[str]) -> list[Tensor]:
        calls.append((threading.current_thread().name, list(texts)))
        return real(texts)

    monkeypatch.setattr(encoder, "_encode_batch", counted)
    defer_prefetch()
    try:
        assert encoder.prefetch([first]) is None and encoder.prefetch([second, first]) is None
        assert calls == [] and first not in encoder._cache  # queued, not encoded
        other: list[Future[None] | None] = []  # another thread's prefetch is not deferred
        thread = threading.Thread(target=lambda: other.append(encoder.prefetch(["elsewhere"])))
        thread.start()
        thread.join(timeout=10)
        job = other[0]
        assert job is not None and job.result(timeout=10) is None
        calls.clear()
        assert run_deferred() == 2  # each text once
        me = threading.current_thread().name
        assert [name for name, _ in calls] == [me, me]
        assert first in encoder._cache and second in encoder._cache
        assert run_deferred() == 0
        encoder.encode([first, second])  # cached: nothing more is encoded
        assert len(calls) == 2
        encoder.prefetch(["dropped when deferring stops"])
    finally:
        defer_prefetch(False)
    assert run_deferred() == 0  # what was still queued was dropped
    assert "dropped when deferring stops" not in encoder._cache


def test_a_forked_worker_forgets_the_parents_background_jobs(encoder: TextEncoder) -> None:
    text = "a reply the parent was still encoding when it forked"
    never: Future[None] = Future()  # the parent's job: its thread does not exist in the child
    with encoder._lock:
        encoder._jobs()[text] = never
    encoder._background_pid = -1  # as if this process were the parent's fork
    (states,) = encoder.encode([text])  # does not wait on the parent's job
    assert states.shape[1] == 384 and not never.done()
    assert encoder.prefetch([text]) is None  # cached; and a new one starts its own thread
    job = encoder.prefetch(["a new reply in the child"])
    assert job is not None and job.result(timeout=10) is None


@pytest.mark.parametrize("layers", [0, 7, -1])
def test_the_encoder_refuses_layers_it_does_not_have(layers: int) -> None:
    with pytest.raises(ValueError, match="layers must be between 1 and 6"):
        TextEncoder(layers=layers)


def test_training_refuses_an_encoder_of_other_layers(tmp_path: Path, turns: list[RankTurn]) -> None:
    other = TextEncoder(layers=TINY.encoder_layers + 1)
    with pytest.raises(ValueError, match="reads MiniLM layer"):
        train_ranker(turns, ENTRIES, encoder=other, cfg=TINY, tc=TC, out=tmp_path / "x.pt")
    assert not (tmp_path / "x.pt").exists()


def test_a_config_from_before_encoder_layers_reads_all_six() -> None:
    data = RankerConfig().to_json()
    del data["encoder_layers"]
    assert RankerConfig.from_json(data).encoder_layers == 6
    assert RankerConfig.from_json(RankerConfig().to_json()) == RankerConfig()


def test_pooled_vectors_are_unit_length(encoder: TextEncoder) -> None:
    vectors = encoder.pooled(["where is my refund", "cancel my order", ""])
    assert vectors.shape == (3, 384)
    assert torch.allclose(vectors.norm(dim=-1), torch.ones(3), atol=1e-5)
    assert float(vectors[0] @ vectors[1]) < 0.999


# ---- training and serving ----------------------------------------------------------------------
def test_one_epoch_writes_a_checkpoint(
    trained: tuple[Path, TrainResult], turns: list[RankTurn]
) -> None:
    path, result = trained
    assert path.is_file()
    assert result.examples == len(turns)
    assert result.steps == math.ceil(len(turns) / TC.batch_lists)
    assert result.epochs_run == 1.0
    assert math.isfinite(result.final_loss) and result.final_loss > 0


def test_serving_refuses_an_encoder_of_other_layers(ranker: NeuralRanker) -> None:
    assert ranker.encoder.layers == TINY.encoder_layers  # load builds the one the config names
    with pytest.raises(ValueError, match="reads MiniLM layer"):
        NeuralRanker(ranker.model, TextEncoder(layers=6), CATALOG)


def test_serving_refuses_an_encoder_of_other_precision(ranker: NeuralRanker) -> None:
    assert ranker.encoder.precision == TINY.encoder_precision == "float32"
    quantized = TextEncoder(layers=TINY.encoder_layers, runtime="onnxruntime", precision="int8")
    with pytest.raises(ValueError, match="trained on float32 token states"):
        NeuralRanker(ranker.model, quantized, CATALOG)


def test_old_checkpoints_read_six_float32_layers() -> None:
    old = RankerConfig.from_json({"d_model": 32})
    assert (old.encoder_layers, old.encoder_precision) == (6, "float32")
    assert (RankerConfig().encoder_layers, RankerConfig().encoder_precision) == (2, "int8")


def test_a_loaded_ranker_ranks_as_it_would_on_torch(
    ranker: NeuralRanker, encoder: TextEncoder, turns: list[RankTurn]
) -> None:
    assert ranker.encoder.runtime == "onnxruntime"  # what NeuralRanker.load builds
    assert ranker.scoring is not None  # and its scoring pass runs on ONNX Runtime too
    on_torch = NeuralRanker(ranker.model, encoder, CATALOG, threshold=ranker.threshold)
    assert on_torch.scoring is None
    drafts = [
        TemplateEntry(
            id="draft",
            intent="common",
            act="anything_else",
            slots=(),
            preconditions=frozenset(),
            action=None,
            source="Is there anything else I can help you with today?",
        )
    ]
    bare = RankTurn(  # no context, no profile: memory holds the feature tokens only
        context=(),
        facts=frozenset({"not_authenticated"}),
        slots={},
        profile=None,
        tracker={},
        gold_act="greeting",
        gold_reply="",
        customer_id=0,
    )
    for turn in [*turns, bare]:
        for extra in ((), drafts):
            served = ranker.rank_with(turn, extra=extra)
            reference = on_torch.rank_with(turn, extra=extra)
            assert [r.entry.id for r in served.ranked] == [r.entry.id for r in reference.ranked]
            for a, b in zip(served.ranked, reference.ranked, strict=True):
                assert a.score == pytest.approx(b.score, abs=1e-4)
            assert served.list_prob == pytest.approx(reference.list_prob, abs=1e-5)


def test_the_scoring_graph_is_exported_once_per_checkpoint(
    trained: tuple[Path, TrainResult], monkeypatch: pytest.MonkeyPatch
) -> None:
    path = trained[0]
    NeuralRanker.load(path)  # the module's ranker fixture may not have run yet
    exports: list[Path] = []
    monkeypatch.setattr(onnx_scoring, "_export", lambda _ckpt, out: exports.append(out))
    assert NeuralRanker.load(path).scoring is not None
    assert exports == []  # read from the cache
    copy = path.with_name("copy.pt")
    copy.write_bytes(path.read_bytes())
    with pytest.raises(onnx_scoring.ScoringUnavailable):  # the fake export wrote nothing
        onnx_scoring.ScoringGraph(copy)
    assert len(exports) == 1


def test_a_ranker_whose_scoring_graph_fails_scores_with_torch(
    trained: tuple[Path, TrainResult],
    turns: list[RankTurn],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def fail(_: Path) -> None:
        raise onnx_scoring.ScoringUnavailable("no exporter here")

    monkeypatch.setattr(onnx_scoring, "ScoringGraph", fail)
    monkeypatch.setattr(scorer, "ScoringGraph", fail)
    ranker = NeuralRanker.load(trained[0])
    assert ranker.scoring is None
    assert "scoring with torch (no exporter here)" in caplog.text
    assert ranker.rank(turns[0]).ranked  # still ranks


def test_a_scoring_graph_of_another_model_is_refused(
    trained: tuple[Path, TrainResult], ranker: NeuralRanker
) -> None:
    graph = onnx_scoring.ScoringGraph(trained[0])
    graph.check(ranker.model)  # its own model
    other = TemplateRanker(TINY).eval()  # untrained: other weights, the same shapes
    with pytest.raises(onnx_scoring.ScoringUnavailable, match="differ from torch's"):
        graph.check(other)


def test_the_scoring_graph_covers_no_soft_tokens_and_no_ablation() -> None:
    assert onnx_scoring.scoring_supported(TemplateRanker(TINY))
    assert not onnx_scoring.scoring_supported(TemplateRanker(replace(TINY, soft_dim=8)))
    ablation = replace(TINY, use_context_attention=False)
    assert not onnx_scoring.scoring_supported(TemplateRanker(ablation))


def test_the_checkpoint_loads_with_its_metadata(
    ranker: NeuralRanker, trained: tuple[Path, TrainResult], turns: list[RankTurn]
) -> None:
    assert ranker.cfg == TINY
    assert not ranker.model.training
    assert ranker.threshold == 0.5  # no threshold chosen on a validation split yet
    meta = ranker.meta
    assert meta["steps"] == trained[1].steps and meta["examples"] == len(turns)
    assert meta["held_out_acts"] == list(DEFAULT_HELD_OUT_ACTS)
    trained_ids = set(meta["trained_templates"])
    assert trained_ids == {e.id for e in ENTRIES if e.act not in DEFAULT_HELD_OUT_ACTS}
    assert meta["train"]["seed"] == 0 and meta["train"]["epochs"] == 1


def test_the_trained_ranker_ranks_exactly_the_candidates(
    ranker: NeuralRanker, turns: list[RankTurn]
) -> None:
    for turn in turns[:10]:
        ranking = ranker.rank(turn)
        expected = {e.id for e in candidate_entries(ENTRIES, turn.facts, turn.slots)}
        assert {r.entry.id for r in ranking.ranked} == expected
        scores = [r.score for r in ranking.ranked]
        assert scores == sorted(scores, reverse=True)
        assert all(math.isfinite(s) for s in scores)
        assert 0.0 < ranking.list_prob < 1.0
        top = ranking.top_acts(4)
        assert len(top) == min(4, len({r.entry.act for r in ranking.ranked}))
        assert len({r.entry.act for r in top}) == len(top)
        assert top[0] == ranking.ranked[0]


def test_templates_added_after_training_are_ranked_too(ranker: NeuralRanker) -> None:
    facts = frozenset({"authenticated", "order_identified", "refund_failed"})
    slots = {"order_id": "#W1234567", "refund_amount": "$12.00", "refund_method": "card"}
    turn = RankTurn(
        context=((CUSTOMER, "where is my refund for #W1234567"),), facts=facts, slots=slots
    )
    ranking = ranker.rank(turn)
    held_out = [r for r in ranking.ranked if r.entry.act in DEFAULT_HELD_OUT_ACTS]
    assert {r.entry.act for r in held_out} == {"refund_failed"}
    assert all(math.isfinite(r.score) for r in held_out)


@pytest.mark.parametrize(
    "context",
    [(), ((CUSTOMER, ""),), ((CUSTOMER, "<script>alert(1)</script>" * 200),)],
    ids=["no-context", "empty-utterance", "hostile-long"],
)
def test_ranking_odd_contexts(ranker: NeuralRanker, context: tuple[tuple[int, str], ...]) -> None:
    ranking = ranker.rank(RankTurn(context=context, facts=frozenset({"not_authenticated"})))
    assert ranking.ranked and all(math.isfinite(r.score) for r in ranking.ranked)
    assert 0.0 < ranking.list_prob < 1.0


def test_dropping_every_act_gives_an_empty_ranking(ranker: NeuralRanker) -> None:
    turn = RankTurn(context=((CUSTOMER, "hi"),), facts=frozenset())
    ranking = ranker.rank(turn, drop_acts=frozenset(e.act for e in ENTRIES))
    assert ranking.ranked == () and ranking.list_prob == 0.0
    assert ranking.top_acts(4) == []


def test_ranking_is_repeatable(ranker: NeuralRanker, turns: list[RankTurn]) -> None:
    a, b = ranker.rank(turns[0]), ranker.rank(turns[0])
    assert a == b


def test_training_twice_with_the_same_seed_gives_identical_weights(
    tmp_path: Path,
    trained: tuple[Path, TrainResult],
    turns: list[RankTurn],
    encoder: TextEncoder,
) -> None:
    again = tmp_path / "again.pt"
    result = train_ranker(turns, ENTRIES, encoder=encoder, cfg=TINY, tc=TC, out=again)
    assert result.final_loss == trained[1].final_loss
    first = torch.load(trained[0], weights_only=True)["state_dict"]
    second = torch.load(again, weights_only=True)["state_dict"]
    assert first.keys() == second.keys()
    assert all(torch.equal(first[k], second[k]) for k in first)


def test_another_seed_gives_other_weights(
    tmp_path: Path,
    trained: tuple[Path, TrainResult],
    turns: list[RankTurn],
    encoder: TextEncoder,
) -> None:
    other = tmp_path / "other.pt"
    tc = TrainConfig(epochs=1, batch_lists=16, seed=1)
    train_ranker(turns, ENTRIES, encoder=encoder, cfg=TINY, tc=tc, out=other)
    first = torch.load(trained[0], weights_only=True)["state_dict"]
    second = torch.load(other, weights_only=True)["state_dict"]
    assert not all(torch.equal(first[k], second[k]) for k in first)


def test_no_training_turns_is_an_error(tmp_path: Path, encoder: TextEncoder) -> None:
    out = tmp_path / "never.pt"
    with pytest.raises(ValueError, match="no training turns"):
        train_ranker([], ENTRIES, encoder=encoder, cfg=TINY, tc=TC, out=out)
    assert not out.exists()


def test_loading_a_missing_checkpoint_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="no ranker checkpoint at"):
        NeuralRanker.load(tmp_path / "missing.pt")


def test_releasing_free_memory_is_safe_without_glibc(monkeypatch: pytest.MonkeyPatch) -> None:
    import ctypes.util

    from ranker.scorer import release_free_memory

    assert isinstance(release_free_memory(), bool)  # glibc here: trims; elsewhere: False
    monkeypatch.setattr(ctypes.util, "find_library", lambda _name: None)
    assert release_free_memory() is False
