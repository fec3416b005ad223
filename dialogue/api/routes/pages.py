"""The web pages: static HTML that reads the JSON API (no server-side data in the markup)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse

STATIC = Path(__file__).resolve().parents[1] / "static"

router = APIRouter(include_in_schema=False)

_PAGES = {
    "/": "index.html",
    "/chat": "chat.html",
    "/assist": "assist.html",
    "/reports": "reports.html",
}


def _page(name: str) -> FileResponse:
    return FileResponse(STATIC / name, media_type="text/html", headers=_SECURITY_HEADERS)


_SECURITY_HEADERS = {
    # Scripts only from this origin, no inline script: an injected <script> cannot run.
    "Content-Security-Policy": (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "frame-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _route(path: str, name: str) -> None:
    def page() -> FileResponse:
        return _page(name)

    router.add_api_route(path, page, methods=["GET"], name=f"page:{name}")


for _path, _name in _PAGES.items():
    _route(_path, _name)
