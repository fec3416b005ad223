"""The service's wire format: every request and response body, typed (Pydantic v2).

Customers see only what the conversation said (speaker and text); reps also see acts, scores,
the customer's profile and orders; experiment owners see experiments and their figures.
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field

# The largest message the wire accepts. Longer text than the agent reads (Settings.
# max_message_chars) still gets the agent's "too long" reply; past this the body is refused.
MAX_WIRE_MESSAGE_CHARS = 10_000


def _storable(text: str) -> str:
    """Refuse what no store keeps: NUL characters and lone surrogates (PostgreSQL rejects both)."""
    if "\x00" in text:
        raise ValueError("text must not contain NUL characters")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from None
    return text


# Free text that is stored or passed on as is (rep replies, names, credentials). Customers'
# messages are cleaned instead (dialogue.text.clean_message): they always get a reply.
StorableText = Annotated[str, AfterValidator(_storable)]


def _utc(value: datetime) -> datetime:
    """The store keeps naive UTC; the wire says so (an RFC 3339 date-time needs an offset)."""
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# Every time on the wire: UTC, written with its offset ("2026-03-02T09:00:00Z").
UtcDateTime = Annotated[datetime, AfterValidator(_utc)]


def _encodable(value: object) -> object:
    """Lone surrogates (a JSON "\\udc80") become "?", as :func:`dialogue.text.clean_message`
    would make them: a customer's message is cleaned and answered, never refused for them."""
    return (
        value.encode("utf-8", errors="replace").decode("utf-8") if isinstance(value, str) else value
    )


CustomerText = Annotated[str, BeforeValidator(_encodable)]

Speaker = Literal["customer", "agent", "rep"]
Role = Literal["rep", "owner"]
ConversationStatus = Literal["open", "handed_off", "closed"]
ConversationMode = Literal["auto", "assist"]
ExperimentStatus = Literal["starting", "running", "finished", "failed"]


class Problem(BaseModel):
    """An error: what went wrong, for a person to read."""

    detail: str


class FieldError(BaseModel):
    """One of FastAPI's request validation errors."""

    loc: list[str | int]  # where: ("body", "contacts"), ("path", "conversation_id"), …
    msg: str
    type: str


class Unprocessable(BaseModel):
    """A 422: fields that fail validation (FastAPI's list), or a request that is well formed but
    cannot be carried out (a sentence)."""

    detail: str | list[FieldError]


# ---- customers --------------------------------------------------------------------------------
class ConversationStarted(BaseModel):
    conversation_id: int
    # The per-conversation session token: send it as ``Authorization: Bearer <token>`` with
    # every later request about this conversation. It is shown once and stored only hashed.
    token: str
    status: ConversationStatus
    mode: ConversationMode


class CustomerMessageIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: CustomerText = Field(max_length=MAX_WIRE_MESSAGE_CHARS)


class TranscriptTurn(BaseModel):
    index: int
    speaker: Speaker
    text: str
    created_at: UtcDateTime


class BotReply(BaseModel):
    text: str
    # Who answered: the bot (auto mode) — a rep answers later, seen by polling the transcript.
    speaker: Speaker


class MessageResult(BaseModel):
    conversation_id: int
    # The turn index of the customer's message (it is committed before this response is sent).
    index: int
    # The bot's reply in auto mode; None while a rep is to answer (the conversation is in
    # assist mode: poll ``GET /api/conversations/{id}``).
    reply: BotReply | None
    status: ConversationStatus
    mode: ConversationMode


class CustomerTranscript(BaseModel):
    conversation_id: int
    status: ConversationStatus
    mode: ConversationMode
    turns: list[TranscriptTurn]


# ---- reps and owners: sign-in -----------------------------------------------------------------
class LoginIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: StorableText = Field(min_length=1, max_length=64)
    password: StorableText = Field(min_length=1, max_length=256)


class LoginOut(BaseModel):
    # Also set as an HttpOnly, SameSite=Strict cookie for the web pages.
    token: str
    username: str
    role: Role
    expires_at: UtcDateTime


class Me(BaseModel):
    username: str
    role: Role


# ---- reps: agent-assist ---------------------------------------------------------------------
class QueueItem(BaseModel):
    conversation_id: int
    status: ConversationStatus
    # True when the customer's last message has no reply yet.
    waiting: bool
    last_customer_text: str | None
    customer_name: str | None  # only once the customer authenticated
    started_at: UtcDateTime
    last_activity_at: UtcDateTime
    assigned_to: str | None
    turns: int


class RepTurn(BaseModel):
    index: int
    speaker: Speaker
    text: str
    act: str | None
    template_id: str | None
    created_at: UtcDateTime


class OrderLineOut(BaseModel):
    title: str
    quantity: int
    unit_price: Decimal


class RefundOut(BaseModel):
    status: str
    amount: Decimal
    method: str
    expected_at: UtcDateTime | None
    completed_at: UtcDateTime | None


class OrderOut(BaseModel):
    order_number: str
    status: str
    total: Decimal
    placed_at: UtcDateTime
    payment: str
    lines: list[OrderLineOut]
    refunds: list[RefundOut]


class CustomerOut(BaseModel):
    name: str
    email: str
    membership: str
    customer_since: UtcDateTime
    orders: list[OrderOut]


class SuggestionOut(BaseModel):
    rank: int  # 1 = best
    template_id: str
    act: str
    text: str
    score: float
    # The action sending it runs (cancel_order, handoff, end_conversation) or None.
    action: str | None


class DraftOut(BaseModel):
    text: str
    act: str | None
    # False when grounding found a problem (shown flagged; never auto-sent).
    grounded: bool
    problems: list[str]


class TrackerOut(BaseModel):
    intent: str | None
    authenticated: bool
    order_number: str | None
    awaiting: str | None


class AssistView(BaseModel):
    conversation_id: int
    status: ConversationStatus
    mode: ConversationMode
    assigned_to: str | None
    turns: list[RepTurn]
    customer: CustomerOut | None  # None before the customer authenticated
    tracker: TrackerOut
    # What answers the pending customer message(s); empty when nothing is pending.
    pending: bool
    suggestions: list[SuggestionOut]
    list_probability: float | None
    draft: DraftOut | None
    # Why there are no suggestions where there is a pending message (e.g. no ranker loaded).
    suggestions_note: str | None


class RepReplyIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    # suggestion: one of the current top 4 (by template_id), sent as is or edited; draft: the
    # generator's draft, as is or edited; own: the rep's own words.
    source: Literal["suggestion", "draft", "own"]
    template_id: StorableText | None = Field(default=None, max_length=128)
    text: StorableText = Field(min_length=1, max_length=MAX_WIRE_MESSAGE_CHARS)


class RepReplyOut(BaseModel):
    conversation_id: int
    index: int
    # accepted (a suggestion or the draft as offered) | edited | own
    kind: Literal["accepted", "edited", "own"]
    action: str | None  # the action that ran with it (cancel_order) or None
    status: ConversationStatus


class AssistMetrics(BaseModel):
    """The agent-assist metrics of Lu et al. (2019), over every logged rep reply."""

    rep_replies: int
    # Replies sent while suggestions were on screen.
    with_suggestions: int
    # Of those: the top suggestion sent unedited / any of the top 4 sent unedited.
    top1_acceptance: float | None
    top4_acceptance: float | None
    # Of all rep replies: built from a suggestion or the draft, edited or not.
    response_coverage: float | None
    # Of the replies built from a suggestion or the draft: the share edited before sending.
    edit_rate: float | None
    draft_offered: int
    draft_used: int


# ---- experiment owners ----------------------------------------------------------------------
class ArmSummary(BaseModel):
    arm: str
    contacts: int
    automated: int
    automation_rate: float
    ci_low: float
    ci_high: float


class ComparisonSummary(BaseModel):
    arm: str
    control: str
    difference: float
    ci_low: float
    ci_high: float
    p_value: float


class ExperimentOut(BaseModel):
    key: str
    name: str
    status: ExperimentStatus
    arms: list[str]
    contacts: int
    seed: int
    created_at: UtcDateTime | None
    finished_at: UtcDateTime | None
    # Primary contacts finished so far.
    contacts_done: int
    has_report: bool


class ExperimentReport(ExperimentOut):
    arm_summaries: list[ArmSummary]
    comparisons: list[ComparisonSummary]
    # Every figure of the report (simulator.stats.ExperimentFigures.to_dict()).
    figures: dict[str, Any] | None
    log_tail: str | None  # the run's last output lines, for a run that failed


class ExperimentIn(BaseModel):
    # Strict: a count is a JSON integer, never true, "10" or 10.0.
    model_config = ConfigDict(extra="forbid", strict=True)

    arms: StorableText = Field(min_length=1, max_length=200, examples=["rules,ranker"])
    contacts: int = Field(ge=1, le=50_000)
    seed: int = Field(default=0, ge=0, le=2**31 - 1)
    name: StorableText = Field(default="", max_length=200)
    workers: int = Field(default=1, ge=1, le=8)


# ---- narrowing stored strings to the wire's literals ----------------------------------------
def status_of(value: str) -> ConversationStatus:
    return cast(ConversationStatus, _one_of(value, ("open", "handed_off", "closed")))


def mode_of(value: str) -> ConversationMode:
    return cast(ConversationMode, _one_of(value, ("auto", "assist")))


def speaker_of(value: str) -> Speaker:
    return cast(Speaker, _one_of(value, ("customer", "agent", "rep")))


def choice_of(value: str) -> Literal["accepted", "edited", "own"]:
    return cast(Literal["accepted", "edited", "own"], _one_of(value, ("accepted", "edited", "own")))


def experiment_status_of(value: str) -> ExperimentStatus:
    return cast(ExperimentStatus, _one_of(value, ("starting", "running", "finished", "failed")))


def role_of(value: str) -> Role:
    return cast(Role, _one_of(value, ("rep", "owner")))


def _one_of(value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"unexpected stored value {value!r}; expected one of {allowed}")
    return value
