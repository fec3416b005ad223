"""Tests for the response-template catalog (``templates``)."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal
from pathlib import Path

import jinja2
import pytest
from markupsafe import Markup

from templates import (
    ACT_INTENT,
    ACTS,
    BOUND_ACTIONS,
    FACTS,
    SLOTS,
    Catalog,
    CatalogError,
    TemplateEntry,
    TemplateRenderError,
    load_catalog,
)

CATALOG = load_catalog()
ENTRIES = CATALOG.entries

ORDER_OPTIONS = [
    {
        "order_id": "W7001",
        "item_summary": "a blue ceramic mug",
        "order_date": "October 2, 2026",
        "status": "processing",
    },
    {
        "order_id": "W7002",
        "item_summary": "two cotton towels",
        "order_date": "October 9, 2026",
        "status": "shipped",
    },
]

EXAMPLE_SLOTS: dict[str, object] = {
    "first_name": "Priya",
    "order_id": "W4821",
    "order_ref": "the red sneakers",
    "item_summary": "a pair of red running shoes",
    "order_total": "$89.99",
    "order_date": "October 28, 2026",
    "refund_amount": "$42.50",
    "refund_method": "your Visa ending in 4242",
    "refund_date": "November 3, 2026",
    "expected_date": "November 10, 2026",
    "refund_timing": "within 5–7 business days",
    "shipped_date": "October 30, 2026",
    "delivered_date": "November 1, 2026",
    "cancelled_date": "October 29, 2026",
    "membership": "Gold",
    "order_options": ORDER_OPTIONS,
}

EXPECTED_ACTION = {
    "handoff": "handoff",
    "handoff_requested": "handoff",
    "out_of_scope": "handoff",
    "refund_failed": "handoff",
    "closing": "end_conversation",
    "cancel_done": "cancel_order",
}


def _slots_for(entry: TemplateEntry) -> dict[str, object]:
    return {name: EXAMPLE_SLOTS[name] for name in entry.slots}


def _toml_value(value: object) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    assert isinstance(value, list)
    return "[" + ", ".join(_toml_value(item) for item in value) + "]"


def _write_catalog(
    root: Path, tables: list[dict[str, object]], files: dict[str, str], raw: str = ""
) -> Path:
    """Write a catalog.toml plus template files under ``root`` and return the TOML path."""
    lines = [raw]
    for table in tables:
        lines.append("[[template]]")
        lines.extend(f"{key} = {_toml_value(value)}" for key, value in table.items())
        lines.append("")
    path = root / "catalog.toml"
    path.write_text("\n".join(lines), encoding="utf-8")
    for name, source in files.items():
        file_path = root / name
        file_path.parent.mkdir(parents=True, exist_ok=True)
        file_path.write_text(source, encoding="utf-8")
    return path


def _table(
    template_id: str,
    act: str,
    *,
    intent: str = "common",
    slots: list[str] | None = None,
    preconditions: list[str] | None = None,
    **extra: object,
) -> dict[str, object]:
    table: dict[str, object] = {
        "id": template_id,
        "intent": intent,
        "act": act,
        "file": "t/" + template_id.replace(".", "_") + ".j2",
        "slots": slots or [],
        "preconditions": preconditions or [],
    }
    table.update(extra)
    return table


def _file(template_id: str) -> str:
    return "t/" + template_id.replace(".", "_") + ".j2"


def _single(tmp_path: Path, source: str, slots: list[str] | None = None) -> Catalog:
    """A one-template catalog (id ``t.x.1``, act ``greeting``) with the given source."""
    table = _table("t.x.1", "greeting", slots=slots)
    return load_catalog(_write_catalog(tmp_path, [table], {_file("t.x.1"): source}))


# --- the packaged catalog --------------------------------------------------------------------


def test_default_catalog_loads_with_enough_entries() -> None:
    assert isinstance(CATALOG, Catalog)
    assert len(CATALOG) >= 90
    assert len(CATALOG) == len(ENTRIES)


def test_default_catalog_is_cached() -> None:
    assert load_catalog() is load_catalog()


def test_template_ids_are_unique() -> None:
    ids = [entry.id for entry in ENTRIES]
    assert len(set(ids)) == len(ids)


def test_catalog_covers_exactly_the_act_vocabulary() -> None:
    assert CATALOG.acts() == ACTS


@pytest.mark.parametrize("act", sorted(ACTS))
def test_every_act_has_at_least_two_templates(act: str) -> None:
    entries = CATALOG.by_act(act)
    assert len(entries) >= 2
    assert all(entry.act == act for entry in entries)


def test_most_acts_have_three_templates() -> None:
    counts = Counter(entry.act for entry in ENTRIES)
    assert sum(1 for n in counts.values() if n >= 3) > len(ACTS) // 2


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.id for entry in ENTRIES])
def test_entry_metadata_is_consistent(entry: TemplateEntry) -> None:
    assert entry.intent == ACT_INTENT[entry.act]
    assert entry.slots == tuple(sorted(entry.slots))
    assert set(entry.slots) <= SLOTS
    assert entry.preconditions <= FACTS
    assert entry.action == EXPECTED_ACTION.get(entry.act)
    assert entry.action is None or entry.action in BOUND_ACTIONS
    assert not {"authenticated", "not_authenticated"} <= entry.preconditions
    assert CATALOG.get(entry.id) is entry


@pytest.mark.parametrize("entry", ENTRIES, ids=[entry.id for entry in ENTRIES])
def test_every_template_renders_with_valid_slots(entry: TemplateEntry) -> None:
    text = CATALOG.render(entry.id, _slots_for(entry))
    assert isinstance(text, str)
    assert type(text) is str
    assert text
    assert text == text.strip()
    assert "  " not in text
    assert "\n" not in text
    assert "{{" not in text
    assert "{%" not in text
    for name in entry.slots:
        value = EXAMPLE_SLOTS[name]
        if isinstance(value, str):
            assert value in text
    if "order_options" in entry.slots:
        for option in ORDER_OPTIONS:
            for field in option.values():
                assert field in text


@pytest.mark.parametrize(
    ("entry", "slot"),
    [(entry, slot) for entry in ENTRIES for slot in entry.slots],
    ids=[f"{entry.id}-{slot}" for entry in ENTRIES for slot in entry.slots],
)
def test_missing_required_slot_fails(entry: TemplateEntry, slot: str) -> None:
    slots = _slots_for(entry)
    del slots[slot]
    with pytest.raises(TemplateRenderError) as excinfo:
        CATALOG.render(entry.id, slots)
    assert slot in str(excinfo.value)
    assert entry.id in str(excinfo.value)


@pytest.mark.parametrize(
    "act",
    ["request_cancel_confirmation"],
)
def test_cancel_confirmation_asks_for_explicit_yes(act: str) -> None:
    for entry in CATALOG.by_act(act):
        text = CATALOG.render(entry.id, _slots_for(entry))
        assert "reply yes" in text.lower()


def test_extra_slots_are_ignored() -> None:
    text = CATALOG.render("cancel.kept.1", {"order_id": "W4821", "unused": object(), "x": None})
    assert "W4821" in text


def test_unknown_template_id_is_a_catalog_and_key_error() -> None:
    with pytest.raises(CatalogError, match="unknown template id") as excinfo:
        CATALOG.get("no.such.1")
    assert isinstance(excinfo.value, KeyError)
    with pytest.raises(KeyError):
        CATALOG.render("no.such.1", {})


def test_by_act_unknown_is_empty() -> None:
    assert CATALOG.by_act("no_such_act") == ()


def test_default_applicable_by_facts_and_intent() -> None:
    facts = {"authenticated", "order_identified", "refund_in_progress"}
    entries = CATALOG.applicable(facts, intent="refund_status")
    acts = {entry.act for entry in entries}
    assert "refund_in_progress" in acts
    assert "refund_completed" not in acts
    assert "request_auth" not in acts
    assert {entry.intent for entry in entries} == {"refund_status", "common"}


# --- escaping and template-injection safety ---------------------------------------------------


@pytest.mark.parametrize(
    ("template_id", "slot"),
    [("common.greeting_named.1", "first_name"), ("common.order_not_found.1", "order_ref")],
    ids=["first_name", "order_ref"],
)
def test_html_in_slot_value_is_escaped(template_id: str, slot: str) -> None:
    text = CATALOG.render(template_id, {slot: "<script>alert(1)</script>"})
    assert "<script" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_quotes_and_ampersands_are_escaped() -> None:
    text = CATALOG.render("common.order_not_found.2", {"order_ref": "Tom & \"Jerry\" 'x'"})
    assert "Tom &amp; &#34;Jerry&#34; &#39;x&#39;" in text


def test_markup_slot_value_is_still_escaped() -> None:
    text = CATALOG.render("common.greeting_named.1", {"first_name": Markup("<b>Bo</b>")})
    assert "<b>" not in text
    assert "&lt;b&gt;Bo&lt;/b&gt;" in text


@pytest.mark.parametrize(
    "payload",
    ["{{ 7*7 }}", "{% for x in range(10**9) %}", "{{ ''.__class__.__mro__ }}"],
    ids=["expression", "statement", "dunder"],
)
@pytest.mark.parametrize(
    ("template_id", "slot"),
    [("common.greeting_named.2", "first_name"), ("common.order_not_found.3", "order_ref")],
    ids=["first_name", "order_ref"],
)
def test_template_syntax_in_slot_value_is_literal(
    template_id: str, slot: str, payload: str
) -> None:
    text = CATALOG.render(template_id, {slot: payload})
    assert payload.replace("'", "&#39;") in text
    assert "49" not in text


@pytest.mark.parametrize(
    "value",
    [Decimal("42.50"), None, 42, 4.25, b"$42.50", ["$42.50"]],
    ids=["decimal", "none", "int", "float", "bytes", "list"],
)
def test_non_str_slot_value_fails(value: object) -> None:
    slots = _slots_for(CATALOG.get("refund.in_progress.1")) | {"refund_amount": value}
    with pytest.raises(TemplateRenderError, match="refund_amount"):
        CATALOG.render("refund.in_progress.1", slots)


@pytest.mark.parametrize(
    "value",
    [
        "W7001, W7002",
        [],
        ["W7001"],
        [{"order_id": "W7001", "item_summary": "mug", "order_date": "May 1, 2026"}],
        [{"order_id": 7001, "item_summary": "mug", "order_date": "May 1, 2026", "status": "x"}],
        None,
    ],
    ids=["string", "empty", "list-of-str", "missing-key", "int-field", "none"],
)
def test_bad_order_options_fail(value: object) -> None:
    with pytest.raises(TemplateRenderError, match="order_options"):
        CATALOG.render("common.disambiguate_order.1", {"order_options": value})


def test_order_options_accepts_tuples_and_extra_keys() -> None:
    options = tuple(option | {"note": "ignored"} for option in ORDER_OPTIONS)
    text = CATALOG.render("common.disambiguate_order.2", {"order_options": options})
    assert "W7001" in text
    assert "W7002" in text
    assert "ignored" not in text


# --- sandbox and rendering of hand-made catalogs ----------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ ''.__class__ }}",
        "{{ lipsum.__globals__ }}",
        "{% set x = [] %}{{ x.append(1) }}",
    ],
    ids=["mro", "class", "globals", "mutation"],
)
def test_sandbox_refuses_unsafe_access(tmp_path: Path, source: str) -> None:
    catalog = _single(tmp_path, source)
    with pytest.raises(TemplateRenderError) as excinfo:
        catalog.render("t.x.1", {})
    assert isinstance(excinfo.value.__cause__, jinja2.exceptions.SecurityError)


def test_undefined_attribute_fails(tmp_path: Path) -> None:
    catalog = _single(tmp_path, "Hi {{ first_name.nickname }}", slots=["first_name"])
    with pytest.raises(TemplateRenderError, match="t.x.1"):
        catalog.render("t.x.1", {"first_name": "Priya"})


def test_whitespace_is_collapsed(tmp_path: Path) -> None:
    source = "\n  Hello,\n\n   {{ first_name }}!\t How\ncan I help?  \n\n"
    catalog = _single(tmp_path, source, slots=["first_name"])
    assert catalog.render("t.x.1", {"first_name": "Ana  Maria"}) == (
        "Hello, Ana Maria! How can I help?"
    )


APPLICABLE_TABLES = [
    _table("x.a.1", "greeting"),
    _table("x.b.1", "request_auth", preconditions=["not_authenticated"]),
    _table(
        "r.c.1",
        "refund_none",
        intent="refund_status",
        slots=["order_id"],
        preconditions=["authenticated", "order_identified", "refund_none"],
    ),
    _table(
        "k.d.1",
        "cancel_kept",
        intent="cancel_order",
        slots=["order_id"],
        preconditions=["authenticated", "order_identified"],
    ),
    _table("k.e.1", "cancel_policy", intent="cancel_order"),
    _table("r.f.1", "refund_policy", intent="refund_status"),
]
APPLICABLE_FILES = {
    _file("x.a.1"): "Hello!",
    _file("x.b.1"): "What's your email?",
    _file("r.c.1"): "No refund on {{ order_id }}.",
    _file("k.d.1"): "Order {{ order_id }} stays.",
    _file("k.e.1"): "Only unshipped orders can be cancelled.",
    _file("r.f.1"): "Gift card refunds are immediate.",
}


@pytest.mark.parametrize(
    ("facts", "intent", "expected"),
    [
        (set(), None, ["x.a.1", "k.e.1", "r.f.1"]),
        ({"not_authenticated"}, None, ["x.a.1", "x.b.1", "k.e.1", "r.f.1"]),
        ({"authenticated", "order_identified"}, "cancel_order", ["x.a.1", "k.d.1", "k.e.1"]),
        (
            frozenset({"authenticated", "order_identified", "refund_none"}),
            "refund_status",
            ["x.a.1", "r.c.1", "r.f.1"],
        ),
        (
            {"authenticated", "order_identified", "refund_none"},
            None,
            ["x.a.1", "r.c.1", "k.d.1", "k.e.1", "r.f.1"],
        ),
        ({"authenticated", "order_identified", "refund_none"}, "common", ["x.a.1"]),
        ({"authenticated"}, "refund_status", ["x.a.1", "r.f.1"]),
    ],
    ids=["none", "anon", "cancel", "refund", "all-intents", "common-only", "refund-no-order"],
)
def test_applicable_filters_by_facts_and_intent(
    tmp_path: Path, facts: set[str] | frozenset[str], intent: str | None, expected: list[str]
) -> None:
    catalog = load_catalog(_write_catalog(tmp_path, APPLICABLE_TABLES, APPLICABLE_FILES))
    assert [entry.id for entry in catalog.applicable(facts, intent=intent)] == expected
    assert [entry.id for entry in catalog.entries if entry.applicable(facts)] == [
        entry.id for entry in catalog.applicable(facts)
    ]


def test_unless_facts_exclude_an_entry(tmp_path: Path) -> None:
    tables = [
        _table("k.s.1", "cannot_cancel_shipped", intent="cancel_order", unless=["member_priority"]),
        _table("k.m.1", "cannot_cancel_shipped_member", intent="cancel_order"),
    ]
    files = {_file("k.s.1"): "It has shipped.", _file("k.m.1"): "It has shipped; free return."}
    catalog = load_catalog(_write_catalog(tmp_path, tables, files))
    assert catalog.get("k.s.1").unless == frozenset({"member_priority"})
    assert catalog.get("k.m.1").unless == frozenset()
    assert [e.id for e in catalog.applicable(set())] == ["k.s.1", "k.m.1"]
    assert [e.id for e in catalog.applicable({"member_priority"})] == ["k.m.1"]


def test_default_catalog_never_offers_a_member_the_generic_shipped_reply() -> None:
    shipped = {"authenticated", "order_identified", "order_shipped"}
    plain = {e.act for e in CATALOG.applicable(shipped, intent="cancel_order")}
    as_member = shipped | {"member_priority"}
    member = {e.act for e in CATALOG.applicable(as_member, intent="cancel_order")}
    assert "cannot_cancel_shipped" in plain
    assert "cannot_cancel_shipped_member" not in plain
    assert "cannot_cancel_shipped_member" in member
    assert "cannot_cancel_shipped" not in member


def test_applicable_rejects_unknown_fact_or_intent(tmp_path: Path) -> None:
    catalog = load_catalog(_write_catalog(tmp_path, APPLICABLE_TABLES, APPLICABLE_FILES))
    with pytest.raises(ValueError, match="authenticatd"):
        catalog.applicable({"authenticatd"})
    with pytest.raises(ValueError, match="refunds"):
        catalog.applicable(set(), intent="refunds")


def test_small_catalog_lookup_and_render(tmp_path: Path) -> None:
    catalog = load_catalog(_write_catalog(tmp_path, APPLICABLE_TABLES, APPLICABLE_FILES))
    assert len(catalog) == 6
    assert catalog.acts() == {
        "greeting",
        "request_auth",
        "refund_none",
        "cancel_kept",
        "cancel_policy",
        "refund_policy",
    }
    entry = catalog.get("k.d.1")
    assert entry.slots == ("order_id",)
    assert entry.preconditions == frozenset({"authenticated", "order_identified"})
    assert entry.action is None
    assert entry.source == "Order {{ order_id }} stays."
    assert catalog.render("k.d.1", {"order_id": "A1"}) == "Order A1 stays."


# --- invalid catalogs ---------------------------------------------------------------------------

GOOD = _table("t.x.1", "greeting_named", slots=["first_name"], preconditions=["authenticated"])
GOOD_FILES = {_file("t.x.1"): "Hi {{ first_name }}!"}

BAD_CATALOGS: dict[str, tuple[list[dict[str, object]], dict[str, str], str]] = {
    "duplicate-id": ([GOOD, GOOD], GOOD_FILES, "duplicate template id 't.x.1'"),
    "unknown-act": ([GOOD | {"act": "greet"}], GOOD_FILES, "unknown act 'greet'"),
    "unknown-intent": ([GOOD | {"intent": "billing"}], GOOD_FILES, "unknown intent"),
    "intent-mismatch": ([GOOD | {"intent": "cancel_order"}], GOOD_FILES, "belongs to intent"),
    "unknown-fact": ([GOOD | {"preconditions": ["logged_in"]}], GOOD_FILES, "logged_in"),
    "unknown-unless-fact": ([GOOD | {"unless": ["vip"]}], GOOD_FILES, "unknown fact(s) ['vip']"),
    "unless-not-a-list": ([GOOD | {"unless": "member_priority"}], GOOD_FILES, "'unless' must"),
    "unless-and-required": (
        [GOOD | {"unless": ["authenticated"]}],
        GOOD_FILES,
        "both required and excluded",
    ),
    "unknown-slot": (
        [GOOD | {"slots": ["nickname"]}],
        {_file("t.x.1"): "Hi {{ nickname }}!"},
        "unknown slot",
    ),
    "unknown-action": ([GOOD | {"action": "refund"}], GOOD_FILES, "unknown action 'refund'"),
    "undeclared-variable": (
        [GOOD],
        {_file("t.x.1"): "Hi {{ first_name }}, order {{ order_id }}"},
        "not declared in slots: ['order_id']",
    ),
    "unused-slot": (
        [GOOD | {"slots": ["first_name", "order_id"]}],
        GOOD_FILES,
        "never uses: ['order_id']",
    ),
    "missing-file": ([GOOD], {}, "cannot read file"),
    "syntax-error": ([GOOD], {_file("t.x.1"): "Hi {{ first_name }!"}, "syntax error"),
    "unclosed-block": ([GOOD], {_file("t.x.1"): "{% if first_name %}Hi"}, "syntax error"),
    "wrong-file-name": ([GOOD | {"file": "t/other.j2"}], {"t/other.j2": "Hi"}, "must be named"),
    "include": (
        [_table("t.x.1", "greeting")],
        {_file("t.x.1"): "{% include 'other.j2' %}"},
        "must not include",
    ),
    "unknown-key": ([GOOD | {"priority": "high"}], GOOD_FILES, "unknown key(s) ['priority']"),
    "missing-key": (
        [{k: v for k, v in GOOD.items() if k != "act"}],
        GOOD_FILES,
        "missing key(s) ['act']",
    ),
    "slots-not-list": ([GOOD | {"slots": "first_name"}], GOOD_FILES, "list of strings"),
}


@pytest.mark.parametrize(
    ("tables", "files", "message"), list(BAD_CATALOGS.values()), ids=list(BAD_CATALOGS)
)
def test_bad_catalog_fails_to_load(
    tmp_path: Path, tables: list[dict[str, object]], files: dict[str, str], message: str
) -> None:
    path = _write_catalog(tmp_path, tables, files)
    with pytest.raises(CatalogError) as excinfo:
        load_catalog(path)
    assert message in str(excinfo.value)
    assert "'t.x.1'" in str(excinfo.value)


def test_invalid_toml_fails(tmp_path: Path) -> None:
    path = tmp_path / "catalog.toml"
    path.write_text("[[template]\nid = ", encoding="utf-8")
    with pytest.raises(CatalogError, match="not valid TOML"):
        load_catalog(path)


def test_missing_catalog_file_fails(tmp_path: Path) -> None:
    with pytest.raises(CatalogError, match="cannot read catalog"):
        load_catalog(tmp_path / "nope.toml")


def test_catalog_constructor_validates_entries() -> None:
    entry = TemplateEntry(
        id="t.x.1",
        intent="common",
        act="greeting",
        slots=("first_name",),
        preconditions=frozenset(),
        action=None,
        source="Hello!",
    )
    with pytest.raises(CatalogError, match="never uses"):
        Catalog([entry])
