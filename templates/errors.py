"""Exceptions raised by the response-template catalog."""

from __future__ import annotations

__all__ = ["CatalogError", "TemplateRenderError", "UnknownTemplateError"]


class CatalogError(ValueError):
    """The catalog is invalid (bad entry, missing file, template problem) or a lookup failed."""


class UnknownTemplateError(CatalogError, KeyError):
    """No template with the requested id; both a :class:`CatalogError` and a ``KeyError``."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


class TemplateRenderError(ValueError):
    """A template could not be rendered: a missing or ill-typed slot, or a template failure."""
