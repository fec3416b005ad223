"""Response-template catalog for csbot: Jinja2 templates per dialogue act, rendered in a sandbox.

Typical use::

    from templates import load_catalog

    catalog = load_catalog()
    options = catalog.applicable({"authenticated", "order_identified"}, intent="cancel_order")
    text = catalog.render("cancel.kept.1", {"order_id": "A1001"})
"""

from __future__ import annotations

from templates.catalog import (
    ACT_INTENT,
    ACTS,
    BOUND_ACTIONS,
    DEFAULT_CATALOG_PATH,
    FACTS,
    INTENTS,
    SLOTS,
    Catalog,
    TemplateEntry,
    load_catalog,
)
from templates.errors import CatalogError, TemplateRenderError, UnknownTemplateError
from templates.render import LIST_SLOTS, ORDER_OPTION_KEYS

__all__ = [
    "ACTS",
    "ACT_INTENT",
    "BOUND_ACTIONS",
    "DEFAULT_CATALOG_PATH",
    "FACTS",
    "INTENTS",
    "LIST_SLOTS",
    "ORDER_OPTION_KEYS",
    "SLOTS",
    "Catalog",
    "CatalogError",
    "TemplateEntry",
    "TemplateRenderError",
    "UnknownTemplateError",
    "load_catalog",
]
