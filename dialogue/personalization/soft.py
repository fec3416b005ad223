"""The soft-token input both models read: a short sequence of fused vectors per turn.

The sequence (at most ``n_tokens`` rows, each :attr:`PersonalizationArtifact.dim` wide):

1. the customer: their CF vector and the mean content of what they bought (a customer the fit
   has not seen is folded in from their orders with ``recalculate_user``);
2. the items of the order the conversation is about, if one is identified;
3. the customer's other items, newest order first (each item once).

Each model's :class:`~dialogue.personalization.adapter.SoftTokenAdapter` projects these rows into
its own hidden size. An item the fit has not seen is folded in from its text (content only); one
with neither CF nor text is left out. No history at all gives an empty sequence: the models then
read no soft tokens. Sequences are cached per customer, order and history.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor

from dialogue.domain import CustomerRecord
from dialogue.personalization.artifact import Mode, PersonalizationArtifact
from dialogue.personalization.cf import CustomerFoldIn
from dialogue.personalization.content import CONTENT_DIM, SentenceEncoder
from dialogue.personalization.history import ItemText, OrderItems, item_text, line_item

__all__ = ["SoftTokens", "orders_of"]


def orders_of(record: CustomerRecord) -> list[OrderItems]:
    """A store record's orders as personalization reads them (newest first)."""
    return [
        OrderItems(o.order_number, o.placed_at, tuple(line.sku for line in o.lines if line.sku))
        for o in record.orders
    ]


class SoftTokens:
    """Builds (and caches) the soft-token sequence of a customer's turn.

    Args:
        artifact: The fitted vectors.
        mode: Which parts to keep: ``both`` (REGEN), ``cf``, ``content`` or ``none`` (no tokens).
        n_tokens: Longest sequence.
        encoder: Sentence encoder for items the artifact does not hold (content fold-in); without
            one such items are left out.
        cache_size: Sequences kept.
    """

    def __init__(
        self,
        artifact: PersonalizationArtifact,
        *,
        mode: Mode = "both",
        n_tokens: int = 8,
        encoder: SentenceEncoder | None = None,
        cache_size: int = 4096,
    ) -> None:
        if n_tokens < 1:
            raise ValueError(f"n_tokens must be at least 1, got {n_tokens}")
        self.artifact = artifact
        self.mode = mode
        self.n_tokens = n_tokens
        self.encoder = encoder
        self.cache_size = cache_size
        self._fused = artifact.item_vectors(mode)
        self._new_items: dict[str, np.ndarray] = {}
        self._fold_in: CustomerFoldIn | None = None
        self._cache: OrderedDict[tuple[object, ...], Tensor] = OrderedDict()
        self._lock = threading.Lock()

    @property
    def dim(self) -> int:
        return self.artifact.dim

    def for_record(self, record: CustomerRecord, order_number: str | None = None) -> Tensor:
        """The sequence for an authenticated customer's record as the store holds it now."""
        texts = {line.sku: line_item(line) for o in record.orders for line in o.lines if line.sku}
        return self.sequence(record.profile.id, orders_of(record), order_number, texts)

    def for_customer(self, customer_id: int | None, order_number: str | None = None) -> Tensor:
        """The sequence from the artifact's own snapshot of the customer's orders (training)."""
        orders = self.artifact.orders.get(customer_id, []) if customer_id is not None else []
        return self.sequence(customer_id, orders, order_number)

    def sequence(
        self,
        customer_id: int | None,
        orders: Sequence[OrderItems],
        order_number: str | None = None,
        texts: dict[str, ItemText] | None = None,
    ) -> Tensor:
        """(S, dim) float32 with S ≤ ``n_tokens``; (0, dim) when there is nothing to read."""
        if self.mode == "none" or customer_id is None:
            return torch.zeros(0, self.dim)
        key = (customer_id, order_number, tuple((o.order_number, o.skus) for o in orders))
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None:
                self._cache.move_to_end(key)
                return hit
        out = torch.from_numpy(self._build(customer_id, orders, order_number, texts or {}))
        with self._lock:
            self._cache[key] = out
            if len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return out

    # ---- building -------------------------------------------------------------------------
    def _item(self, sku: str, texts: dict[str, ItemText]) -> np.ndarray | None:
        row = self.artifact.item_row(sku)
        if row is not None:
            vec = self._fused[row]
        else:
            vec = self._fold_in_item(sku, texts.get(sku))
        return vec if vec is not None and np.any(vec) else None

    def _fold_in_item(self, sku: str, text: ItemText | None) -> np.ndarray | None:
        """An item the fit has not seen: content only (no one's purchases are in the fit)."""
        if sku in self._new_items:
            return self._new_items[sku]
        if text is None or self.encoder is None or not item_text(text):
            return None
        content = self.encoder([item_text(text)])[0]
        vec = self.artifact.fuse(np.zeros(self.artifact.factors, np.float32), content, self.mode)
        self._new_items[sku] = vec
        return vec

    def _customer(
        self, customer_id: int, skus: list[str], texts: dict[str, ItemText]
    ) -> np.ndarray | None:
        art = self.artifact
        row = art.customer_row(customer_id)
        cf = art.customer_factors[row] if row is not None else np.zeros(art.factors, np.float32)
        known = [r for r in (art.item_row(s) for s in skus) if r is not None]
        if not np.any(cf) and known:  # not in the fit: fold in from the purchases
            weights: dict[int, float] = {}
            for r in known:
                weights[r] = weights.get(r, 0.0) + art.weights.purchased
            if self._fold_in is None:
                self._fold_in = CustomerFoldIn(art.item_factors, art.als)
            cf = self._fold_in(weights)
        contents = [art.item_content[r] for r in known if art.item_has_text[r]]
        contents += [v[art.factors :] for s in skus if (v := self._new_items.get(s)) is not None]
        content = np.mean(contents, axis=0) if contents else np.zeros(CONTENT_DIM, np.float32)
        norm = float(np.linalg.norm(content))
        if norm > 0:
            content = content / norm
        vec = art.fuse(cf, content.astype(np.float32), self.mode)
        return vec if np.any(vec) else None

    def _build(
        self,
        customer_id: int,
        orders: Sequence[OrderItems],
        order_number: str | None,
        texts: dict[str, ItemText],
    ) -> np.ndarray:
        ordered = [o for o in orders if o.order_number == order_number]
        ordered += [o for o in orders if o.order_number != order_number]
        skus = list(dict.fromkeys(s for o in ordered for s in o.skus))
        rows: list[np.ndarray] = []
        items = [v for s in skus if (v := self._item(s, texts)) is not None]
        person = self._customer(customer_id, skus, texts)
        if person is not None:
            rows.append(person)
        rows.extend(items[: self.n_tokens - len(rows)])
        if not rows:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.stack(rows).astype(np.float32)
