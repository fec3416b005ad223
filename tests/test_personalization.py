"""Personalization: confidences, ALS and fold-in, content vectors, the artifact, soft tokens and
the adapter (real ``implicit`` fits and the real packaged MiniLM)."""

from __future__ import annotations

import zipfile
from collections.abc import Iterator
from dataclasses import replace
from datetime import datetime
from decimal import Decimal
from pathlib import Path

import numpy as np
import pytest
import torch
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.domain import CustomerRecord, OrderLine
from dialogue.personalization.adapter import SoftTokenAdapter, soft_padding
from dialogue.personalization.artifact import ArtifactError, PersonalizationArtifact
from dialogue.personalization.cf import ALSConfig, fit_als, fold_in_customer
from dialogue.personalization.content import SentenceEncoder
from dialogue.personalization.fit import fit_personalization
from dialogue.personalization.history import (
    ConfidenceWeights,
    ItemText,
    OrderItems,
    item_text,
    load_history,
    world_fingerprint,
)
from dialogue.personalization.soft import SoftTokens
from dialogue.store import models, repository
from dialogue.store.session import make_engine, make_session_factory
from tests.conftest import copy_sqlite

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def encoder() -> SentenceEncoder:
    return SentenceEncoder()


@pytest.fixture(scope="module")
def world(small_world_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Session]:
    """A read-only session on a private copy of the small world (shared by the module)."""
    engine = make_engine(copy_sqlite(small_world_file, tmp_path_factory.mktemp("pz")))
    session = make_session_factory(engine)()
    try:
        yield session
    finally:
        session.close()
        engine.dispose()


@pytest.fixture(scope="module")
def artifact(world: Session, encoder: SentenceEncoder) -> PersonalizationArtifact:
    return fit_personalization(world, als=ALSConfig(factors=16, iterations=8), encoder=encoder)


# ---- history -------------------------------------------------------------------------------
def test_confidence_counts_units_and_discounts_cancelled_and_returned(world: Session) -> None:
    weights = ConfidenceWeights(purchased=1.0, cancelled=0.5, returned=0.25)
    history = load_history(world, weights)
    expected: dict[tuple[int, str], float] = {}
    for order in world.scalars(select(models.Order)):
        w = 0.5 if order.status == "cancelled" else 0.25 if order.returns else 1.0
        for line in order.items:
            key = (order.customer_id, line.catalog_item.sku)
            expected[key] = expected.get(key, 0.0) + w * line.quantity
    assert history.confidence == pytest.approx(expected)
    assert any(v % 1 for v in expected.values())  # the discounts are exercised
    for orders in history.orders.values():
        assert [o.placed_at for o in orders] == sorted((o.placed_at for o in orders), reverse=True)


def test_item_text_of_an_item_without_text_is_empty() -> None:
    assert item_text(ItemText("S1", "", "", ())) == ""
    text = item_text(ItemText("S2", "Water Bottle", "kitchen", (("color", "blue"),), "Keeps cold"))
    assert text == "Water Bottle. kitchen. color blue. Keeps cold"


def test_fingerprint_differs_between_worlds(world: Session, tmp_path: Path) -> None:
    from dialogue.store.session import upgrade
    from simulator.world import WorldConfig, seed_world

    url = f"sqlite:///{tmp_path / 'other.sqlite3'}"
    upgrade(url)
    engine = make_engine(url)
    with make_session_factory(engine)() as other, other.begin():
        seed_world(other, WorldConfig(seed=12, customers=20, items=15))
        assert world_fingerprint(other) != world_fingerprint(world)
    engine.dispose()


def test_fingerprint_of_an_empty_store_is_a_clear_error(
    store_sessions: sessionmaker[Session],
) -> None:
    with store_sessions() as session, pytest.raises(LookupError, match="world seed"):
        world_fingerprint(session)


# ---- ALS -----------------------------------------------------------------------------------
def _toy() -> tuple[dict[tuple[int, str], float], list[int], list[str]]:
    rng = np.random.default_rng(0)
    customers, skus = list(range(1, 41)), [f"S{j}" for j in range(30)]
    confidence = {}
    for c in customers:
        group = c % 3  # three tastes: each customer buys mostly within one block of items
        for j in rng.choice(10, size=4, replace=False):
            confidence[(c, skus[group * 10 + int(j)])] = 1.0 + float(rng.integers(0, 3))
    return confidence, customers, skus


def test_als_is_seeded_and_leaves_unseen_rows_at_zero() -> None:
    confidence, customers, skus = _toy()
    cfg = ALSConfig(factors=8, iterations=10, seed=3)
    a = fit_als(confidence, customers + [99], skus + ["UNSOLD"], cfg)
    b = fit_als(confidence, customers + [99], skus + ["UNSOLD"], cfg)
    np.testing.assert_array_equal(a.item_factors, b.item_factors)
    assert not a.customer_factors[-1].any() and not a.item_factors[-1].any()
    assert np.linalg.norm(a.item_factors[:-1], axis=1).min() > 0


def test_als_learns_the_tastes() -> None:
    confidence, customers, skus = _toy()
    cf = fit_als(confidence, customers, skus, ALSConfig(factors=8, iterations=15))
    scores = cf.customer_factors @ cf.item_factors.T  # (customers, items)
    block = np.asarray([int(np.argmax([scores[i, b * 10 : b * 10 + 10].sum() for b in range(3)]))
                        for i in range(len(customers))])  # fmt: skip
    assert (block == np.asarray(customers) % 3).mean() > 0.9


@pytest.mark.parametrize("bad", [float("nan"), -1.0, float("inf")])
def test_als_refuses_bad_confidences(bad: float) -> None:
    with pytest.raises(ValueError, match="confidence"):
        fit_als({(1, "S0"): bad}, [1], ["S0"])


def test_als_with_nothing_to_fit_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="no purchases"):
        fit_als({}, [1, 2], ["S0"])


def test_fold_in_matches_the_fitted_customer() -> None:
    confidence, customers, skus = _toy()
    cfg = ALSConfig(factors=8, iterations=15)
    cf = fit_als(confidence, customers, skus, cfg)
    col = {s: j for j, s in enumerate(skus)}
    for row, c in enumerate(customers[:10]):
        weights = {col[s]: w for (cc, s), w in confidence.items() if cc == c}
        folded = fold_in_customer(cf.item_factors, weights, cfg)
        fitted = cf.customer_factors[row]
        cosine = folded @ fitted / (np.linalg.norm(folded) * np.linalg.norm(fitted))
        assert cosine > 0.95
    assert not fold_in_customer(cf.item_factors, {}, cfg).any()


# ---- content -------------------------------------------------------------------------------
def test_content_vectors_are_unit_rows_and_blank_text_is_zero(encoder: SentenceEncoder) -> None:
    vectors = encoder(["Water Bottle (Blue). kitchen", "", "   ", "Office Chair. furniture"])
    assert vectors.shape == (4, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors[[0, 3]], axis=1), 1.0, rtol=1e-5)
    assert not vectors[1].any() and not vectors[2].any()
    query = encoder(["the blue water bottle"])[0]
    assert query @ vectors[0] > query @ vectors[3] + 0.2


# ---- artifact ------------------------------------------------------------------------------
def test_artifact_round_trip_and_fusion(artifact: PersonalizationArtifact, tmp_path: Path) -> None:
    path = artifact.save(tmp_path / "p.npz")
    loaded = PersonalizationArtifact.load(path, fingerprint=artifact.fingerprint)
    np.testing.assert_array_equal(loaded.item_factors, artifact.item_factors)
    assert loaded.orders == artifact.orders and loaded.als == artifact.als
    fused = loaded.item_vectors("both")
    assert fused.shape == (len(artifact.skus), 16 + 384)
    bought = np.linalg.norm(artifact.item_factors, axis=1) > 0
    # REGEN's scale: the CF parts have mean norm 1 over the items that have one.
    assert np.linalg.norm(fused[bought, :16], axis=1).mean() == pytest.approx(1.0, rel=1e-4)
    assert not loaded.item_vectors("content")[:, :16].any()
    assert not loaded.item_vectors("cf")[:, 16:].any()
    assert not loaded.item_vectors("none").any()
    state = PersonalizationArtifact.from_state(artifact.to_state())
    np.testing.assert_array_equal(state.item_content, artifact.item_content)


def test_artifact_from_another_world_is_refused(
    artifact: PersonalizationArtifact, tmp_path: Path
) -> None:
    path = artifact.save(tmp_path / "p.npz")
    with pytest.raises(ArtifactError, match="another world"):
        PersonalizationArtifact.load(path, fingerprint="0123456789abcdef")


def test_missing_truncated_or_foreign_files_are_clear_errors(
    artifact: PersonalizationArtifact, tmp_path: Path
) -> None:
    with pytest.raises(ArtifactError, match="personalize fit"):
        PersonalizationArtifact.load(tmp_path / "nothing.npz")
    path = artifact.save(tmp_path / "p.npz")
    (tmp_path / "cut.npz").write_bytes(path.read_bytes()[:200])
    with pytest.raises(ArtifactError):
        PersonalizationArtifact.load(tmp_path / "cut.npz")
    names = ("customers", "customer_factors", "skus", "item_factors", "item_content",
             "item_has_text")  # fmt: skip
    header = np.asarray('{"format": "something else"}')
    np.savez(tmp_path / "other.npz", header=header, **{k: np.zeros(1) for k in names})
    with pytest.raises(ArtifactError, match="not a personalization artifact"):
        PersonalizationArtifact.load(tmp_path / "other.npz")
    assert zipfile.is_zipfile(path)


def test_nan_or_misshapen_vectors_are_refused(artifact: PersonalizationArtifact) -> None:
    state = artifact.to_state()
    state["item_content"] = state["item_content"].clone()
    state["item_content"][0, 0] = float("nan")
    with pytest.raises(ArtifactError, match="NaN"):
        PersonalizationArtifact.from_state(state)
    state = artifact.to_state()
    state["item_factors"] = state["item_factors"][:-1]
    with pytest.raises(ArtifactError, match="shape"):
        PersonalizationArtifact.from_state(state)
    with pytest.raises(ArtifactError):
        PersonalizationArtifact.from_state({"header": "{}"})


def test_an_artifact_of_another_version_is_refused(
    artifact: PersonalizationArtifact, tmp_path: Path
) -> None:
    import json

    state = artifact.to_state()
    header = json.loads(state["header"])
    header["version"] = 99
    state["header"] = json.dumps(header)
    with pytest.raises(ArtifactError, match="version 99"):
        PersonalizationArtifact.from_state(state)


# ---- soft tokens ---------------------------------------------------------------------------
def _customer_with_orders(artifact: PersonalizationArtifact, n: int) -> int:
    return next(c for c, orders in sorted(artifact.orders.items()) if len(orders) >= n)


def test_sequence_is_customer_then_the_order_then_recent_items(
    artifact: PersonalizationArtifact,
) -> None:
    tokens = SoftTokens(artifact, n_tokens=6)
    customer = _customer_with_orders(artifact, 2)
    orders = artifact.orders[customer]
    older = orders[-1]
    seq = tokens.for_customer(customer, older.order_number)
    assert 2 <= seq.size(0) <= 6 and seq.size(1) == artifact.dim
    first = artifact.item_row(older.skus[0])
    assert first is not None
    np.testing.assert_allclose(seq[1].numpy(), artifact.item_vectors("both")[first], rtol=1e-6)
    row = artifact.customer_row(customer)
    assert row is not None
    np.testing.assert_allclose(
        seq[0, : artifact.factors].numpy(),
        artifact.customer_factors[row] / artifact.cf_scale,
        rtol=1e-5,
    )
    assert tokens.for_customer(customer, older.order_number) is seq  # cached


def test_no_history_no_customer_or_mode_none_give_no_tokens(
    artifact: PersonalizationArtifact,
) -> None:
    tokens = SoftTokens(artifact)
    assert tokens.sequence(10_000, []).shape == (0, artifact.dim)
    assert tokens.for_customer(None).shape == (0, artifact.dim)
    customer = _customer_with_orders(artifact, 1)
    assert SoftTokens(artifact, mode="none").for_customer(customer).shape == (0, artifact.dim)
    with pytest.raises(ValueError):
        SoftTokens(artifact, n_tokens=0)


def test_a_new_customer_is_folded_in_and_an_unknown_item_without_encoder_is_left_out(
    artifact: PersonalizationArtifact,
) -> None:
    tokens = SoftTokens(artifact, mode="cf")
    bought = [s for i, s in enumerate(artifact.skus.tolist()) if artifact.item_factors[i].any()]
    orders = [OrderItems("#NEW1", datetime(2026, 1, 1), (bought[0], bought[1], "NOT-IN-FIT"))]
    seq = tokens.sequence(10_000, orders)  # a customer the fit has never seen
    assert seq.size(0) == 3  # the folded-in customer and the two known items
    assert seq[0, : artifact.factors].abs().sum() > 0


def test_an_unknown_item_is_folded_in_from_its_text(
    artifact: PersonalizationArtifact, encoder: SentenceEncoder
) -> None:
    tokens = SoftTokens(artifact, encoder=encoder)
    text = ItemText("NEW-SKU", "Blue Water Bottle", "kitchen", (("color", "blue"),))
    seq = tokens.sequence(10_001, [OrderItems("#N", datetime(2026, 1, 1), ("NEW-SKU",))],
                          texts={"NEW-SKU": text})  # fmt: skip
    assert seq.size(0) == 2  # the customer (content only) and the new item
    assert not seq[1, : artifact.factors].any()  # no one's purchases: no CF part
    np.testing.assert_allclose(seq[1, artifact.factors :].numpy(), encoder([item_text(text)])[0],
                               rtol=1e-5)  # fmt: skip
    blank = ItemText("BLANK", "", "", ())
    empty = tokens.sequence(10_002, [OrderItems("#B", datetime(2026, 1, 1), ("BLANK",))],
                            texts={"BLANK": blank})  # fmt: skip
    assert empty.shape == (0, artifact.dim)  # neither CF nor text: nothing to read


def test_record_sequence_uses_the_live_store(
    artifact: PersonalizationArtifact, world: Session
) -> None:
    customer = _customer_with_orders(artifact, 2)
    record = repository.customer_record(world, customer)
    assert record is not None
    tokens = SoftTokens(artifact)
    live = tokens.for_record(record, record.orders[0].order_number)
    snapshot = tokens.for_customer(customer, record.orders[0].order_number)
    torch.testing.assert_close(live, snapshot)
    # An order placed after the fit, of an item the fit never saw (no encoder: left out).
    line = OrderLine("Mystery Box", "misc", (), 1, Decimal("1.00"), sku="NEVER-SEEN")
    new = replace(record.orders[0], order_number="#W0000001", lines=(line,))
    newer = CustomerRecord(record.profile, (new, *record.orders))
    seq = tokens.for_record(newer, "#W0000001")
    torch.testing.assert_close(seq, snapshot if snapshot.size(0) < 8 else seq)


# ---- adapter -------------------------------------------------------------------------------
def test_adapter_projects_and_keeps_padding_at_zero() -> None:
    torch.manual_seed(0)
    adapter = SoftTokenAdapter(20, 12, hidden=16, max_tokens=4)
    soft = torch.randn(2, 6, 20)
    soft[1, 2:] = 0.0
    soft[0, 1, 3] = float("nan")
    out = adapter(soft)
    assert out.shape == (2, 4, 12)  # longer sequences are cut to max_tokens
    assert torch.isfinite(out).all()
    assert not out[1, 2:].any() and out[1, :2].abs().sum() > 0
    assert soft_padding(soft[:, :4]).tolist() == [[False] * 4, [False, False, True, True]]
    with pytest.raises(ValueError, match="soft tokens"):
        adapter(torch.zeros(2, 3, 7))
