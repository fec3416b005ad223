"""The personalization artifact: fused CF + content vectors of one world, versioned, in one file.

REGEN's fusion: an item's CF vector divided by the mean CF norm over the catalog (so the two parts
have comparable scale), concatenated with its content vector. The artifact keeps both parts apart
and fuses on read, so the ablation's modes (none / CF / content / both) read one file.

The file is a NumPy ``.npz`` (no pickles) holding the arrays and a JSON header: format version,
the world's fingerprint, the fit's settings and each customer's orders (the sequences the
models read at training time).
"""

from __future__ import annotations

import json
import os
import tempfile
import zipfile
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np

from dialogue.personalization.cf import ALSConfig
from dialogue.personalization.content import CONTENT_DIM
from dialogue.personalization.history import ConfidenceWeights, OrderItems

__all__ = [
    "ARTIFACT_VERSION",
    "MODES",
    "ArtifactError",
    "Mode",
    "PersonalizationArtifact",
]

ARTIFACT_VERSION = 1
Mode = Literal["none", "cf", "content", "both"]
MODES: tuple[Mode, ...] = ("none", "cf", "content", "both")
_ARRAYS = ("customers", "customer_factors", "skus", "item_factors", "item_content", "item_has_text")


class ArtifactError(ValueError):
    """The artifact is missing, malformed, of another version, or of another world."""


@dataclass
class PersonalizationArtifact:
    fingerprint: str
    customers: np.ndarray  # (n_customers,) int64 store ids
    customer_factors: np.ndarray  # (n_customers, k) float32
    skus: np.ndarray  # (n_items,) str
    item_factors: np.ndarray  # (n_items, k) float32; zero for an item no one bought
    item_content: np.ndarray  # (n_items, 384) float32 unit rows; zero for an item with no text
    item_has_text: np.ndarray  # (n_items,) bool
    als: ALSConfig = field(default_factory=ALSConfig)
    weights: ConfidenceWeights = field(default_factory=ConfidenceWeights)
    orders: dict[int, list[OrderItems]] = field(default_factory=dict)
    fit_seconds: float = 0.0

    def __post_init__(self) -> None:
        self.validate()
        self._row = {str(s): i for i, s in enumerate(self.skus.tolist())}
        self._customer_row = {int(c): i for i, c in enumerate(self.customers.tolist())}
        norms = np.linalg.norm(self.item_factors, axis=1)
        bought = norms > 0
        # REGEN's scale: the mean CF norm over the items that have a CF vector.
        self.cf_scale = float(norms[bought].mean()) if bought.any() else 1.0

    @property
    def factors(self) -> int:
        return int(self.item_factors.shape[1])

    @property
    def dim(self) -> int:
        """Width of a fused vector: CF factors + 384 content dimensions."""
        return self.factors + CONTENT_DIM

    def validate(self) -> None:
        """Raise :class:`ArtifactError` unless every array has its shape and only finite values."""
        n_items, n_customers = len(self.skus), len(self.customers)
        if n_items == 0:
            raise ArtifactError("the artifact has no items")
        k = self.item_factors.shape[1] if self.item_factors.ndim == 2 else -1
        expected = {
            "customer_factors": (n_customers, k),
            "item_factors": (n_items, k),
            "item_content": (n_items, CONTENT_DIM),
            "item_has_text": (n_items,),
        }
        for name, shape in expected.items():
            got = getattr(self, name).shape
            if got != shape or k <= 0:
                raise ArtifactError(f"{name} has shape {got}, expected {shape}")
        for name in ("customer_factors", "item_factors", "item_content"):
            if not np.isfinite(getattr(self, name)).all():
                raise ArtifactError(f"{name} holds NaN or infinite values")
        if len(set(self.skus.tolist())) != n_items:
            raise ArtifactError("the artifact lists an item twice")

    def item_row(self, sku: str) -> int | None:
        return self._row.get(sku)

    def customer_row(self, customer_id: int) -> int | None:
        return self._customer_row.get(customer_id)

    def fuse(self, cf: np.ndarray, content: np.ndarray, mode: Mode) -> np.ndarray:
        """REGEN's fused vector(s): ``cf / mean CF norm`` ⊕ ``content``; a mode zeroes a part."""
        cf_part = cf / self.cf_scale if mode in ("cf", "both") else np.zeros_like(cf)
        content_part = content if mode in ("content", "both") else np.zeros_like(content)
        return np.concatenate([cf_part, content_part], axis=-1).astype(np.float32)

    def item_vectors(self, mode: Mode) -> np.ndarray:
        """(n_items, dim) fused vectors of the whole catalog."""
        return self.fuse(self.item_factors, self.item_content, mode)

    # ---- file -----------------------------------------------------------------------------
    def header(self) -> dict[str, Any]:
        return {
            "format": "csbot-personalization",
            "version": ARTIFACT_VERSION,
            "fingerprint": self.fingerprint,
            "als": self.als.to_json(),
            "weights": self.weights.to_json(),
            "fit_seconds": round(self.fit_seconds, 3),
            "orders": {
                str(c): [[o.order_number, o.placed_at.isoformat(), list(o.skus)] for o in rows]
                for c, rows in self.orders.items()
            },
        }

    def to_state(self) -> dict[str, Any]:
        """The artifact as plain tensors and JSON (what a model checkpoint embeds)."""
        import torch

        state: dict[str, Any] = {"header": json.dumps(self.header()), "skus": self.skus.tolist()}
        for name in ("customers", "customer_factors", "item_factors", "item_content"):
            state[name] = torch.from_numpy(np.ascontiguousarray(getattr(self, name)))
        state["item_has_text"] = torch.from_numpy(self.item_has_text.astype(np.bool_))
        return state

    @classmethod
    def from_state(cls, state: Any) -> PersonalizationArtifact:
        """Inverse of :meth:`to_state` (raises :class:`ArtifactError` if malformed)."""
        try:
            arrays = {name: state[name].numpy() for name in _ARRAYS if name != "skus"}
            arrays["skus"] = np.asarray(list(state["skus"]), dtype=np.str_)
            return cls._from_parts(json.loads(state["header"]), arrays, "the checkpoint")
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"malformed personalization state: {exc}") from exc

    def save(self, path: Path) -> Path:
        """Write the artifact atomically (a temporary file renamed over ``path``)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays["skus"] = np.asarray(self.skus, dtype=np.str_)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npz.tmp")
        try:
            with os.fdopen(fd, "wb") as f:
                np.savez(f, header=np.asarray(json.dumps(self.header())), **arrays)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return path

    @classmethod
    def load(cls, path: Path, *, fingerprint: str | None = None) -> PersonalizationArtifact:
        """Read an artifact, checking its format, version, arrays and (if given) its world.

        Raises:
            ArtifactError: The file is missing or malformed, of another version, or fitted on
                another world than ``fingerprint``.
        """
        if not path.is_file():
            raise ArtifactError(
                f"no personalization artifact at {path}; run `csbot personalize fit`"
            )
        try:
            with np.load(path, allow_pickle=False) as npz:
                header = json.loads(str(npz["header"]))
                arrays = {name: npz[name] for name in _ARRAYS}
        except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
            raise ArtifactError(f"{path} is not a personalization artifact: {exc}") from exc
        return cls._from_parts(header, arrays, str(path), fingerprint=fingerprint)

    @classmethod
    def _from_parts(
        cls,
        header: Any,
        arrays: dict[str, np.ndarray],
        where: str,
        *,
        fingerprint: str | None = None,
    ) -> PersonalizationArtifact:
        if not isinstance(header, dict) or header.get("format") != "csbot-personalization":
            raise ArtifactError(f"{where} is not a personalization artifact")
        if header.get("version") != ARTIFACT_VERSION:
            raise ArtifactError(
                f"{where} is artifact version {header.get('version')}, this csbot reads "
                f"{ARTIFACT_VERSION}; run `csbot personalize fit` again"
            )
        if fingerprint is not None and header.get("fingerprint") != fingerprint:
            raise ArtifactError(
                f"{where} was fitted on another world ({header.get('fingerprint')}, this store "
                f"holds {fingerprint}); run `csbot personalize fit` on this store"
            )
        try:
            orders = {
                int(c): [
                    OrderItems(str(n), datetime.fromisoformat(t), tuple(map(str, s)))
                    for n, t, s in rows
                ]  # fmt: skip
                for c, rows in header.get("orders", {}).items()
            }
            return cls(
                fingerprint=str(header["fingerprint"]),
                customers=arrays["customers"].astype(np.int64),
                customer_factors=arrays["customer_factors"].astype(np.float32),
                skus=arrays["skus"].astype(np.str_),
                item_factors=arrays["item_factors"].astype(np.float32),
                item_content=arrays["item_content"].astype(np.float32),
                item_has_text=arrays["item_has_text"].astype(bool),
                als=ALSConfig(**header["als"]),
                weights=ConfidenceWeights(**header["weights"]),
                orders=orders,
                fit_seconds=float(header.get("fit_seconds", 0.0)),
            )
        except ArtifactError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ArtifactError(f"{where} has a malformed header: {exc}") from exc
