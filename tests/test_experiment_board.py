"""Experiment owners' routes: the list, a report, and a run started from the service."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from tests.conftest import SMALL_WORLD, copy_sqlite
from tests.service_helpers import add_user, app_for, finished_experiment, make_services


@pytest.fixture
def owner(small_world_file: Path, tmp_path: Path) -> Iterator[tuple[TestClient, dict[str, str]]]:
    url = copy_sqlite(small_world_file, tmp_path)
    world = {f"world_{k}": v for k, v in SMALL_WORLD.items()}
    services = make_services(url, tmp_path / "data", **world)
    add_user(services.sessions, "omar", "owner")
    with TestClient(app_for(services)) as client:
        login = client.post(
            "/api/auth/login", json={"username": "omar", "password": "owner-password-1"}
        )
        client.cookies.clear()
        yield client, {"Authorization": f"Bearer {login.json()['token']}"}


def test_a_finished_experiment_is_listed_with_its_figures_and_report(
    owner: tuple[TestClient, dict[str, str]], tmp_path: Path
) -> None:
    client, auth = owner
    services = client.app.state.services  # type: ignore[attr-defined]
    key = finished_experiment(services.board.main_url, tmp_path / "reports", name="<b>owner's</b>")
    listed = client.get("/api/experiments", headers=auth).json()
    assert [(e["key"], e["status"], e["has_report"], e["name"]) for e in listed] == [
        (key, "finished", True, "<b>owner's</b>")
    ]
    assert listed[0]["arms"] == ["rules", "rules_no_descriptions"]
    assert listed[0]["contacts_done"] == listed[0]["contacts"] == 40
    report = client.get(f"/api/experiments/{key}", headers=auth).json()
    arms = report["arm_summaries"]
    assert [a["arm"] for a in arms] == ["rules", "rules_no_descriptions"]
    assert sum(a["contacts"] for a in arms) >= 40  # primaries and their re-contacts
    for a in arms:
        assert 0 <= a["ci_low"] <= a["automation_rate"] <= a["ci_high"] <= 1
        assert a["automated"] <= a["contacts"]
    assert [(c["arm"], c["control"]) for c in report["comparisons"]] == [
        ("rules_no_descriptions", "rules")
    ]
    page = client.get(f"/api/experiments/{key}/report.html", headers=auth)
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in page.headers["content-security-policy"]
    assert "&lt;b&gt;owner&#39;s&lt;/b&gt;" in page.text and "<b>owner's</b>" not in page.text
    assert client.get("/api/experiments/nope", headers=auth).status_code == 404
    assert client.get("/api/experiments/nope/report.html", headers=auth).status_code == 404


@pytest.mark.parametrize(
    ("body", "message"),
    [
        pytest.param({"arms": "rules,nonsense", "contacts": 10}, "unknown arm", id="unknown-arm"),
        pytest.param(
            {"arms": "A=rules,A=rules_no_descriptions", "contacts": 10}, "unique", id="same-label"
        ),
        pytest.param({"arms": "rules,ranker", "contacts": 10}, "not ready", id="no-checkpoint"),
    ],
)
def test_a_run_that_cannot_start_is_a_clear_422_and_starts_nothing(
    owner: tuple[TestClient, dict[str, str]], body: dict[str, object], message: str
) -> None:
    client, auth = owner
    response = client.post("/api/experiments", json=body, headers=auth)
    assert response.status_code == 422
    assert message in response.json()["detail"]
    assert client.app.state.services.board._runs == {}  # type: ignore[attr-defined]


def test_an_owner_starts_a_run_and_reads_its_report(
    owner: tuple[TestClient, dict[str, str]],
) -> None:
    client, auth = owner
    body = {
        "arms": "rules,rules_no_descriptions",
        "contacts": 20,
        "seed": 3,
        "name": "from the api",
    }
    started = client.post("/api/experiments", json=body, headers=auth)
    assert started.status_code == 202, started.text
    key = started.json()["key"]
    assert started.json()["status"] == "starting"
    again = client.post("/api/experiments", json=body, headers=auth)
    assert again.json()["key"] == key  # the same spec is the same run, not a second one
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        entry = client.get(f"/api/experiments/{key}", headers=auth).json()
        if entry["status"] in ("finished", "failed"):
            break
        time.sleep(0.5)
    assert entry["status"] == "finished", entry["log_tail"]
    assert entry["has_report"] and entry["contacts_done"] == 20
    assert [a["arm"] for a in entry["arm_summaries"]] == ["rules", "rules_no_descriptions"]
    page = client.get(f"/api/experiments/{key}/report.html", headers=auth)
    assert page.status_code == 200 and "from the api" in page.text


def test_the_arms_that_need_a_checkpoint_are_the_arms_that_fail_without_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dialogue.config import Settings
    from simulator.arms import ARMS, ArmNotReady, build_agent, checkpoints_for

    for name in ("CSBOT_RANKER_CHECKPOINT", "CSBOT_GENERATOR_CHECKPOINT"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("CSBOT_DATA_DIR", str(tmp_path))  # no model files here
    settings = Settings()
    for name in ARMS:
        try:
            build_agent(name)
            ready = True
        except ArmNotReady:
            ready = False
        assert ready == (checkpoints_for(name, settings) == []), name
    assert checkpoints_for("hybrid", settings) == [
        settings.resolved_ranker_checkpoint(),
        settings.resolved_generator_checkpoint(),
    ]
