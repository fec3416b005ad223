"""Experiment owners: the experiments, each report, and starting a run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse
from starlette import status

from dialogue.api import schemas
from dialogue.api.deps import OwnerUser, ServicesDep
from dialogue.service.experiments import ExperimentEntry

router = APIRouter(prefix="/api/experiments", tags=["experiments"])

ExperimentKey = Annotated[str, PathParam(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
_NOT_FOUND: dict[int | str, dict[str, Any]] = {404: {"model": schemas.Problem}}
# The page is HTML; its errors are JSON problems, like every other route's.
_PAGE_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {
        "description": "Not Found",
        "content": {"application/json": {"schema": schemas.Problem.model_json_schema()}},
    }
}
# The report is self-contained (inline CSS, data: images) and needs nothing else.
_REPORT_CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; frame-ancestors 'self'"


@router.get("")
def list_experiments(user: OwnerUser, services: ServicesDep) -> list[schemas.ExperimentOut]:
    return [_summary(e) for e in services.board.list()]


@router.post(
    "", status_code=status.HTTP_202_ACCEPTED, responses={422: {"model": schemas.Unprocessable}}
)
def start_experiment(
    body: schemas.ExperimentIn, user: OwnerUser, services: ServicesDep
) -> schemas.ExperimentOut:
    """Start ``csbot experiment run`` for this spec in the background (the same spec already
    running or finished is returned as it is)."""
    entry = services.board.start(
        arms=body.arms,
        contacts=body.contacts,
        seed=body.seed,
        name=body.name,
        workers=body.workers,
    )
    return _summary(entry)


@router.get("/{key}", responses=_NOT_FOUND)
def read_experiment(
    key: ExperimentKey, user: OwnerUser, services: ServicesDep
) -> schemas.ExperimentReport:
    entry = _found(services, key)
    figures = entry.report
    return schemas.ExperimentReport(
        **_summary(entry).model_dump(),
        arm_summaries=_arm_summaries(figures),
        comparisons=_comparisons(figures),
        figures=figures,
        log_tail=services.board.log_tail(key) if entry.status == "failed" else None,
    )


@router.get("/{key}/report.html", response_class=HTMLResponse, responses=_PAGE_NOT_FOUND)
def report_page(key: ExperimentKey, user: OwnerUser, services: ServicesDep) -> HTMLResponse:
    """The report as written by the run: a self-contained HTML page."""
    entry = _found(services, key)
    path = Path(entry.report_path) if entry.report_path else None
    if path is None or not path.is_file():
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="this experiment has no report yet")
    return HTMLResponse(
        path.read_text(encoding="utf-8"),
        headers={"Content-Security-Policy": _REPORT_CSP, "X-Content-Type-Options": "nosniff"},
    )


def _found(services: ServicesDep, key: str) -> ExperimentEntry:
    entry = services.board.get(key)
    if entry is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such experiment")
    return entry


def _summary(e: ExperimentEntry) -> schemas.ExperimentOut:
    return schemas.ExperimentOut(
        key=e.key,
        name=e.name,
        status=schemas.experiment_status_of(e.status),
        arms=e.arms,
        contacts=e.contacts,
        seed=e.seed,
        created_at=e.created_at,
        finished_at=e.finished_at,
        contacts_done=e.contacts_done,
        has_report=e.report is not None,
    )


def _arm_summaries(figures: dict[str, Any] | None) -> list[schemas.ArmSummary]:
    if not figures:
        return []
    out = []
    for arm in figures.get("arms", []):
        overall = arm["overall"]
        low, high = overall["automation_ci"]
        out.append(
            schemas.ArmSummary(
                arm=arm["name"],
                contacts=overall["contacts"],
                automated=overall["automated"],
                automation_rate=overall["automation_rate"],
                ci_low=low,
                ci_high=high,
            )
        )
    return out


def _comparisons(figures: dict[str, Any] | None) -> list[schemas.ComparisonSummary]:
    if not figures:
        return []
    return [
        schemas.ComparisonSummary(
            arm=c["treatment"],
            control=c["control"],
            difference=c["comparison"]["difference"],
            ci_low=c["comparison"]["ci_low"],
            ci_high=c["comparison"]["ci_high"],
            p_value=c["comparison"]["p_value"],
        )
        for c in figures.get("comparisons", [])
        if c.get("issue_type") is None
    ]
