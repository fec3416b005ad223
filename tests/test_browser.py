"""The web pages in a real browser: Playwright drives Debian's Chromium against the live app.

One app (a private copy of the small world, the rule-based agent answering customers, the fake
ranker suggesting) and one browser serve the whole module; every test has its own browser
context (cookies, sessionStorage) and its own customers. Screenshots of the key states go to
``$CSBOT_TEST_ARTIFACTS/browser`` (default ``test-artifacts/browser``).

Without /usr/bin/chromium the tests skip on a developer's machine and FAIL under ``CI=true``.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    Page,
    Route,
    expect,
    sync_playwright,
)
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from dialogue.domain import CustomerRecord, OrderStatus, OrderView
from dialogue.store import models
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import Pick, pick
from tests.service_helpers import (
    add_user,
    app_for,
    finished_experiment,
    live_server,
    make_services,
)

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("CSBOT_TEST_ARTIFACTS", REPO / "test-artifacts")) / "browser"

# Markup that would set window.__pwned if any page inserted it as HTML.
PAYLOAD = '<img src=x onerror="window.__pwned=1"><script>window.__pwned=1</script>'
HTML_FIRST_NAME = "<b>Eve</b>"
HTML_LAST_NAME = '<img src=x onerror="window.__pwned=1">'
HTML_TITLE = '<script>window.__pwned=1</script>Mug<img src=x onerror="window.__pwned=1">'
HTML_EXPERIMENT = '<img src=x onerror="window.__pwned=1"><b>bold run</b>'
PLAIN_EXPERIMENT = "rules vs rules"
REP, OWNER = "rep.browser", "owner.browser"

PageFactory = Callable[[], Page]


@dataclass(frozen=True)
class Service:
    url: str
    sessions: sessionmaker[Session]
    rep_password: str
    owner_password: str
    report_key: str  # a finished experiment with a report, named PLAIN_EXPERIMENT
    html_report_key: str  # the same, named HTML_EXPERIMENT
    # Customers with a pending order, one per test that needs one (distinct customers).
    canceller: Pick
    rep_customer: Pick
    html_customer: Pick


def _pending_order_of_another(taken: frozenset[int]) -> Callable[[CustomerRecord, OrderView], bool]:
    return lambda r, o: o.status == OrderStatus.PENDING and r.profile.id not in taken


def _pending_picks(sessions: sessionmaker[Session], count: int) -> list[Pick]:
    """``count`` customers with a pending order, all different."""
    picks: list[Pick] = []
    while len(picks) < count:
        taken = frozenset(p.record.profile.id for p in picks)
        picks.append(pick(sessions, _pending_order_of_another(taken)))
    return picks


@pytest.fixture(scope="module")
def service(small_world_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    """The app on a private copy of the small world, served on a loopback port."""
    folder = tmp_path_factory.mktemp("browser-service")
    database_url = copy_sqlite(small_world_file, folder)
    report_key = finished_experiment(database_url, folder / "reports", name=PLAIN_EXPERIMENT)
    html_key = finished_experiment(database_url, folder / "reports", name=HTML_EXPERIMENT)
    services = make_services(database_url, folder / "data")
    rep_password = add_user(services.sessions, REP, "rep")
    owner_password = add_user(services.sessions, OWNER, "owner")
    canceller, rep_customer, html_customer = _pending_picks(services.sessions, 3)
    with live_server(app_for(services)) as url:
        yield Service(
            url=url,
            sessions=services.sessions,
            rep_password=rep_password,
            owner_password=owner_password,
            report_key=report_key,
            html_report_key=html_key,
            canceller=canceller,
            rep_customer=rep_customer,
            html_customer=html_customer,
        )


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.is_file():
        message = f"Chromium not found at {CHROMIUM}"
        if os.environ.get("CI") == "true":
            pytest.fail(message, pytrace=False)
        pytest.skip(message)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield launched
        launched.close()


@pytest.fixture
def new_page(browser: Browser, service: Service) -> Iterator[PageFactory]:
    """Pages in fresh browser contexts; each test fails on an uncaught script error."""
    errors: list[str] = []
    contexts: list[BrowserContext] = []

    def open_page() -> Page:
        context = browser.new_context(base_url=service.url, viewport={"width": 1400, "height": 900})
        context.set_default_timeout(10_000)
        contexts.append(context)
        page = context.new_page()
        page.on("pageerror", lambda exc: errors.append(str(exc)))
        return page

    yield open_page
    for context in contexts:
        for opened in context.pages:  # the pages' refresh timers may have a route in flight
            opened.unroute_all(behavior="ignoreErrors")
        context.close()
    assert errors == []


@pytest.fixture
def page(new_page: PageFactory) -> Page:
    return new_page()


# ---- helpers -------------------------------------------------------------------------------
def shot(page: Page, name: str) -> None:
    page.screenshot(path=ARTIFACTS / f"{name}.png", full_page=True)


def sign_in(page: Page, username: str, password: str) -> None:
    page.get_by_test_id("login-username").fill(username)
    page.get_by_test_id("login-password").fill(password)
    page.get_by_test_id("login-submit").click()


def widget_says(page: Page, text: str) -> str:
    """Type ``text`` in the chat widget, press Enter; the bot's reply."""
    replies = page.locator('[data-testid="message"][data-speaker="agent"]')
    before = replies.count()
    page.get_by_test_id("chat-input").fill(text)
    page.get_by_test_id("chat-input").press("Enter")
    expect(replies).to_have_count(before + 1)
    return replies.nth(before).get_by_test_id("message-text").inner_text()


class Customer:
    """A customer talking to the API directly (what another browser would send)."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        started = httpx.post(f"{base_url}/api/conversations", timeout=10)
        assert started.status_code == 201
        self.id: int = started.json()["conversation_id"]
        self.headers = {"Authorization": f"Bearer {started.json()['token']}"}

    def says(self, text: str) -> dict[str, object]:
        response = httpx.post(
            f"{self.base_url}/api/conversations/{self.id}/messages",
            json={"text": text},
            headers=self.headers,
            timeout=30,
        )
        assert response.status_code == 200, response.text
        result: dict[str, object] = response.json()
        return result


def handed_off_customer(base_url: str, *messages: str) -> Customer:
    customer = Customer(base_url)
    assert customer.says("I want to talk to a human")["status"] == "handed_off"
    for message in messages:
        assert customer.says(message)["reply"] is None
    return customer


def order_status(sessions: sessionmaker[Session], order_number: str) -> str:
    with sessions() as session:
        status = session.scalar(
            select(models.Order.status).where(models.Order.order_number == order_number)
        )
    assert status is not None
    return status


def pwned(page: Page) -> object:
    return page.evaluate("() => window.__pwned")


def chat_conversation_id(page: Page) -> int:
    """The widget's conversation (kept in sessionStorage)."""
    found = page.evaluate("() => JSON.parse(sessionStorage.getItem('csbot.chat')).id")
    assert isinstance(found, int)
    return found


def no_markup(page: Page, container: str) -> None:
    """Nothing from the payloads became an element, and nothing ran."""
    assert page.locator(f"{container} img, {container} script, {container} b").count() == 0
    assert page.evaluate("() => window.__pwned") is None


# ---- (1) the widget cancels an order -------------------------------------------------------
def test_a_customer_cancels_an_order_in_the_widget_and_the_store_shows_it(
    page: Page, service: Service
) -> None:
    target = service.canceller
    number = target.order.order_number
    page.goto("/chat")
    expect(page.get_by_test_id("greeting")).to_be_visible()

    widget_says(page, "Hi, I want to cancel an order")
    widget_says(page, target.email)
    assert number in widget_says(page, f"it's order {number}")
    assert number in widget_says(page, "I ordered it by mistake")
    assert order_status(service.sessions, number) == "pending"
    shot(page, "chat-1-confirmation")

    done = widget_says(page, "yes")
    assert number in done and "cancelled" in done
    shot(page, "chat-2-cancelled")
    assert order_status(service.sessions, number) == "cancelled"

    # A reload resumes the same conversation from sessionStorage: all ten turns, in order.
    conversation_id = chat_conversation_id(page)
    page.reload()
    speakers = page.get_by_test_id("message")
    expect(speakers).to_have_count(10)
    assert chat_conversation_id(page) == conversation_id
    assert [m.get_attribute("data-speaker") for m in speakers.all()] == ["customer", "agent"] * 5
    expect(speakers.last.get_by_test_id("message-text")).to_have_text(done)


# ---- (2) agent assist: accept one suggestion, edit another -----------------------------------
def test_a_rep_accepts_one_suggestion_and_edits_another(page: Page, service: Service) -> None:
    customer = handed_off_customer(service.url, "Hi, I want to cancel an order")
    page.goto("/assist")
    sign_in(page, REP, service.rep_password)
    item = page.locator(f'[data-testid="queue-item"][data-conversation-id="{customer.id}"]')
    expect(item).to_have_attribute("data-waiting", "true")
    expect(item.get_by_test_id("queue-last")).to_have_text("Hi, I want to cancel an order")
    item.click()
    expect(page).to_have_url(f"{service.url}/assist?conversation={customer.id}")
    cards = page.get_by_test_id("suggestion")
    expect(cards).to_have_count(4)
    shot(page, "assist-1-suggestions")

    first = page.locator('[data-testid="suggestion"][data-action=""]').first
    accepted_text = first.get_by_test_id("suggestion-text").inner_text()
    accepted_template = first.get_attribute("data-template-id")
    first.get_by_test_id("suggestion-send").click()
    expect(page.get_by_test_id("reply-result")).to_have_text("Sent (accepted).")
    rep_turns = page.locator('[data-testid="turn"][data-speaker="rep"]')
    expect(rep_turns.get_by_test_id("turn-text")).to_have_text([accepted_text])
    expect(cards).to_have_count(0)

    customer.says(service.rep_customer.email)
    expect(cards).to_have_count(4)  # the panel refreshes by itself
    other = page.locator(
        f'[data-testid="suggestion"][data-action=""]:not([data-template-id="{accepted_template}"])'
    ).first
    offered = other.get_by_test_id("suggestion-text").inner_text()
    edited_template = other.get_attribute("data-template-id")
    other.get_by_test_id("suggestion-edit").click()
    editor = page.get_by_test_id("editor")
    expect(editor).to_have_value(offered)
    expect(page.get_by_test_id("editor-source")).to_contain_text("editing suggestion #")
    edited_text = f"{offered} I'm looking into it right now."
    editor.fill(edited_text)
    shot(page, "assist-2-editing")
    page.get_by_test_id("editor-send").click()
    expect(page.get_by_test_id("reply-result")).to_have_text("Sent (edited).")
    expect(rep_turns.get_by_test_id("turn-text")).to_have_text([accepted_text, edited_text])
    expect(editor).to_have_value("")
    expect(page.get_by_test_id("editor-source")).to_have_text("(your own words)")

    with service.sessions() as session:
        texts = session.scalars(
            select(models.Turn.text)
            .where(models.Turn.conversation_id == customer.id, models.Turn.speaker == "rep")
            .order_by(models.Turn.index)
        ).all()
        choices = session.execute(
            select(
                models.AssistChoice.kind,
                models.AssistChoice.source,
                models.AssistChoice.template_id,
            )
            .where(models.AssistChoice.conversation_id == customer.id)
            .order_by(models.AssistChoice.id)
        ).all()
        everyone = session.scalars(select(models.AssistChoice.kind)).all()
    assert texts == [accepted_text, edited_text]
    assert [tuple(c) for c in choices] == [
        ("accepted", "suggestion", accepted_template),
        ("edited", "suggestion", edited_template),
    ]
    # The strip shows the endpoint's figures, which count every logged reply (other tests' too).
    metrics = page.request.get("/api/assist/metrics").json()
    assert metrics["rep_replies"] == len(everyone)
    built = everyone.count("accepted") + everyone.count("edited")
    assert metrics["edit_rate"] == pytest.approx(everyone.count("edited") / built)
    expect(page.get_by_test_id("metric-rep_replies").locator(".value")).to_have_text(
        str(len(everyone))
    )
    expect(page.get_by_test_id("metric-edit_rate").locator(".value")).to_have_text(
        f"{100 * metrics['edit_rate']:.1f}%"
    )
    shot(page, "assist-3-after-edit")


# ---- (3) reports ---------------------------------------------------------------------------
def test_an_experiment_owner_opens_a_report(page: Page, service: Service) -> None:
    page.goto("/reports")
    expect(page.get_by_test_id("login-form")).to_be_visible()
    sign_in(page, OWNER, service.owner_password)
    row = page.locator(f'[data-testid="experiment-row"][data-key="{service.report_key}"]')
    expect(row.get_by_test_id("experiment-name")).to_have_text(PLAIN_EXPERIMENT)
    expect(row.get_by_test_id("status")).to_have_text("finished")
    expect(row.get_by_test_id("progress")).to_have_text("40/40")
    shot(page, "reports-1-list")

    row.get_by_test_id("experiment-name").click()
    expect(page).to_have_url(f"{service.url}/reports?key={service.report_key}")
    report = page.request.get(f"/api/experiments/{service.report_key}").json()
    arms = page.get_by_test_id("arm-row")
    expect(arms).to_have_count(2)
    assert [a.get_attribute("data-arm") for a in arms.all()] == [
        s["arm"] for s in report["arm_summaries"]
    ]
    expect(arms.get_by_test_id("automation-rate")).to_have_text(
        [f"{100 * s['automation_rate']:.1f}%" for s in report["arm_summaries"]]
    )
    expect(page.get_by_test_id("comparison-row")).to_have_count(1)
    frame = page.get_by_test_id("report-frame")
    expect(frame).to_have_attribute("sandbox", "")
    expect(page.frame_locator('[data-testid="report-frame"]').locator("h1")).to_contain_text(
        PLAIN_EXPERIMENT
    )
    shot(page, "reports-2-report")


# ---- (4) hostile text renders inert --------------------------------------------------------
def test_markup_in_messages_names_titles_and_experiment_names_renders_as_text(
    new_page: PageFactory, service: Service
) -> None:
    target = service.html_customer
    with service.sessions() as session, session.begin():
        session.execute(
            update(models.Customer)
            .where(models.Customer.id == target.record.profile.id)
            .values(first_name=HTML_FIRST_NAME, last_name=HTML_LAST_NAME)
        )
        item_id = session.scalar(
            select(models.OrderItem.catalog_item_id)
            .join(models.Order)
            .where(models.Order.order_number == target.order.order_number)
            .limit(1)
        )
        session.execute(
            update(models.CatalogItem)
            .where(models.CatalogItem.id == item_id)
            .values(title=HTML_TITLE)
        )

    chat = new_page()
    chat.goto("/chat")
    widget_says(chat, "Hi, I want to cancel an order")
    widget_says(chat, target.email)
    # Past the order question, so that the payload is not read as an order's description.
    widget_says(chat, f"it's order {target.order.order_number}")
    widget_says(chat, "I want to talk to a human")
    chat.get_by_test_id("chat-input").fill(PAYLOAD)
    chat.get_by_test_id("chat-input").press("Enter")
    expect(chat.get_by_test_id("chat-notice")).to_have_text("A colleague will reply here shortly.")
    mine = chat.locator('[data-testid="message"][data-speaker="customer"]')
    expect(mine.last.get_by_test_id("message-text")).to_have_text(PAYLOAD)
    no_markup(chat, '[data-testid="messages"]')
    shot(chat, "inert-1-widget")

    rep = new_page()
    rep.goto("/assist")
    sign_in(rep, REP, service.rep_password)
    conversation_id = chat_conversation_id(chat)
    item = rep.locator(f'[data-testid="queue-item"][data-conversation-id="{conversation_id}"]')
    expect(item.get_by_test_id("queue-last")).to_have_text(PAYLOAD)
    expect(item.get_by_test_id("queue-name")).to_have_text(f"{HTML_FIRST_NAME} {HTML_LAST_NAME}")
    item.click()
    customer_turns = rep.locator('[data-testid="turn"][data-speaker="customer"]')
    expect(customer_turns.last.get_by_test_id("turn-text")).to_have_text(PAYLOAD)
    expect(rep.get_by_test_id("profile").locator("dd").first).to_have_text(
        f"{HTML_FIRST_NAME} {HTML_LAST_NAME}"
    )
    order = rep.locator(f'[data-testid="order"][data-order-number="{target.order.order_number}"]')
    expect(order).to_contain_text(HTML_TITLE)
    no_markup(rep, '[data-testid="content"]')
    shot(rep, "inert-2-assist")

    owner = new_page()
    owner.goto("/reports")
    sign_in(owner, OWNER, service.owner_password)
    row = owner.locator(f'[data-testid="experiment-row"][data-key="{service.html_report_key}"]')
    expect(row.get_by_test_id("experiment-name")).to_have_text(HTML_EXPERIMENT)
    no_markup(owner, "main")
    shot(owner, "inert-3-reports")
    row.get_by_test_id("experiment-name").click()
    expect(owner.get_by_test_id("report-title")).to_contain_text(HTML_EXPERIMENT)
    expect(owner.frame_locator('[data-testid="report-frame"]').locator("h1")).to_contain_text(
        HTML_EXPERIMENT
    )
    no_markup(owner, "main")
    shot(owner, "inert-4-report")


# ---- (5) loading and error states ----------------------------------------------------------
def test_a_wrong_password_shows_the_servers_message(page: Page, service: Service) -> None:
    page.goto("/assist")
    sign_in(page, REP, "not the password")
    expect(page.get_by_test_id("login-error")).to_have_text("wrong username or password")
    expect(page.get_by_test_id("login-submit")).to_be_enabled()
    expect(page.get_by_test_id("content")).to_be_hidden()
    shot(page, "error-1-wrong-password")


def test_a_rep_opening_a_conversation_that_does_not_exist_sees_an_error(
    page: Page, service: Service
) -> None:
    page.goto("/assist?conversation=999999")
    sign_in(page, REP, service.rep_password)
    expect(page.get_by_test_id("error-banner")).to_have_text("no such conversation")
    expect(page.get_by_test_id("conversation-body")).to_be_hidden()
    shot(page, "error-2-no-such-conversation")


def test_a_rep_cannot_see_the_reports(page: Page, service: Service) -> None:
    page.goto("/reports")
    sign_in(page, REP, service.rep_password)
    expect(page.get_by_test_id("denied")).to_have_text("This account cannot see this page.")
    expect(page.get_by_test_id("content")).to_be_hidden()
    shot(page, "error-3-rep-on-reports")
    page.get_by_test_id("logout").click()  # and another account can sign in here
    expect(page.get_by_test_id("login-form")).to_be_visible()
    expect(page.get_by_test_id("denied")).to_be_hidden()


def test_a_run_with_bad_settings_shows_the_validation_error(page: Page, service: Service) -> None:
    page.goto("/reports")
    sign_in(page, OWNER, service.owner_password)
    page.get_by_test_id("start-contacts").fill("50001")
    page.get_by_test_id("start-submit").click()
    expect(page.get_by_test_id("start-error")).to_have_text(
        "contacts: Input should be less than or equal to 50000"
    )
    shot(page, "error-4-start-validation")


def test_the_widget_shows_typing_while_waiting_and_refusals_as_errors(
    page: Page, service: Service
) -> None:
    held: list[Route] = []  # the message request, answered only once the waiting state is seen

    def hold(route: Route) -> None:
        if held:
            route.continue_()
        else:
            held.append(route)

    page.route("**/api/conversations/*/messages", hold)
    page.goto("/chat")
    box, send = page.get_by_test_id("chat-input"), page.get_by_test_id("chat-send")
    expect(box).to_be_enabled()
    box.fill("Hi, where is my refund?")
    box.press("Enter")
    expect(page.get_by_test_id("typing")).to_be_visible()
    expect(send).to_be_disabled()
    expect(box).to_be_disabled()
    shot(page, "loading-1-typing")
    for _ in range(100):
        if held:
            break
        page.wait_for_timeout(20)
    held[0].continue_()
    expect(page.get_by_test_id("typing")).to_be_hidden()
    expect(page.locator('[data-testid="message"][data-speaker="agent"]')).to_have_count(1)
    expect(send).to_be_enabled()

    box.fill("x" * 10_001)
    box.press("Enter")
    expect(page.get_by_test_id("error-banner")).to_have_text(
        "text: String should have at most 10000 characters"
    )
    expect(page.get_by_test_id("message")).to_have_count(2)  # the refused message is not shown
    expect(box).to_have_value("x" * 10_001)  # and is kept for another try
    shot(page, "error-5-message-too-long")


def test_a_refused_reply_shows_the_servers_reason(page: Page, service: Service) -> None:
    customer = handed_off_customer(service.url, "Hi, I want to cancel an order")

    def stale_suggestion(route: Route) -> None:
        view = route.fetch().json()
        view["suggestions"][0]["template_id"] = "no.such.template"
        route.fulfill(json=view)

    page.route(f"**/api/assist/conversations/{customer.id}", stale_suggestion)
    page.goto(f"/assist?conversation={customer.id}")
    sign_in(page, REP, service.rep_password)
    stale = page.locator('[data-testid="suggestion"][data-template-id="no.such.template"]')
    expect(stale).to_be_visible()
    refused = page.request.post(
        f"/api/assist/conversations/{customer.id}/reply",
        data={"source": "suggestion", "template_id": "no.such.template", "text": "hello"},
    )
    assert refused.status == 409
    stale.get_by_test_id("suggestion-send").click()
    expect(page.get_by_test_id("error-banner")).to_have_text(refused.json()["detail"])
    expect(page.get_by_test_id("reply-result")).to_be_hidden()
    shot(page, "error-6-refused-reply")
    with service.sessions() as session:
        rep_turns = session.scalars(
            select(models.Turn.id).where(
                models.Turn.conversation_id == customer.id, models.Turn.speaker == "rep"
            )
        ).all()
    assert rep_turns == []


def test_the_draft_card_is_flagged_and_an_edited_draft_is_sent_as_one(
    page: Page, service: Service
) -> None:
    # The fake assistant writes no drafts: the view gets one, ungrounded and hostile, on its way
    # to the page, and the reply the page sends is captured instead of reaching the server.
    customer = handed_off_customer(service.url, "Hi, I want to cancel an order")
    draft_text = f"Your refund of $999.00 is on its way. {PAYLOAD}"
    sent: list[object] = []

    def with_draft(route: Route) -> None:
        view = route.fetch().json()
        view["draft"] = {
            "text": draft_text,
            "act": "refund_in_progress",
            "grounded": False,
            "problems": ["states an amount the store does not hold: $999.00"],
        }
        route.fulfill(json=view)

    def capture_reply(route: Route) -> None:
        sent.append(route.request.post_data_json)
        route.fulfill(
            status=200,
            json={
                "conversation_id": customer.id,
                "index": 3,
                "kind": "edited",
                "action": None,
                "status": "handed_off",
            },
        )

    page.route(f"**/api/assist/conversations/{customer.id}", with_draft)
    page.route(f"**/api/assist/conversations/{customer.id}/reply", capture_reply)
    page.goto(f"/assist?conversation={customer.id}")
    sign_in(page, REP, service.rep_password)
    draft = page.get_by_test_id("draft")
    expect(draft.get_by_test_id("draft-text")).to_have_text(draft_text)
    expect(draft.get_by_test_id("draft-flag")).to_be_visible()
    expect(draft.get_by_test_id("draft-problems")).to_have_text(
        "states an amount the store does not hold: $999.00"
    )
    no_markup(page, '[data-testid="content"]')
    shot(page, "assist-4-flagged-draft")

    draft.get_by_test_id("draft-edit").click()
    expect(page.get_by_test_id("editor-source")).to_have_text("(editing the draft)")
    page.get_by_test_id("editor").fill("Your refund is on its way.")
    page.get_by_test_id("editor-send").click()
    expect(page.get_by_test_id("reply-result")).to_have_text("Sent (edited).")
    assert sent == [{"source": "draft", "template_id": None, "text": "Your refund is on its way."}]


# ---- the widget and the panel together -------------------------------------------------------
def test_the_widget_shows_the_reps_reply_and_the_close(
    new_page: PageFactory, service: Service
) -> None:
    chat = new_page()
    chat.goto("/chat")
    widget_says(chat, "I want to talk to a human")
    notice = chat.get_by_test_id("chat-notice")
    expect(notice).to_have_text("A colleague will reply here shortly.")

    rep = new_page()
    rep.goto(f"/assist?conversation={chat_conversation_id(chat)}")
    sign_in(rep, REP, service.rep_password)
    rep.get_by_test_id("editor").fill("Hello, this is Sam from support. How can I help?")
    rep.get_by_test_id("editor-send").click()
    expect(rep.get_by_test_id("reply-result")).to_have_text("Sent (own).")

    from_rep = chat.locator('[data-testid="message"][data-speaker="rep"]')
    expect(from_rep.get_by_test_id("message-text")).to_have_text(
        ["Hello, this is Sam from support. How can I help?"]
    )
    expect(from_rep.locator(".who")).to_have_text(["Support rep"])
    expect(notice).to_be_hidden()
    shot(chat, "chat-3-rep-reply")

    rep.get_by_test_id("close-conversation").click()
    expect(rep.get_by_test_id("conversation-status")).to_have_text("closed")
    expect(notice).to_contain_text("This conversation is closed.")
    expect(chat.get_by_test_id("chat-input")).to_be_disabled()
    shot(chat, "chat-4-closed")
    chat.get_by_test_id("restart-closed").click()
    expect(chat.get_by_test_id("greeting")).to_be_visible()
    expect(chat.get_by_test_id("message")).to_have_count(0)
    expect(chat.get_by_test_id("chat-input")).to_be_enabled()
