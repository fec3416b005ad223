"""Sandboxed Jinja2 environment and slot checking for the response-template catalog.

Every reply is rendered by one :class:`~jinja2.sandbox.ImmutableSandboxedEnvironment` with
``StrictUndefined`` and autoescaping, so slot values (which may carry customer text) come out
HTML-escaped and are never evaluated as template code. Slot values must be plain strings, except
``order_options``, a sequence of mappings with string values under :data:`ORDER_OPTION_KEYS`.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

import jinja2
from jinja2 import StrictUndefined, meta
from jinja2.sandbox import ImmutableSandboxedEnvironment

from templates.errors import CatalogError, TemplateRenderError

__all__ = [
    "LIST_SLOTS",
    "ORDER_OPTION_KEYS",
    "compile_template",
    "make_environment",
    "prepare_slots",
    "render_compiled",
]

LIST_SLOTS: frozenset[str] = frozenset({"order_options"})
"""Slots whose value is a sequence of mappings rather than a string."""

ORDER_OPTION_KEYS: tuple[str, ...] = ("order_id", "item_summary", "order_date", "status")
"""Keys every ``order_options`` item must carry, each with a string value."""

_WHITESPACE = re.compile(r"\s+")


def make_environment() -> ImmutableSandboxedEnvironment:
    """Build the sandboxed environment every catalog template is compiled in.

    Returns:
        An immutable sandbox with strict undefined handling and HTML autoescaping.
    """
    return ImmutableSandboxedEnvironment(
        undefined=StrictUndefined,
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=False,
    )


def compile_template(
    env: jinja2.Environment, template_id: str, source: str, slots: Sequence[str]
) -> jinja2.Template:
    """Parse, check and compile one catalog template.

    Args:
        env: The environment to compile in (see :func:`make_environment`).
        template_id: Id of the template, for error messages.
        source: The Jinja2 source text.
        slots: The declared slots; they must be exactly the variables the source uses.

    Returns:
        The compiled template, ready to render.

    Raises:
        CatalogError: A syntax error, a reference to another template, or a mismatch between the
            variables used and the declared slots.
    """
    where = f"template {template_id!r}"
    try:
        ast = env.parse(source, name=template_id)
    except jinja2.TemplateSyntaxError as exc:
        raise CatalogError(f"{where}: syntax error at line {exc.lineno}: {exc.message}") from exc
    if referenced := list(meta.find_referenced_templates(ast)):
        raise CatalogError(f"{where}: must not include/extend/import templates ({referenced})")
    used = meta.find_undeclared_variables(ast)
    if undeclared := sorted(used - set(slots)):
        raise CatalogError(f"{where}: uses variable(s) not declared in slots: {undeclared}")
    if unused := sorted(set(slots) - used):
        raise CatalogError(f"{where}: declares slot(s) the template never uses: {unused}")
    try:
        return env.from_string(ast)
    except jinja2.TemplateError as exc:
        raise CatalogError(f"{where}: failed to compile: {exc}") from exc


def _plain_str(value: str) -> str:
    # A str subclass such as markupsafe.Markup would bypass autoescaping: copy it to a plain str.
    return value if type(value) is str else str.__str__(value)


def _check_order_options(template_id: str, value: object) -> list[dict[str, str]]:
    if isinstance(value, str | bytes) or not isinstance(value, Sequence):
        raise TemplateRenderError(
            f"template {template_id!r}: slot 'order_options' must be a sequence of mappings, "
            f"got {type(value).__name__}"
        )
    if not value:
        raise TemplateRenderError(f"template {template_id!r}: slot 'order_options' is empty")
    options: list[dict[str, str]] = []
    for index, item in enumerate(value):
        if not isinstance(item, Mapping):
            raise TemplateRenderError(
                f"template {template_id!r}: order_options[{index}] must be a mapping, "
                f"got {type(item).__name__}"
            )
        option: dict[str, str] = {}
        for key in ORDER_OPTION_KEYS:
            if key not in item:
                raise TemplateRenderError(
                    f"template {template_id!r}: order_options[{index}] lacks key {key!r}"
                )
            field = item[key]
            if not isinstance(field, str):
                raise TemplateRenderError(
                    f"template {template_id!r}: order_options[{index}][{key!r}] must be str, "
                    f"got {type(field).__name__}"
                )
            option[key] = _plain_str(field)
        options.append(option)
    return options


def prepare_slots(
    template_id: str, required: Sequence[str], slots: Mapping[str, object]
) -> dict[str, object]:
    """Check the slot values a template needs and return a clean rendering context.

    Only the required slots are kept; extra slots are ignored.

    Args:
        template_id: Id of the template, for error messages.
        required: The slot names the template needs.
        slots: The caller's slot values.

    Returns:
        A new mapping holding exactly the required slots, as plain ``str`` (or, for
        ``order_options``, a list of plain dicts of ``str``).

    Raises:
        TemplateRenderError: A required slot is missing or has a value of the wrong type.
    """
    missing = [name for name in required if name not in slots]
    if missing:
        raise TemplateRenderError(
            f"template {template_id!r}: missing required slot(s): {', '.join(missing)}"
        )
    context: dict[str, object] = {}
    for name in required:
        value = slots[name]
        if name in LIST_SLOTS:
            context[name] = _check_order_options(template_id, value)
        elif isinstance(value, str):
            context[name] = _plain_str(value)
        else:
            raise TemplateRenderError(
                f"template {template_id!r}: slot {name!r} must be a str, "
                f"got {type(value).__name__} (format it before rendering)"
            )
    return context


def render_compiled(
    template_id: str, template: jinja2.Template, context: Mapping[str, object]
) -> str:
    """Render a compiled template and flatten the result into one chat message.

    Args:
        template_id: Id of the template, for error messages.
        template: The compiled template.
        context: Checked slot values, as returned by :func:`prepare_slots`.

    Returns:
        The HTML-escaped reply as a plain ``str``, whitespace runs collapsed to single spaces.

    Raises:
        TemplateRenderError: Rendering failed (undefined value, sandbox violation, and so on).
    """
    try:
        text = template.render(context)
    except jinja2.TemplateError as exc:
        raise TemplateRenderError(
            f"template {template_id!r} failed to render: {type(exc).__name__}: {exc}"
        ) from exc
    except (TypeError, ValueError, ArithmeticError, LookupError) as exc:
        raise TemplateRenderError(
            f"template {template_id!r} failed to render: {type(exc).__name__}: {exc}"
        ) from exc
    return _WHITESPACE.sub(" ", str(text)).strip()
