"""The service's JSON API on a private small world: customers, reps, owners, ownership."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from dialogue.domain import OrderStatus
from dialogue.store import models
from tests.conftest import copy_sqlite
from tests.dialogue_helpers import Pick, pick
from tests.service_helpers import add_user, app_for, finished_experiment, make_services


@pytest.fixture
def world_url(small_world_file: Path, tmp_path: Path) -> str:
    return copy_sqlite(small_world_file, tmp_path)


@pytest.fixture
def client(world_url: str, tmp_path: Path) -> Iterator[TestClient]:
    services = make_services(world_url, tmp_path / "data")
    add_user(services.sessions, "rita", "rep")
    add_user(services.sessions, "omar", "owner")
    with TestClient(app_for(services)) as test_client:
        yield test_client


def _sessions(client: TestClient) -> sessionmaker[Session]:
    sessions: sessionmaker[Session] = client.app.state.services.sessions  # type: ignore[attr-defined]
    return sessions


def _pending(client: TestClient) -> Pick:
    return pick(_sessions(client), lambda _r, o: o.status == OrderStatus.PENDING)


def _start(client: TestClient) -> tuple[int, dict[str, str]]:
    response = client.post("/api/conversations")
    assert response.status_code == 201
    body = response.json()
    assert body["status"] == "open" and body["mode"] == "auto"
    return body["conversation_id"], {"Authorization": f"Bearer {body['token']}"}


def _say(client: TestClient, conv: int, auth: dict[str, str], text: str) -> dict[str, object]:
    response = client.post(f"/api/conversations/{conv}/messages", json={"text": text}, headers=auth)
    assert response.status_code == 200, response.text
    body: dict[str, object] = response.json()
    return body


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    assert response.cookies.get("csbot_session") == response.json()["token"]
    client.cookies.clear()  # each call below says who it is by its header alone
    return {"Authorization": f"Bearer {response.json()['token']}"}


def _status(client: TestClient, number: str) -> str:
    with _sessions(client)() as session:
        found = session.scalar(
            select(models.Order.status).where(models.Order.order_number == number)
        )
        return str(found)


def test_a_customer_cancels_in_auto_mode_and_every_turn_is_stored(client: TestClient) -> None:
    target = _pending(client)
    conv, auth = _start(client)
    for text in (
        "Hi, I want to cancel an order",
        target.email,
        f"it's order {target.order.order_number}",
        "I ordered it by mistake",
    ):
        assert _say(client, conv, auth, text)["reply"] is not None
    assert _status(client, target.order.order_number) == "pending"
    done = _say(client, conv, auth, "yes")
    assert _status(client, target.order.order_number) == "cancelled"
    assert done["index"] == 8
    transcript = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert [t["speaker"] for t in transcript["turns"]] == ["customer", "agent"] * 5
    later = client.get(f"/api/conversations/{conv}?after=7", headers=auth).json()
    assert [t["index"] for t in later["turns"]] == [8, 9]


def test_another_customers_conversation_is_404_like_one_that_does_not_exist(
    client: TestClient,
) -> None:
    conv, auth = _start(client)
    other, other_auth = _start(client)
    _say(client, conv, auth, "hello")
    for path in (f"/api/conversations/{conv}", f"/api/conversations/{conv}/messages"):
        method = client.get if path.endswith(str(conv)) else client.post
        kwargs = {} if method == client.get else {"json": {"text": "hi"}}
        as_other = method(path, headers=other_auth, **kwargs)  # type: ignore[operator]
        anonymous = method(path, **kwargs)  # type: ignore[operator]
        missing = method(path.replace(str(conv), "999999"), headers=auth, **kwargs)  # type: ignore[operator]
        assert as_other.status_code == anonymous.status_code == missing.status_code == 404
        assert as_other.json() == anonymous.json() == missing.json()
    transcript = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert len(transcript["turns"]) == 2  # the other customer's attempt wrote nothing


def test_customers_and_anonymous_callers_cannot_reach_rep_or_owner_routes(
    client: TestClient,
) -> None:
    _conv, customer = _start(client)
    rep = _login(client, "rita", "rep-password-1")
    owner = _login(client, "omar", "owner-password-1")
    for path in ("/api/assist/queue", "/api/assist/metrics", "/api/experiments"):
        assert client.get(path).status_code == 401
        assert client.get(path, headers=customer).status_code == 401
    assert client.get("/api/assist/queue", headers=owner).status_code == 403
    assert client.get("/api/experiments", headers=rep).status_code == 403
    wrong = client.post("/api/auth/login", json={"username": "rita", "password": "nope-nope"})
    unknown = client.post("/api/auth/login", json={"username": "nobody", "password": "nope-nope"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()


def test_a_rep_takes_a_handed_off_conversation_accepts_and_edits(client: TestClient) -> None:
    target = _pending(client)
    conv, auth = _start(client)
    handed = _say(client, conv, auth, "I want to talk to a human")
    assert handed["status"] == "handed_off"
    queued = _say(client, conv, auth, "I want to cancel an order")
    assert queued["reply"] is None and queued["mode"] == "assist"
    rep = _login(client, "rita", "rep-password-1")
    queue = client.get("/api/assist/queue", headers=rep).json()
    assert [(q["conversation_id"], q["waiting"]) for q in queue] == [(conv, True)]
    view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
    assert view["pending"] and view["customer"] is None
    assert [s["act"] for s in view["suggestions"]][0] == "request_auth"
    top = view["suggestions"][0]
    sent = client.post(
        f"/api/assist/conversations/{conv}/reply",
        json={"source": "suggestion", "template_id": top["template_id"], "text": top["text"]},
        headers=rep,
    )
    assert sent.status_code == 200 and sent.json()["kind"] == "accepted"
    _say(client, conv, auth, target.email)
    view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
    # The pending email authenticates the customer: the rep sees who they are before replying.
    assert view["customer"]["email"] == target.email and view["tracker"]["authenticated"]
    second = view["suggestions"][1]
    edited = client.post(
        f"/api/assist/conversations/{conv}/reply",
        json={
            "source": "suggestion",
            "template_id": second["template_id"],
            "text": second["text"] + " Thanks!",
        },
        headers=rep,
    )
    assert edited.json()["kind"] == "edited"
    view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
    assert view["customer"]["email"] == target.email and view["tracker"]["authenticated"]
    assert target.order.order_number in [o["order_number"] for o in view["customer"]["orders"]]
    metrics = client.get("/api/assist/metrics", headers=rep).json()
    assert metrics == {
        "rep_replies": 2,
        "with_suggestions": 2,
        "top1_acceptance": 0.5,
        "top4_acceptance": 0.5,
        "response_coverage": 1.0,
        "edit_rate": 0.5,
        "draft_offered": 0,
        "draft_used": 0,
    }
    customer_view = client.get(f"/api/conversations/{conv}", headers=auth).json()
    assert [t["speaker"] for t in customer_view["turns"]][-1] == "rep"
    assert customer_view["turns"][-1]["text"].endswith("Thanks!")


def test_a_rep_cancels_only_after_the_customers_yes(client: TestClient) -> None:
    target = _pending(client)
    conv, auth = _start(client)
    _say(client, conv, auth, "I want to talk to a human")
    rep = _login(client, "rita", "rep-password-1")
    number = target.order.order_number
    for text in (
        "Hi, I want to cancel an order",
        target.email,
        f"it's order {number}",
        "I ordered it by mistake",
        "yes",
    ):
        _say(client, conv, auth, text)
        view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
        cancel = [s for s in view["suggestions"] if s["action"] == "cancel_order"]
        if text != "yes":
            assert cancel == []
            top = view["suggestions"][0]
        else:
            assert _status(client, number) == "pending"
            top = cancel[0]
        body = {"source": "suggestion", "template_id": top["template_id"], "text": top["text"]}
        reply = client.post(f"/api/assist/conversations/{conv}/reply", json=body, headers=rep)
        assert reply.status_code == 200, reply.text
    assert reply.json()["action"] == "cancel_order"
    assert _status(client, number) == "cancelled"


def test_a_suggestion_not_offered_is_refused_and_changes_nothing(client: TestClient) -> None:
    target = _pending(client)
    conv, auth = _start(client)
    _say(client, conv, auth, "I want to talk to a human")
    _say(client, conv, auth, "cancel my order please")
    rep = _login(client, "rita", "rep-password-1")
    cancel_ids = [e.id for e in load_cancel_done()]
    body = {"source": "suggestion", "template_id": cancel_ids[0], "text": "Done, cancelled."}
    refused = client.post(f"/api/assist/conversations/{conv}/reply", json=body, headers=rep)
    assert refused.status_code == 409
    assert _status(client, target.order.order_number) == "pending"
    view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
    assert [t["speaker"] for t in view["turns"]] == ["customer", "agent", "customer"]


def load_cancel_done() -> list[object]:
    from templates import load_catalog

    return list(load_catalog().by_act("cancel_done"))


def test_script_payloads_are_stored_as_text(client: TestClient) -> None:
    conv, auth = _start(client)
    payload = '<script>alert(1)</script><img src=x onerror="alert(2)">'
    _say(client, conv, auth, payload)
    turns = client.get(f"/api/conversations/{conv}", headers=auth).json()["turns"]
    assert turns[0]["text"] == payload


@pytest.mark.parametrize(
    ("body", "status"),
    [
        pytest.param({"text": "x" * 20_000}, 422, id="over-the-wire-limit"),
        pytest.param({"text": 5}, 422, id="not-text"),
        pytest.param({}, 422, id="missing"),
        pytest.param({"text": "hi", "extra": 1}, 422, id="extra-field"),
    ],
)
def test_bad_message_bodies_get_a_clear_4xx(
    client: TestClient, body: dict[str, object], status: int
) -> None:
    conv, auth = _start(client)
    response = client.post(f"/api/conversations/{conv}/messages", json=body, headers=auth)
    assert response.status_code == status
    assert "detail" in response.json()


def test_an_oversized_body_is_413(client: TestClient) -> None:
    conv, auth = _start(client)
    response = client.post(
        f"/api/conversations/{conv}/messages",
        content=b'{"text": "' + b"x" * 100_000 + b'"}',
        headers=auth | {"content-type": "application/json"},
    )
    assert response.status_code == 413
    assert client.get(f"/api/conversations/{conv}", headers=auth).json()["turns"] == []


def test_a_huge_id_is_a_clear_4xx(client: TestClient) -> None:
    rep = _login(client, "rita", "rep-password-1")
    assert client.get(f"/api/conversations/{2**70}").status_code == 422
    assert client.get(f"/api/assist/conversations/{2**40}", headers=rep).status_code == 422
    assert client.get("/api/assist/conversations/424242", headers=rep).status_code == 404


def test_replies_are_plain_text_on_the_wire_whatever_the_name(client: TestClient) -> None:
    target = _pending(client)
    name = "<b>Eve</b> & O'Neil"
    with _sessions(client)() as session, session.begin():
        row = session.get(models.Customer, target.record.profile.id)
        assert row is not None
        row.first_name = name
    conv, auth = _start(client)
    _say(client, conv, auth, "I want to talk to a human")
    _say(client, conv, auth, f"hello, {target.email}")
    rep = _login(client, "rita", "rep-password-1")
    view = client.get(f"/api/assist/conversations/{conv}", headers=rep).json()
    named = [s for s in view["suggestions"] if "Eve" in s["text"]]
    assert named, [s["text"] for s in view["suggestions"]]
    assert all(name in s["text"] and "&lt;" not in s["text"] for s in named)
    body = {
        "source": "suggestion",
        "template_id": named[0]["template_id"],
        "text": named[0]["text"],
    }
    sent = client.post(f"/api/assist/conversations/{conv}/reply", json=body, headers=rep)
    assert sent.json()["kind"] == "accepted"  # the plain text offered is the text accepted
    assert (
        client.get(f"/api/conversations/{conv}", headers=auth).json()["turns"][-1]["text"]
        == (named[0]["text"])
    )


def test_simulated_contacts_never_reach_the_reps_queue(client: TestClient, tmp_path: Path) -> None:
    services = client.app.state.services  # type: ignore[attr-defined]
    finished_experiment(services.board.main_url, tmp_path / "reports")
    with _sessions(client)() as session:
        simulated = session.scalar(
            select(func.count()).where(models.Conversation.status == "handed_off")
        )
    assert simulated  # the experiment handed some contacts off, in this very store
    conv, auth = _start(client)
    _say(client, conv, auth, "I want to talk to a human")
    rep = _login(client, "rita", "rep-password-1")
    queue = client.get("/api/assist/queue", headers=rep).json()
    assert [q["conversation_id"] for q in queue] == [conv]


def test_a_handoff_puts_the_conversation_in_assist_mode_at_once(client: TestClient) -> None:
    conv, auth = _start(client)
    handed = _say(client, conv, auth, "I want to talk to a human")
    assert (handed["status"], handed["mode"]) == ("handed_off", "assist")
    empty = client.post(f"/api/conversations/{conv}/messages", json={"text": "   "}, headers=auth)
    assert empty.status_code == 422 and empty.json() == {"detail": "the message is empty"}
    turns = client.get(f"/api/conversations/{conv}", headers=auth).json()["turns"]
    assert [t["speaker"] for t in turns] == ["customer", "agent"]  # nothing stored for a rep
