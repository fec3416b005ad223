"""Bad input at the service's edge: oversized, malformed, hostile, unauthorized, someone else's.

Each answer is exact: the status, a readable ``detail``, and the store unchanged wherever the
request must not write (every table compared, row by row). Runs started from the service use a
:class:`RecordingLauncher`, so a request that got through would be seen, and nothing ever runs.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from dialogue.service import accounts
from dialogue.service.experiments import ExperimentBoard, RecordingLauncher
from dialogue.service.wiring import Services
from dialogue.store.models import Base
from tests.conftest import copy_sqlite
from tests.service_helpers import (
    CATALOG,
    OWNER_PASSWORD,
    REP_PASSWORD,
    add_user,
    app_for,
    make_services,
)

LIMIT = 64 * 1024  # Settings.max_body_bytes
NOT_FOUND = {"detail": "no such conversation"}
SIGN_IN = {"detail": "sign in first"}


@dataclass
class Api:
    """The app on a private small world, with a rep, an owner and a customer's conversation."""

    client: TestClient
    services: Services
    launcher: RecordingLauncher
    rep: dict[str, str]
    owner: dict[str, str]

    @property
    def sessions(self) -> sessionmaker[Session]:
        return self.services.sessions

    def start(self) -> tuple[int, dict[str, str]]:
        response = self.client.post("/api/conversations")
        assert response.status_code == 201, response.text
        return response.json()["conversation_id"], _bearer(response.json()["token"])

    def say(self, conversation: int, auth: dict[str, str], text: str) -> dict[str, Any]:
        response = post_json(self.client, f"/api/conversations/{conversation}/messages", auth, text)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    def queued(self) -> tuple[int, dict[str, str]]:
        """A conversation handed off to the reps, with the customer's message waiting."""
        conversation, auth = self.start()
        assert self.say(conversation, auth, "I want to talk to a human")["status"] == "handed_off"
        assert self.say(conversation, auth, "cancel my order please")["reply"] is None
        return conversation, auth

    def turns(self, conversation: int, auth: dict[str, str]) -> list[dict[str, Any]]:
        response = self.client.get(f"/api/conversations/{conversation}", headers=auth)
        assert response.status_code == 200, response.text
        turns: list[dict[str, Any]] = response.json()["turns"]
        return turns


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()  # each call below says who it is by its header alone
    return _bearer(response.json()["token"])


def post_json(
    client: TestClient, path: str, headers: dict[str, str], text: str | None = None, **body: Any
) -> httpx.Response:
    """POST a JSON body as ASCII with escapes, so that NUL and lone surrogates reach the server
    as JSON says them (httpx would refuse to encode a lone surrogate)."""
    payload = {"text": text, **body} if text is not None else body
    return client.post(
        path,
        content=json.dumps(payload).encode("ascii"),
        headers=headers | {"content-type": "application/json"},
    )


def store_digest(sessions: sessionmaker[Session]) -> str:
    """Every row of every table: equal digests mean the request wrote nothing."""
    digest = hashlib.sha256()
    with sessions() as session:
        for table in Base.metadata.sorted_tables:
            for row in session.execute(table.select().order_by(*table.primary_key.columns)):
                digest.update(repr(tuple(row)).encode())
    return digest.hexdigest()


@dataclass
class Served:
    """The app on a private small world with a rep and an owner signed in (once per module:
    each test compares the store before and after, so what others wrote does not matter)."""

    client: TestClient
    services: Services
    rep: dict[str, str]
    owner: dict[str, str]


@pytest.fixture(scope="module")
def served(small_world_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    folder = tmp_path_factory.mktemp("bad-input")
    services = make_services(copy_sqlite(small_world_file, folder), folder / "data")
    add_user(services.sessions, "rita", "rep")
    add_user(services.sessions, "omar", "owner")
    with TestClient(app_for(services)) as client:
        yield Served(
            client=client,
            services=services,
            rep=_login(client, "rita", REP_PASSWORD),
            owner=_login(client, "omar", OWNER_PASSWORD),
        )


@pytest.fixture
def api(served: Served, tmp_path: Path) -> Api:
    """The served app with a fresh experiment board of its own, whose launcher starts nothing."""
    services = served.services
    launcher = RecordingLauncher()
    services.board = ExperimentBoard(
        services.settings.model_copy(update={"data_dir": tmp_path}),
        main_url=services.board.main_url,
        launch=launcher,
    )
    served.client.cookies.clear()
    return Api(
        client=served.client,
        services=services,
        launcher=launcher,
        rep=served.rep,
        owner=served.owner,
    )


def _readable(detail: object) -> bool:
    """A sentence, or FastAPI's field errors each with a location and a message."""
    if isinstance(detail, str):
        return bool(detail.strip())
    return (
        isinstance(detail, list)
        and bool(detail)
        and all(isinstance(e.get("msg"), str) and isinstance(e.get("loc"), list) for e in detail)
    )


# ---- oversized bodies ---------------------------------------------------------------------
POST_ROUTES = [
    pytest.param("start", id="start-conversation"),
    pytest.param("message", id="message"),
    pytest.param("login", id="login"),
    pytest.param("logout", id="logout"),
    pytest.param("reply", id="assist-reply"),
    pytest.param("close", id="assist-close"),
    pytest.param("experiment", id="start-experiment"),
]


def _post_target(api: Api, route: str) -> tuple[str, dict[str, str]]:
    """The route's path and the credentials that would let a normal request through."""
    if route == "start":
        return "/api/conversations", {}
    if route == "message":
        conversation, auth = api.start()
        return f"/api/conversations/{conversation}/messages", auth
    if route == "login":
        return "/api/auth/login", {}
    if route == "logout":
        return "/api/auth/logout", api.rep
    if route == "experiment":
        return "/api/experiments", api.owner
    conversation, _ = api.queued()
    return f"/api/assist/conversations/{conversation}/{route}", api.rep


def _big_json(size: int) -> bytes:
    return b'{"text": "' + b"x" * size + b'"}'


@pytest.mark.parametrize("route", POST_ROUTES)
@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_body_over_the_limit_is_413_and_writes_nothing(
    api: Api, route: str, framing: str
) -> None:
    path, auth = _post_target(api, route)
    before = store_digest(api.sessions)
    body = _big_json(LIMIT + 1)
    headers = auth | {"content-type": "application/json"}
    if framing == "chunked":  # no Content-Length: the size is known only by reading
        content: Any = iter([body[i : i + 4096] for i in range(0, len(body), 4096)])
    else:
        content = body
    response = api.client.post(path, content=content, headers=headers)
    assert response.status_code == 413
    assert response.json() == {"detail": f"the request body is over {LIMIT} bytes"}
    assert store_digest(api.sessions) == before
    assert api.launcher.commands == []
    assert api.client.get("/api/auth/me", headers=api.rep).status_code == 200  # not logged out


def test_a_body_at_the_limit_is_read(api: Api) -> None:
    conversation, auth = api.start()
    body = _big_json(LIMIT - len(_big_json(0)))
    assert len(body) == LIMIT
    response = api.client.post(
        f"/api/conversations/{conversation}/messages",
        content=body,
        headers=auth | {"content-type": "application/json"},
    )
    assert response.status_code == 422  # read and parsed: over the wire's 10,000 characters
    assert response.json()["detail"][0]["type"] == "string_too_long"


# ---- unknown and other customers' conversations --------------------------------------------
@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/api/conversations/{id}", None, id="transcript"),
        pytest.param("POST", "/api/conversations/{id}/messages", {"text": "hi"}, id="message"),
    ],
)
def test_another_customers_conversation_is_exactly_an_unknown_one(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    mine, my_auth = api.start()
    theirs, their_auth = api.start()
    api.say(theirs, their_auth, "my email is someone@example.com")
    before = store_digest(api.sessions)

    def call(conversation: int, headers: dict[str, str]) -> httpx.Response:
        return api.client.request(method, path.format(id=conversation), json=body, headers=headers)

    responses = {
        "theirs with my token": call(theirs, my_auth),
        "theirs with no token": call(theirs, {}),
        "theirs with a garbage token": call(theirs, _bearer("garbage")),
        "unknown with my token": call(999_999, my_auth),
        "unknown with no token": call(999_999, {}),
    }
    for name, response in responses.items():
        assert response.status_code == 404, name
        assert response.json() == NOT_FOUND, name
    shown = {
        name: {k: v for k, v in r.headers.items() if k not in ("date", "content-length")}
        for name, r in responses.items()
    }
    assert len({json.dumps(h, sort_keys=True) for h in shown.values()}) == 1, shown
    assert store_digest(api.sessions) == before
    assert [t["speaker"] for t in api.turns(theirs, their_auth)] == ["customer", "agent"]
    assert api.turns(mine, my_auth) == []


@pytest.mark.parametrize(
    ("method", "path", "body"),
    [
        pytest.param("GET", "/api/assist/conversations/999999", None, id="view"),
        pytest.param(
            "POST",
            "/api/assist/conversations/999999/reply",
            {"source": "own", "text": "hello"},
            id="reply",
        ),
        pytest.param("POST", "/api/assist/conversations/999999/close", None, id="close"),
    ],
)
def test_an_unknown_conversation_is_404_for_a_rep(
    api: Api, method: str, path: str, body: dict[str, str] | None
) -> None:
    before = store_digest(api.sessions)
    response = api.client.request(method, path, json=body, headers=api.rep)
    assert (response.status_code, response.json()) == (404, NOT_FOUND)
    assert store_digest(api.sessions) == before


@pytest.mark.parametrize(
    "conversation_id",
    [
        pytest.param("0", id="zero"),
        pytest.param("-1", id="negative"),
        pytest.param(str(2**31), id="past-the-store"),
        pytest.param(str(2**70), id="huge"),
        pytest.param("1.5", id="fraction"),
        pytest.param("1e3", id="exponent"),
        pytest.param("abc", id="text"),
    ],
)
@pytest.mark.parametrize("caller", ["customer", "rep"])
def test_an_impossible_conversation_id_is_422(api: Api, conversation_id: str, caller: str) -> None:
    _, auth = api.start()
    prefix = "/api/conversations" if caller == "customer" else "/api/assist/conversations"
    headers = auth if caller == "customer" else api.rep
    response = api.client.get(f"{prefix}/{conversation_id}", headers=headers)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["path", "conversation_id"]


@pytest.mark.parametrize("after", ["-2", str(2**31), str(2**70), "x"])
def test_an_impossible_after_is_422(api: Api, after: str) -> None:
    conversation, auth = api.start()
    response = api.client.get(f"/api/conversations/{conversation}?after={after}", headers=auth)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["query", "after"]


# ---- malformed bodies -----------------------------------------------------------------------
BODY_ROUTES = {
    "message": ({"text": "hello"}, "text"),
    "login": ({"username": "rita", "password": REP_PASSWORD}, "username"),
    "reply": ({"source": "own", "text": "hello"}, "text"),
    "experiment": ({"arms": "rules", "contacts": 10}, "contacts"),
}
MALFORMED = [
    pytest.param(b'{"text": ', "json_invalid", id="truncated-json"),
    pytest.param(b"not json at all", "json_invalid", id="not-json"),
    pytest.param(b"[]", "model_attributes_type", id="a-list"),
    pytest.param(b'"hello"', "model_attributes_type", id="a-string"),
    pytest.param(b"null", "model_attributes_type", id="null"),
    pytest.param(b"", "missing", id="empty"),
    pytest.param(b"\xff\xfe{}", "json_invalid", id="not-utf8"),
]


@pytest.mark.parametrize("route", list(BODY_ROUTES))
@pytest.mark.parametrize(("raw", "error_type"), MALFORMED)
def test_a_malformed_body_is_a_readable_422(
    api: Api, route: str, raw: bytes, error_type: str
) -> None:
    path, auth = _post_target(api, route)
    before = store_digest(api.sessions)
    response = api.client.post(
        path, content=raw, headers=auth | {"content-type": "application/json"}
    )
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert _readable(detail)
    assert detail[0]["type"] == error_type
    assert store_digest(api.sessions) == before


@pytest.mark.parametrize("route", list(BODY_ROUTES))
@pytest.mark.parametrize(
    "change",
    [
        pytest.param("wrong-type", id="wrong-type"),
        pytest.param("missing", id="missing-field"),
        pytest.param("extra", id="extra-field"),
    ],
)
def test_a_body_with_wrong_fields_is_a_readable_422(api: Api, route: str, change: str) -> None:
    path, auth = _post_target(api, route)
    valid, field = BODY_ROUTES[route]
    body: dict[str, Any] = dict(valid)
    expected = {"wrong-type": "string_type", "missing": "missing", "extra": "extra_forbidden"}
    if change == "wrong-type":
        body[field] = ["not", "a", "scalar"]
        expected["wrong-type"] = "int_type" if field == "contacts" else "string_type"
    elif change == "missing":
        del body[field]
    else:
        body["is_admin"] = True
    before = store_digest(api.sessions)
    response = api.client.post(path, json=body, headers=auth)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert _readable(detail)
    assert detail[0]["type"] == expected[change]
    assert detail[0]["loc"] == ["body", "is_admin" if change == "extra" else field]
    assert store_digest(api.sessions) == before
    assert api.launcher.commands == []


# ---- credentials --------------------------------------------------------------------------
REP_AND_OWNER_ROUTES = [
    pytest.param("GET", "/api/auth/me", None, id="me"),
    pytest.param("GET", "/api/assist/queue", None, id="queue"),
    pytest.param("GET", "/api/assist/metrics", None, id="metrics"),
    pytest.param("GET", "/api/assist/conversations/{id}", None, id="assist-view"),
    pytest.param(
        "POST", "/api/assist/conversations/{id}/reply", {"source": "own", "text": "hi"}, id="reply"
    ),
    pytest.param("POST", "/api/assist/conversations/{id}/close", None, id="close"),
    pytest.param("GET", "/api/experiments", None, id="experiments"),
    pytest.param("POST", "/api/experiments", {"arms": "rules", "contacts": 5}, id="start-run"),
    pytest.param("GET", "/api/experiments/{key}", None, id="experiment"),
]


def _expired_token(api: Api) -> str:
    long_ago = datetime.now(UTC).replace(tzinfo=None) - timedelta(days=30)
    with api.sessions() as session, session.begin():
        signed = accounts.sign_in(session, username="rita", password=REP_PASSWORD, now=long_ago)
        assert signed is not None
        return signed[0]


def _logged_out_token(api: Api) -> str:
    auth = _login(api.client, "rita", REP_PASSWORD)
    assert api.client.post("/api/auth/logout", headers=auth).status_code == 204
    api.client.cookies.clear()
    return auth["Authorization"].removeprefix("Bearer ")


@pytest.mark.parametrize(("method", "path", "body"), REP_AND_OWNER_ROUTES)
@pytest.mark.parametrize(
    "credential",
    [
        "none",
        "garbage",
        "over-long",
        "expired",
        "logged-out",
        "customer-token",
        "basic-scheme",
        "empty-bearer",
    ],
)
def test_a_missing_or_bad_credential_is_401(
    api: Api, method: str, path: str, body: dict[str, Any] | None, credential: str
) -> None:
    conversation, customer = api.queued()
    tokens = {
        "none": {},
        "garbage": _bearer("garbage"),
        "over-long": _bearer("x" * 10_000),
        "expired": _bearer(_expired_token(api)) if credential == "expired" else {},
        "logged-out": _bearer(_logged_out_token(api)) if credential == "logged-out" else {},
        "customer-token": customer,
        "basic-scheme": {"Authorization": "Basic cml0YTpyZXAtcGFzc3dvcmQtMQ=="},
        "empty-bearer": {"Authorization": "Bearer "},
    }
    before = store_digest(api.sessions)
    response = api.client.request(
        method,
        path.format(id=conversation, key="0123456789abcdef"),
        json=body,
        headers=tokens[credential],
    )
    assert (response.status_code, response.json()) == (401, SIGN_IN)
    assert response.headers["www-authenticate"] == "Bearer"
    assert store_digest(api.sessions) == before
    assert api.launcher.commands == []


@pytest.mark.parametrize(
    ("field", "value"),
    [
        pytest.param("username", "ri\x00ta", id="nul-in-username"),
        pytest.param("password", "rep-pass\x00word-1", id="nul-in-password"),
        pytest.param("username", "rita\ud800", id="surrogate-in-username"),
        pytest.param("password", "\udfff" * 8, id="surrogate-in-password"),
    ],
)
def test_a_login_with_nul_or_a_lone_surrogate_is_422(api: Api, field: str, value: str) -> None:
    body = {"username": "rita", "password": REP_PASSWORD} | {field: value}
    before = store_digest(api.sessions)
    response = post_json(api.client, "/api/auth/login", {}, **body)
    assert response.status_code == 422
    assert response.json()["detail"][0]["loc"] == ["body", field]
    assert store_digest(api.sessions) == before


@pytest.mark.parametrize(
    ("username", "password"),
    [
        pytest.param("rita' OR '1'='1", "x' OR '1'='1", id="sql"),
        pytest.param("<script>alert(1)</script>", REP_PASSWORD, id="script"),
        pytest.param("rita", "p" * 256, id="longest-password"),
        pytest.param("r" * 64, REP_PASSWORD, id="longest-username"),
    ],
)
def test_a_hostile_login_is_a_plain_401(api: Api, username: str, password: str) -> None:
    response = post_json(api.client, "/api/auth/login", {}, username=username, password=password)
    assert (response.status_code, response.json()) == (
        401,
        {"detail": "wrong username or password"},
    )


# ---- empty and hostile messages -------------------------------------------------------------
def _act_texts(act: str) -> set[str]:
    return {CATALOG.render(e.id, {}) for e in CATALOG.by_act(act)}


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("   ", id="spaces"),
        pytest.param("\n\t\r", id="whitespace"),
        pytest.param("\x00\x00", id="only-nul"),
        pytest.param("\u200b\u200e", id="only-invisible"),
    ],
)
def test_an_empty_message_gets_the_bots_clear_reply(api: Api, text: str) -> None:
    conversation, auth = api.start()
    sent = api.say(conversation, auth, text)
    assert sent["reply"]["speaker"] == "agent"
    assert sent["reply"]["text"] in _act_texts("empty_message")
    assert sent["status"] == "open"
    assert [(t["speaker"], t["text"]) for t in api.turns(conversation, auth)] == [
        ("customer", ""),
        ("agent", sent["reply"]["text"]),
    ]


HOSTILE = [
    pytest.param(
        '<script>alert(1)</script><img src=x onerror="alert(2)">',
        '<script>alert(1)</script><img src=x onerror="alert(2)">',
        id="script",
    ),
    pytest.param(
        '"><svg/onload=alert(document.cookie)>{{7*7}}${7*7}',
        '"><svg/onload=alert(document.cookie)>{{7*7}}${7*7}',
        id="html-and-template",
    ),
    pytest.param("'; DROP TABLE turns; --", "'; DROP TABLE turns; --", id="sql-drop"),
    pytest.param("1' OR '1'='1", "1' OR '1'='1", id="sql-or"),
    pytest.param("cancel\x00 my order", "cancel my order", id="nul"),
    pytest.param("order \u202e1234\u202c please", "order 1234 please", id="rtl-override"),
    pytest.param("refund \ud800 status", "refund ? status", id="lone-surrogate"),
    pytest.param("ﬁnd my reﬁnd", "find my refind", id="compatibility-forms"),
]


@pytest.mark.parametrize(("text", "stored"), HOSTILE)
def test_a_hostile_message_is_stored_as_text_and_answered(api: Api, text: str, stored: str) -> None:
    conversation, auth = api.start()
    sent = api.say(conversation, auth, text)
    assert sent["reply"]["speaker"] == "agent" and sent["reply"]["text"]
    turns = api.turns(conversation, auth)
    assert turns[0] == {**turns[0], "speaker": "customer", "text": stored}
    view = api.client.get(f"/api/assist/conversations/{conversation}", headers=api.rep)
    assert view.status_code == 200
    assert view.json()["turns"][0]["text"] == stored


def test_ten_thousand_emoji_get_the_too_long_reply(api: Api) -> None:
    conversation, auth = api.start()
    text = "\U0001f600" * 10_000  # 40,000 bytes of UTF-8: under the body limit
    response = api.client.post(
        f"/api/conversations/{conversation}/messages",
        content=json.dumps({"text": text}, ensure_ascii=False).encode("utf-8"),
        headers=auth | {"content-type": "application/json"},
    )
    assert response.status_code == 200, response.text
    assert response.json()["reply"]["text"] in _act_texts("message_too_long")
    customer = api.turns(conversation, auth)[0]
    assert customer["text"] == "\U0001f600" * 4000 + " [truncated: 10000 characters in all]"


@pytest.mark.parametrize(
    ("text", "detail_type"),
    [
        pytest.param("<script>alert(1)</script>", None, id="script"),
        pytest.param("'; DROP TABLE turns; --", None, id="sql"),
        pytest.param("hello\x00there", "value_error", id="nul"),
        pytest.param("hello\udc80", "string_unicode", id="lone-surrogate"),
        pytest.param("   ", "conflict", id="blank"),
    ],
)
def test_a_reps_hostile_reply_is_stored_as_text_or_refused(
    api: Api, text: str, detail_type: str | None
) -> None:
    conversation, auth = api.queued()
    before = store_digest(api.sessions)
    response = post_json(
        api.client, f"/api/assist/conversations/{conversation}/reply", api.rep, text, source="own"
    )
    if detail_type is None:
        assert response.status_code == 200, response.text
        assert api.turns(conversation, auth)[-1] == {
            **api.turns(conversation, auth)[-1],
            "speaker": "rep",
            "text": text,
        }
        return
    if detail_type == "conflict":
        assert (response.status_code, response.json()) == (
            409,
            {"detail": "a reply needs some text"},
        )
    else:
        assert response.status_code == 422
        assert response.json()["detail"][0]["type"] == detail_type
    assert store_digest(api.sessions) == before


# ---- experiments ----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"arms": "nonsense"}, "unknown arm 'nonsense'", id="unknown-arm"),
        pytest.param({"arms": "rules,"}, "empty arm in 'rules,'", id="empty-arm"),
        pytest.param({"arms": ","}, "empty arm", id="only-a-comma"),
        pytest.param({"arms": "A=rules,A=rules_no_descriptions"}, "unique", id="same-label"),
        pytest.param({"arms": "rules:abc"}, "is not a number", id="weight-not-a-number"),
        pytest.param({"arms": "rules:-1"}, "finite number > 0", id="negative-weight"),
        pytest.param({"arms": "rules:nan"}, "finite number > 0", id="nan-weight"),
        pytest.param({"arms": "rules:inf"}, "weight", id="infinite-weight"),
        pytest.param({"arms": "rules,ranker"}, "not ready", id="no-checkpoint"),
        pytest.param({"arms": "../../etc/passwd"}, "unknown arm", id="path-as-arm"),
        pytest.param({"arms": "--help"}, "unknown arm '--help'", id="option-as-arm"),
        pytest.param({"arms": ""}, "at least 1 character", id="no-arms"),
        pytest.param({"arms": "rules\x00"}, "NUL", id="nul-in-arms"),
        pytest.param({"name": "run\x00"}, "NUL", id="nul-in-name"),
        pytest.param({"name": "\ud800"}, "valid string", id="surrogate-in-name"),
        pytest.param({"contacts": 0}, "greater than or equal to 1", id="no-contacts"),
        pytest.param({"contacts": -5}, "greater than or equal to 1", id="negative-contacts"),
        pytest.param({"contacts": 50_001}, "less than or equal to 50000", id="too-many-contacts"),
        pytest.param({"contacts": 2**70}, "less than or equal to 50000", id="huge-contacts"),
        pytest.param({"contacts": 1e308}, "valid integer", id="float-contacts"),
        pytest.param({"contacts": True}, "valid integer", id="boolean-contacts"),
        pytest.param({"contacts": "10"}, "valid integer", id="string-contacts"),
        pytest.param({"seed": -1}, "greater than or equal to 0", id="negative-seed"),
        pytest.param({"seed": 2**63}, "less than or equal to 2147483647", id="huge-seed"),
        pytest.param({"workers": 0}, "greater than or equal to 1", id="no-workers"),
        pytest.param({"workers": 1000}, "less than or equal to 8", id="too-many-workers"),
    ],
)
def test_a_run_that_cannot_start_is_a_clear_422_and_starts_nothing(
    api: Api, body: dict[str, Any], message: str
) -> None:
    spec = {"arms": "rules", "contacts": 10} | body
    before = store_digest(api.sessions)
    response = post_json(api.client, "/api/experiments", api.owner, **spec)
    assert response.status_code == 422, response.text
    detail = response.json()["detail"]
    assert _readable(detail)
    shown = detail if isinstance(detail, str) else " ".join(e["msg"] for e in detail)
    assert message in shown
    assert api.launcher.commands == []
    assert api.services.board.list() == []
    assert store_digest(api.sessions) == before


def test_a_hostile_experiment_name_is_kept_as_text_and_passed_as_one_argument(api: Api) -> None:
    name = "--help <script>alert(1)</script>; rm -rf / #"
    response = post_json(
        api.client, "/api/experiments", api.owner, arms="rules", contacts=5, name=name
    )
    assert response.status_code == 202, response.text
    assert response.json()["name"] == name
    [command] = api.launcher.commands
    assert command[command.index("--name") + 1] == name


@pytest.mark.parametrize(
    "path",
    [
        pytest.param("/api/experiments/0123456789abcdef", id="unknown-key"),
        pytest.param("/api/experiments/0123456789abcdef/report.html", id="unknown-key-report"),
        pytest.param("/api/experiments/..%2Fx", id="encoded-slash"),
        pytest.param("/api/experiments/..%2F..%2Fetc%2Fpasswd/report.html", id="encoded-traversal"),
        pytest.param("/api/experiments/%2e%2e", id="encoded-dots"),
        pytest.param("/api/experiments/..", id="dots"),
        pytest.param("/api/experiments/x.log", id="log-file"),
        pytest.param("/api/experiments/%00", id="nul"),
        pytest.param("/api/experiments/" + "a" * 65, id="over-long"),
        pytest.param("/api/experiments/..%5C..%5Cx/report.html", id="backslashes"),
    ],
)
def test_an_unknown_or_traversing_experiment_key_reads_no_file(
    api: Api, path: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []
    board = api.services.board
    real_get = board.get

    def get(key: str) -> Any:
        asked.append(key)
        return real_get(key)

    def no_log(key: str) -> str | None:
        raise AssertionError(f"a log was read for {key!r}")

    monkeypatch.setattr(board, "get", get)
    monkeypatch.setattr(board, "log_tail", no_log)
    response = api.client.get(path, headers=api.owner)
    assert response.status_code in (404, 422), response.text
    assert _readable(response.json()["detail"])
    assert all(k == "0123456789abcdef" for k in asked), asked


@pytest.mark.parametrize(
    ("route", "body"),
    [
        pytest.param("message", {"text": "hi", "\ud800": 1}, id="message"),
        pytest.param(
            "login", {"username": "rita", "password": REP_PASSWORD, "\udfff": 1}, id="login"
        ),
        pytest.param("experiment", {"arms": "rules", "contacts": 5, "x\ud800": 1}, id="run"),
    ],
)
def test_a_lone_surrogate_in_a_field_name_is_a_422_not_a_500(
    api: Api, route: str, body: dict[str, Any]
) -> None:
    """FastAPI's 422 echoed the input back: with a lone surrogate in it, the error itself failed
    to encode (a 500)."""
    path, auth = _post_target(api, route)
    before = store_digest(api.sessions)
    response = post_json(api.client, path, auth, **body)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "string_unicode",
            "loc": ["body"],
            "msg": "Input should be a valid string, unable to parse raw data as a unicode string",
        }
    ]
    assert store_digest(api.sessions) == before


def test_a_refused_password_is_not_echoed_back(api: Api) -> None:
    password = "correct horse battery staple " * 10  # over the 256 characters a password has
    response = post_json(api.client, "/api/auth/login", {}, username="rita", password=password)
    assert response.status_code == 422
    assert response.json()["detail"] == [
        {
            "type": "string_too_long",
            "loc": ["body", "password"],
            "msg": "String should have at most 256 characters",
        }
    ]
    assert "horse" not in response.text
