"""The response-template catalog: vocabulary, loading, validation, lookup and rendering.

The catalog is a TOML file (``catalog.toml``) holding a list of ``[[template]]`` tables, each
pointing at one Jinja2 file. Loading validates every entry against the vocabularies below and
compiles every template once; any problem makes the whole catalog fail with :class:`CatalogError`
naming the entry.
"""

from __future__ import annotations

import functools
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType

import jinja2

from templates.errors import CatalogError, UnknownTemplateError
from templates.render import compile_template, make_environment, prepare_slots, render_compiled

_COMMON_ACTS = (
    "greeting", "greeting_named", "request_auth", "request_auth_zip", "auth_failed",
    "auth_success", "auth_policy", "request_order", "order_not_found", "disambiguate_order",
    "confirm_order", "no_eligible_orders", "clarify", "empathy", "handoff", "handoff_requested",
    "out_of_scope", "anything_else", "closing", "message_too_long", "empty_message",
    "unsupported_input",
)  # fmt: skip
_REFUND_ACTS = (
    "refund_not_started", "refund_in_progress", "refund_completed", "refund_failed",
    "refund_none", "refund_policy",
)  # fmt: skip
_CANCEL_ACTS = (
    "request_cancel_reason", "request_cancel_confirmation", "cancel_done", "cancel_kept",
    "cannot_cancel_shipped", "cannot_cancel_shipped_member", "cannot_cancel_delivered",
    "already_cancelled", "cancel_policy",
)  # fmt: skip

ACT_INTENT: Mapping[str, str] = MappingProxyType(
    {act: "common" for act in _COMMON_ACTS}
    | {act: "refund_status" for act in _REFUND_ACTS}
    | {act: "cancel_order" for act in _CANCEL_ACTS}
)
"""The intent every dialogue act belongs to; an entry's ``intent`` must match its act's."""

INTENTS: frozenset[str] = frozenset({"refund_status", "cancel_order", "common"})
ACTS: frozenset[str] = frozenset(ACT_INTENT)
FACTS: frozenset[str] = frozenset({
    "authenticated", "not_authenticated", "order_identified", "multiple_candidate_orders",
    "order_cancellable", "order_shipped", "order_delivered", "order_cancelled",
    "refund_not_started", "refund_in_progress", "refund_completed", "refund_failed",
    "refund_none", "cancel_reason_known", "cancel_confirmed", "member_priority",
})  # fmt: skip
SLOTS: frozenset[str] = frozenset({
    "first_name", "order_id", "order_ref", "item_summary", "order_total", "order_date",
    "refund_amount", "refund_method", "refund_date", "expected_date", "refund_timing",
    "shipped_date", "delivered_date", "cancelled_date", "membership", "order_options",
})  # fmt: skip
BOUND_ACTIONS: frozenset[str] = frozenset({"cancel_order", "handoff", "end_conversation"})

DEFAULT_CATALOG_PATH = Path(__file__).with_name("catalog.toml")
_ENTRY_KEYS = frozenset(
    {"id", "intent", "act", "file", "slots", "preconditions", "unless", "action"}
)
_REQUIRED_KEYS = frozenset({"id", "intent", "act", "file", "slots"})


@dataclass(frozen=True)
class TemplateEntry:
    """One catalog entry: a response template and the conditions under which it may be used.

    Attributes:
        id: Unique template id, e.g. ``"cancel.done.2"``.
        intent: ``"refund_status"``, ``"cancel_order"`` or ``"common"``.
        act: The dialogue act the template realises (one of :data:`ACTS`).
        slots: Required slot names, sorted; exactly the variables the template uses.
        preconditions: Facts (from :data:`FACTS`) that must all hold for the template to apply.
        action: Bound action (one of :data:`BOUND_ACTIONS`) or ``None``.
        source: The raw Jinja2 source text.
        unless: Facts none of which may hold: the policy's other branch. The generic "it has
            shipped" reply carries ``unless = ["member_priority"]`` because members get the
            member reply (a free return label) instead; without it the ranker could offer a
            member the generic one.
    """

    id: str
    intent: str
    act: str
    slots: tuple[str, ...]
    preconditions: frozenset[str]
    action: str | None
    source: str
    unless: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        object.__setattr__(self, "slots", tuple(sorted(set(self.slots))))
        object.__setattr__(self, "preconditions", frozenset(self.preconditions))
        object.__setattr__(self, "unless", frozenset(self.unless))

    def applicable(self, facts: frozenset[str] | set[str]) -> bool:
        """Tell whether every precondition holds and no ``unless`` fact does.

        Args:
            facts: The facts that currently hold.

        Returns:
            ``True`` if ``preconditions`` is a subset of ``facts`` and ``unless`` is disjoint
            from it.
        """
        return self.preconditions <= facts and self.unless.isdisjoint(facts)


def _check_vocabulary(entry: TemplateEntry) -> None:
    where = f"template {entry.id!r}"
    if entry.intent not in INTENTS:
        raise CatalogError(f"{where}: unknown intent {entry.intent!r}")
    if entry.act not in ACTS:
        raise CatalogError(f"{where}: unknown act {entry.act!r}")
    if ACT_INTENT[entry.act] != entry.intent:
        raise CatalogError(
            f"{where}: act {entry.act!r} belongs to intent {ACT_INTENT[entry.act]!r}, "
            f"not {entry.intent!r}"
        )
    if unknown := sorted(set(entry.slots) - SLOTS):
        raise CatalogError(f"{where}: unknown slot(s) {unknown}")
    if unknown := sorted((entry.preconditions | entry.unless) - FACTS):
        raise CatalogError(f"{where}: unknown fact(s) {unknown}")
    if both := sorted(entry.preconditions & entry.unless):
        raise CatalogError(f"{where}: fact(s) {both} both required and excluded (never applies)")
    if entry.action is not None and entry.action not in BOUND_ACTIONS:
        raise CatalogError(f"{where}: unknown action {entry.action!r}")


class Catalog:
    """A validated, compiled set of response templates.

    Args:
        entries: The entries, in catalog order. Each is validated and compiled here.

    Raises:
        CatalogError: A duplicate id, an unknown intent/act/slot/fact/action, or a template that
            fails to parse or whose variables differ from its declared slots.
    """

    def __init__(self, entries: Iterable[TemplateEntry]) -> None:
        self.entries: tuple[TemplateEntry, ...] = tuple(entries)
        env = make_environment()
        self._by_id: dict[str, TemplateEntry] = {}
        self._compiled: dict[str, jinja2.Template] = {}
        for entry in self.entries:
            if entry.id in self._by_id:
                raise CatalogError(f"duplicate template id {entry.id!r}")
            _check_vocabulary(entry)
            self._compiled[entry.id] = compile_template(env, entry.id, entry.source, entry.slots)
            self._by_id[entry.id] = entry

    def __len__(self) -> int:
        return len(self.entries)

    def __repr__(self) -> str:
        return f"Catalog({len(self.entries)} templates, {len(self.acts())} acts)"

    def get(self, template_id: str) -> TemplateEntry:
        """Look up an entry by id.

        Args:
            template_id: The template id.

        Returns:
            The entry.

        Raises:
            UnknownTemplateError: No such id (a ``CatalogError`` and a ``KeyError``).
        """
        try:
            return self._by_id[template_id]
        except KeyError:
            raise UnknownTemplateError(f"unknown template id {template_id!r}") from None

    def by_act(self, act: str) -> tuple[TemplateEntry, ...]:
        """Return the entries realising a dialogue act, in catalog order (empty if none)."""
        return tuple(entry for entry in self.entries if entry.act == act)

    def acts(self) -> frozenset[str]:
        """Return the set of acts that have at least one template."""
        return frozenset(entry.act for entry in self.entries)

    def applicable(
        self, facts: frozenset[str] | set[str], *, intent: str | None = None
    ) -> tuple[TemplateEntry, ...]:
        """Return the entries whose preconditions all hold, in catalog order.

        Args:
            facts: The facts that currently hold; each must be one of :data:`FACTS`.
            intent: If given, keep only entries of this intent and of ``"common"``.

        Returns:
            The applicable entries.

        Raises:
            ValueError: An unknown fact or intent (a typo would silently hide templates).
        """
        held = frozenset(facts)
        if unknown := sorted(held - FACTS):
            raise ValueError(f"unknown fact(s) {unknown}")
        if intent is not None and intent not in INTENTS:
            raise ValueError(f"unknown intent {intent!r}")
        return tuple(
            entry
            for entry in self.entries
            if entry.applicable(held) and (intent is None or entry.intent in (intent, "common"))
        )

    def render(self, template_id: str, slots: Mapping[str, object]) -> str:
        """Render a template into one chat message.

        Args:
            template_id: The template id.
            slots: Slot values: preformatted ``str`` values (``order_options``: a sequence of
                mappings with ``str`` values). Slots beyond the required ones are ignored.

        Returns:
            The reply as plain, HTML-escaped text with whitespace runs collapsed.

        Raises:
            UnknownTemplateError: No such id.
            TemplateRenderError: A required slot is missing, a value has the wrong type, or the
                template fails (undefined attribute, sandbox violation).
        """
        entry = self.get(template_id)
        context = prepare_slots(entry.id, entry.slots, slots)
        return render_compiled(entry.id, self._compiled[entry.id], context)


def _str_list(where: str, key: str, value: object) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise CatalogError(f"{where}: {key!r} must be a list of strings")
    if len(set(value)) != len(value):
        raise CatalogError(f"{where}: {key!r} has duplicates")
    return list(value)


def _parse_entry(root: Path, index: int, table: object) -> TemplateEntry:
    if not isinstance(table, dict):
        raise CatalogError(f"template #{index}: must be a table")
    template_id = table.get("id")
    if not isinstance(template_id, str) or not template_id:
        raise CatalogError(f"template #{index}: 'id' must be a non-empty string")
    where = f"template {template_id!r}"
    if missing := sorted(_REQUIRED_KEYS - table.keys()):
        raise CatalogError(f"{where}: missing key(s) {missing}")
    if extra := sorted(table.keys() - _ENTRY_KEYS):
        raise CatalogError(f"{where}: unknown key(s) {extra}")
    for key in ("intent", "act", "file"):
        if not isinstance(table[key], str):
            raise CatalogError(f"{where}: {key!r} must be a string")
    action = table.get("action")
    if action is not None and not isinstance(action, str):
        raise CatalogError(f"{where}: 'action' must be a string")
    file_name: str = table["file"]
    expected_name = template_id.replace(".", "_") + ".j2"
    if Path(file_name).name != expected_name:
        raise CatalogError(f"{where}: file {file_name!r} must be named {expected_name!r}")
    path = (root / file_name).resolve()
    if not path.is_relative_to(root.resolve()):
        raise CatalogError(f"{where}: file {file_name!r} lies outside the catalog folder")
    try:
        source = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise CatalogError(f"{where}: cannot read file {file_name!r}: {exc}") from exc
    return TemplateEntry(
        id=template_id,
        intent=table["intent"],
        act=table["act"],
        slots=tuple(_str_list(where, "slots", table["slots"])),
        preconditions=frozenset(_str_list(where, "preconditions", table.get("preconditions", []))),
        action=action,
        source=source,
        unless=frozenset(_str_list(where, "unless", table.get("unless", []))),
    )


def _load(path: Path) -> Catalog:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise CatalogError(f"cannot read catalog {str(path)!r}: {exc}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise CatalogError(f"catalog {str(path)!r} is not valid TOML: {exc}") from exc
    if extra := sorted(data.keys() - {"template"}):
        raise CatalogError(f"catalog {str(path)!r}: unknown top-level key(s) {extra}")
    tables = data.get("template", [])
    if not isinstance(tables, list):
        raise CatalogError(f"catalog {str(path)!r}: 'template' must be an array of tables")
    return Catalog(_parse_entry(path.parent, i, table) for i, table in enumerate(tables))


@functools.lru_cache(maxsize=1)
def _load_default() -> Catalog:
    return _load(DEFAULT_CATALOG_PATH)


def load_catalog(path: Path | None = None) -> Catalog:
    """Load, validate and compile a template catalog.

    Args:
        path: A ``catalog.toml`` file; template files are resolved relative to its folder.
            ``None`` loads the packaged catalog (cached after the first call).

    Returns:
        The catalog.

    Raises:
        CatalogError: The catalog or any entry is invalid; the message names the entry.
    """
    if path is None:
        return _load_default()
    return _load(Path(path))
