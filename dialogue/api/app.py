"""The FastAPI app: routes, static pages, error mapping; ``create_app`` is the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from dialogue.api.deps import NOT_FOUND
from dialogue.api.routes import assist, auth, chat, experiments, pages
from dialogue.config import Settings
from dialogue.conversation import ConversationClosed, ConversationNotFound
from dialogue.service.chat import EmptyMessage
from dialogue.service.desk import DeskConflict
from dialogue.service.experiments import BoardError
from dialogue.service.turns import TurnsUnavailable
from dialogue.service.wiring import Services, build_services


def create_app(services: Services | None = None, *, settings: Settings | None = None) -> FastAPI:
    """The service on ``services`` (built from ``settings`` when not given).

    The services are built eagerly (store migrated, models loaded) so that the first request
    does not pay for it and a missing model fails at start, not mid-conversation.
    """
    settings = settings or (services.settings if services is not None else Settings())
    built = services or build_services(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        built.close()

    app = FastAPI(
        title="csbot",
        version="0.1.0",
        summary="Customer-service dialogue: chat widget, agent-assist panel, experiment reports.",
        lifespan=lifespan,
    )
    app.state.services = built
    app.add_middleware(BodyLimit, limit=settings.max_body_bytes)
    for router in (chat.router, auth.router, assist.router, experiments.router, pages.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.exception_handler(RequestValidationError)
    def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse({"detail": field_errors(exc)}, status_code=422)

    @app.exception_handler(ConversationNotFound)
    def _not_found(request: Request, exc: ConversationNotFound) -> JSONResponse:
        return JSONResponse({"detail": NOT_FOUND}, status_code=404)

    @app.exception_handler(ConversationClosed)
    def _closed(request: Request, exc: ConversationClosed) -> JSONResponse:
        return JSONResponse({"detail": "this conversation is closed"}, status_code=409)

    @app.exception_handler(TurnsUnavailable)
    def _unavailable(request: Request, exc: TurnsUnavailable) -> JSONResponse:
        detail = "the message was not answered: please send it again"
        return JSONResponse({"detail": detail}, status_code=503, headers={"Retry-After": "1"})

    @app.exception_handler(EmptyMessage)
    def _empty(request: Request, exc: EmptyMessage) -> JSONResponse:
        return JSONResponse({"detail": "the message is empty"}, status_code=422)

    @app.exception_handler(DeskConflict)
    def _conflict(request: Request, exc: DeskConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(BoardError)
    def _board(request: Request, exc: BoardError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app


def field_errors(exc: RequestValidationError) -> list[dict[str, object]]:
    """FastAPI's validation errors without the input they echo (a password, or a lone surrogate
    that no JSON response can carry): where (``loc``), what (``msg``) and its ``type``."""
    return [
        {
            "type": error["type"],
            "loc": [_wire_text(p) if isinstance(p, str) else p for p in error["loc"]],
            "msg": _wire_text(str(error["msg"])),
        }
        for error in exc.errors()
    ]


def _wire_text(text: str) -> str:
    return text.encode("utf-8", errors="replace").decode("utf-8")


class BodyLimit:
    """Refuse a request body over ``limit`` bytes with a 413 before any route runs.

    The body is read whole here and handed on. (FastAPI's ``max_body_size`` counts only what a
    route reads: a route that takes no body, such as starting a conversation, logging out or
    closing, would run and write, and then be answered 413, or not at all for a body sent
    without a Content-Length.)
    """

    def __init__(self, app: ASGIApp, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length", "")
        if declared.isdigit() and int(declared) > self.limit:
            await self._refuse(scope, receive, send)
            return
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away mid-body
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(scope, receive, send)
                return
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        await self.app(scope, replay, send)

    async def _refuse(self, scope: Scope, receive: Receive, send: Send) -> None:
        detail = f"the request body is over {self.limit} bytes"
        response = JSONResponse(
            {"detail": detail}, status_code=413, headers={"Connection": "close"}
        )
        await response(scope, receive, send)
