"""Schemathesis against the service's OpenAPI spec, in process (ASGI).

Every operation is called as the caller it is for (a customer with its conversation's token, a
rep, an owner), first with schemathesis' coverage cases (boundary values, wrong types, missing
and unexpected fields, unexpected methods and content types), then with Hypothesis-generated
positive and negative cases; positive ones are aimed at a real conversation or experiment half
of the time. No response is a 5xx, and a documented response matches its schema and media type.
A last test runs random sequences of customer and rep actions on one conversation.

POST /api/experiments would start ``csbot experiment run`` in a child process: the board here
gets a :class:`RecordingLauncher`, which records the command and starts nothing (the board's
validation in front of it still runs).

Everything is seeded (``derandomize``, no example database), so a run is repeatable.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import Case, GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.schemas import APIOperation, BaseSchema
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
)
from starlette.types import ASGIApp, Receive, Scope, Send

from dialogue.service.experiments import RecordingLauncher
from dialogue.service.wiring import Services
from tests.conftest import copy_sqlite
from tests.service_helpers import (
    OWNER_PASSWORD,
    REP_PASSWORD,
    add_user,
    app_for,
    finished_experiment,
    make_services,
)

# Who calls each operation: "anyone" sends no credentials; "leaver" is a rep's session of its
# own (logging out ends it, and no other test depends on it).
OPERATIONS = [
    pytest.param("POST", "/api/conversations", "anyone", id="start-conversation"),
    pytest.param("POST", "/api/conversations/{conversation_id}/messages", "customer", id="send"),
    pytest.param("GET", "/api/conversations/{conversation_id}", "customer", id="transcript"),
    pytest.param("POST", "/api/auth/login", "anyone", id="login"),
    pytest.param("POST", "/api/auth/logout", "leaver", id="logout"),
    pytest.param("GET", "/api/auth/me", "rep", id="me"),
    pytest.param("GET", "/api/assist/queue", "rep", id="queue"),
    pytest.param("GET", "/api/assist/conversations/{conversation_id}", "rep", id="assist-view"),
    pytest.param(
        "POST", "/api/assist/conversations/{conversation_id}/reply", "rep", id="assist-reply"
    ),
    pytest.param(
        "POST", "/api/assist/conversations/{conversation_id}/close", "rep", id="assist-close"
    ),
    pytest.param("GET", "/api/assist/metrics", "rep", id="assist-metrics"),
    pytest.param("GET", "/api/experiments", "owner", id="experiments"),
    pytest.param("POST", "/api/experiments", "owner", id="start-experiment"),
    pytest.param("GET", "/api/experiments/{key}", "owner", id="experiment"),
    pytest.param("GET", "/api/experiments/{key}/report.html", "owner", id="report-page"),
]
CHECKS = [not_a_server_error, response_schema_conformance, content_type_conformance]
# Generated cases per operation and mode; argon2 makes each login attempt cost ~50 ms.
EXAMPLES = {"login": 8}
DEFAULT_EXAMPLES = 25
FUZZ_SETTINGS = settings(
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@dataclass
class FuzzWorld:
    """The app on a private small world, its spec, and the callers' credentials."""

    schema: BaseSchema
    services: Services
    client: TestClient  # setup calls only (no lifespan: schemathesis runs the app's)
    launcher: RecordingLauncher
    rep: dict[str, str]
    owner: dict[str, str]
    experiment_keys: tuple[str, ...]  # a finished experiment and a run started here


@dataclass(frozen=True)
class Callers:
    """One test's credentials and the conversations they own (fresh for each test)."""

    headers: dict[str, dict[str, str]]
    customer_conversation: int
    queued_conversation: int


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _login(client: TestClient, username: str, password: str) -> dict[str, str]:
    response = client.post("/api/auth/login", json={"username": username, "password": password})
    assert response.status_code == 200, response.text
    client.cookies.clear()
    return _bearer(response.json()["token"])


def _start(client: TestClient) -> tuple[int, dict[str, str]]:
    response = client.post("/api/conversations")
    assert response.status_code == 201, response.text
    return response.json()["conversation_id"], _bearer(response.json()["token"])


def _say(client: TestClient, conversation: int, auth: dict[str, str], text: str) -> None:
    response = client.post(
        f"/api/conversations/{conversation}/messages", json={"text": text}, headers=auth
    )
    assert response.status_code == 200, response.text


def _without_lifespan(app: ASGIApp) -> ASGIApp:
    """The app with a lifespan that does nothing: schemathesis' pytest plugin ends the lifespan
    after every test, which would close the services the whole module shares (the fixture
    closes them once, at the end)."""

    async def serve(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return

    return serve


@pytest.fixture(scope="module")
def fuzz(small_world_file: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FuzzWorld]:
    folder = tmp_path_factory.mktemp("fuzz")
    url = copy_sqlite(small_world_file, folder)
    services = make_services(url, folder / "data")
    launcher = RecordingLauncher()
    services.board.launch = launcher  # never a real run: see the module's docstring
    add_user(services.sessions, "rita", "rep")
    add_user(services.sessions, "omar", "owner")
    finished = finished_experiment(url, folder / "reports")
    app = app_for(services)
    client = TestClient(app)
    owner = _login(client, "omar", OWNER_PASSWORD)
    started = client.post("/api/experiments", json={"arms": "rules", "contacts": 5}, headers=owner)
    assert started.status_code == 202, started.text
    schema = schemathesis.openapi.from_asgi("/openapi.json", _without_lifespan(app))
    yield FuzzWorld(
        schema=schema,
        services=services,
        client=client,
        launcher=launcher,
        rep=_login(client, "rita", REP_PASSWORD),
        owner=owner,
        experiment_keys=(finished, started.json()["key"]),
    )
    services.close()


@pytest.fixture
def callers(fuzz: FuzzWorld) -> Callers:
    """A customer's conversation in auto mode and one handed off with a message waiting."""
    client = fuzz.client
    customer, customer_auth = _start(client)
    queued, queued_auth = _start(client)
    _say(client, queued, queued_auth, "I want to talk to a human")
    _say(client, queued, queued_auth, "I want to cancel an order")
    return Callers(
        headers={
            "anyone": {},
            "customer": customer_auth,
            "rep": fuzz.rep,
            "owner": fuzz.owner,
            "leaver": _login(client, "rita", REP_PASSWORD),
        },
        customer_conversation=customer,
        queued_conversation=queued,
    )


# Valid specs for POST /api/experiments (fuzzed ones almost never are): the launcher records them.
VALID_RUNS = (
    {"arms": "rules,rules_no_descriptions", "contacts": 20, "seed": 1, "name": "<b>A/B</b>"},
    {"arms": "A=rules:2,B=rules_no_descriptions", "contacts": 50_000, "workers": 8},
)


def _real_targets(fuzz: FuzzWorld, callers: Callers, caller: str) -> list[dict[str, Any]]:
    """Fixed parts of a request (``as_strategy`` arguments) that name something real the caller
    may open, or make a body that is accepted."""
    if caller == "customer":
        return [{"path_parameters": {"conversation_id": callers.customer_conversation}}]
    if caller == "rep":
        return [{"path_parameters": {"conversation_id": callers.queued_conversation}}]
    if caller == "owner":
        return [{"path_parameters": {"key": key}} for key in fuzz.experiment_keys] + [
            {"body": body} for body in VALID_RUNS
        ]
    return []


def _strategy(
    operation: APIOperation, mode: GenerationMode, targets: list[dict[str, Any]]
) -> st.SearchStrategy[Case]:
    """Generated cases, and as many again aimed at the targets that fit the operation. A
    negative case is aimed only where something other than the path is left to negate."""
    names = {p.name for p in operation.path_parameters}
    others = bool(list(operation.query)) or bool(operation.body)
    aimed = [
        t
        for t in targets
        if ("path_parameters" in t and set(t["path_parameters"]) == names and names)
        and (mode is GenerationMode.POSITIVE or others)
        or ("body" in t and operation.body and mode is GenerationMode.POSITIVE)
    ]
    generated = operation.as_strategy(generation_mode=mode)
    if not aimed:
        return generated
    real = st.one_of(*(operation.as_strategy(generation_mode=mode, **t) for t in aimed))
    return st.one_of(generated, real)


def _modes(operation: APIOperation) -> list[GenerationMode]:
    """Negative data needs something to negate: a parameter or a body."""
    has_input = bool(list(operation.iter_parameters())) or bool(operation.body)
    return (
        [GenerationMode.POSITIVE, GenerationMode.NEGATIVE]
        if has_input
        else [GenerationMode.POSITIVE]
    )


def _checked(headers: dict[str, str]) -> Callable[[Case], None]:
    def call(case: Case) -> None:
        response = case.call(headers=headers)
        case.validate_response(response, checks=CHECKS)

    return call


def test_every_operation_in_the_spec_is_fuzzed(fuzz: FuzzWorld) -> None:
    in_spec = {
        (result.ok().method.upper(), result.ok().path)
        for result in fuzz.schema.get_all_operations()
    }
    assert in_spec == {(p.values[0], p.values[1]) for p in OPERATIONS}


@pytest.mark.parametrize(("method", "path", "caller"), OPERATIONS)
def test_no_operation_answers_a_server_error(
    fuzz: FuzzWorld,
    callers: Callers,
    method: str,
    path: str,
    caller: str,
    request: pytest.FixtureRequest,
) -> None:
    operation = fuzz.schema[path][method]
    call = _checked(callers.headers[caller])
    generation = fuzz.schema.config.generation_for(operation=operation, phase="coverage")
    for case in fuzz.schema.iter_coverage_cases(
        operation, generation_modes=list(GenerationMode), generation_config=generation
    ):
        call(case)
    examples = EXAMPLES.get(request.node.callspec.id, DEFAULT_EXAMPLES)
    targets = _real_targets(fuzz, callers, caller)
    for mode in _modes(operation):

        @settings(FUZZ_SETTINGS, max_examples=examples)
        @given(case=_strategy(operation, mode, targets))
        def fuzz_operation(case: Case) -> None:
            call(case)

        fuzz_operation()


# ---- sequences: a customer and a rep on one conversation ------------------------------------
SCRIPTED = (
    "I want to talk to a human",
    "cancel my order please",
    "where is my refund?",
    "yes",
    "no",
    "",
    "<script>alert(1)</script>",
    "'; DROP TABLE turns; --",
    "cancel\x00 it \u202e now",
)
TEXT = st.one_of(st.sampled_from(SCRIPTED), st.text(max_size=40))
STEPS = st.lists(
    st.one_of(
        st.tuples(st.just("say"), TEXT),
        st.tuples(st.just("read"), st.just("")),
        st.tuples(st.just("view"), st.just("")),
        st.tuples(st.just("reply"), TEXT),
        st.tuples(st.just("take-top"), st.just("")),
        st.tuples(st.just("close"), st.just("")),
    ),
    max_size=6,
)
# What each step may answer; anything else (a 5xx above all) fails the sequence.
ALLOWED = {
    "say": {200, 409},
    "read": {200},
    "view": {200},
    "reply": {200, 409, 422},
    "take-top": {200, 409},
    "close": {204, 409},
}


def _send_json(client: TestClient, path: str, body: dict[str, Any], auth: dict[str, str]) -> Any:
    """JSON with escapes (httpx refuses to encode a lone surrogate; a server must not)."""
    return client.post(
        path,
        content=json.dumps(body).encode("ascii"),
        headers=auth | {"content-type": "application/json"},
    )


def _step(fuzz: FuzzWorld, conversation: int, auth: dict[str, str], step: str, text: str) -> Any:
    client, rep = fuzz.client, fuzz.rep
    assist = f"/api/assist/conversations/{conversation}"
    if step == "say":
        return _send_json(
            client, f"/api/conversations/{conversation}/messages", {"text": text}, auth
        )
    if step == "read":
        return client.get(f"/api/conversations/{conversation}", headers=auth)
    if step == "view":
        return client.get(assist, headers=rep)
    if step == "reply":
        return _send_json(client, f"{assist}/reply", {"source": "own", "text": text or " "}, rep)
    if step == "take-top":
        offered = client.get(assist, headers=rep).json()["suggestions"]
        top = offered[0] if offered else {"template_id": "none", "text": "nothing offered"}
        body = {"source": "suggestion", "template_id": top["template_id"], "text": top["text"]}
        return _send_json(client, f"{assist}/reply", body, rep)
    return client.post(f"{assist}/close", headers=rep)


@settings(FUZZ_SETTINGS, max_examples=15)
@given(steps=STEPS)
def test_random_sequences_keep_the_conversation_whole(
    fuzz: FuzzWorld, steps: list[tuple[str, str]]
) -> None:
    conversation, auth = _start(fuzz.client)
    seen = 0
    for step, text in steps:
        response = _step(fuzz, conversation, auth, step, text)
        assert response.status_code in ALLOWED[step], (step, text, response.text)
        transcript = fuzz.client.get(f"/api/conversations/{conversation}", headers=auth).json()
        turns = transcript["turns"]
        assert [t["index"] for t in turns] == list(range(len(turns)))
        assert all(set(t) == {"index", "speaker", "text", "created_at"} for t in turns)
        assert len(turns) >= seen  # nothing is ever taken back
        if response.status_code >= 400:
            assert len(turns) == seen, (step, text)  # a refused step wrote nothing
        seen = len(turns)
        if transcript["status"] == "closed":
            refused = _step(fuzz, conversation, auth, "say", "hello?")
            assert (refused.status_code, refused.json()) == (
                409,
                {"detail": "this conversation is closed"},
            )


# ---- what the fuzz found, pinned ------------------------------------------------------------
def test_times_on_the_wire_carry_their_utc_offset(fuzz: FuzzWorld) -> None:
    """The store's naive UTC went out without an offset: not an RFC 3339 date-time."""
    conversation, auth = _start(fuzz.client)
    _say(fuzz.client, conversation, auth, "hello")
    turns = fuzz.client.get(f"/api/conversations/{conversation}", headers=auth).json()["turns"]
    assert [t["created_at"][-1] for t in turns] == ["Z", "Z"]
    key = fuzz.experiment_keys[0]
    report = fuzz.client.get(f"/api/experiments/{key}", headers=fuzz.owner).json()
    assert report["created_at"].endswith("Z") and report["finished_at"].endswith("Z")


def test_the_spec_documents_the_errors_the_routes_send(fuzz: FuzzWorld) -> None:
    """A 422 of POST /api/experiments or of a customer's message is a sentence or FastAPI's field
    errors; the report page's 404 is JSON, not HTML."""
    spec = fuzz.client.get("/openapi.json").json()
    start = spec["paths"]["/api/experiments"]["post"]["responses"]["422"]
    assert start["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/Unprocessable"
    }
    send = spec["paths"]["/api/conversations/{conversation_id}/messages"]["post"]["responses"]
    schema_of = {code: send[code]["content"]["application/json"]["schema"] for code in send}
    assert schema_of["422"] == {"$ref": "#/components/schemas/Unprocessable"}
    for code in ("404", "409", "503"):
        assert schema_of[code] == {"$ref": "#/components/schemas/Problem"}
    page = spec["paths"]["/api/experiments/{key}/report.html"]["get"]["responses"]["404"]
    assert list(page["content"]) == ["application/json"]
