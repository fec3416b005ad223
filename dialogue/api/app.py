"""The FastAPI app: routes, static pages, error mapping; ``create_app`` is the factory."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles

from dialogue.api.deps import NOT_FOUND
from dialogue.api.routes import assist, auth, chat, experiments, pages
from dialogue.config import Settings
from dialogue.conversation import ConversationClosed, ConversationNotFound
from dialogue.service.desk import DeskConflict
from dialogue.service.experiments import BoardError
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
        max_body_size=settings.max_body_bytes,
    )
    app.state.services = built
    for router in (chat.router, auth.router, assist.router, experiments.router, pages.router):
        app.include_router(router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.exception_handler(ConversationNotFound)
    def _not_found(request: Request, exc: ConversationNotFound) -> JSONResponse:
        return JSONResponse({"detail": NOT_FOUND}, status_code=404)

    @app.exception_handler(ConversationClosed)
    def _closed(request: Request, exc: ConversationClosed) -> JSONResponse:
        return JSONResponse({"detail": "this conversation is closed"}, status_code=409)

    @app.exception_handler(DeskConflict)
    def _conflict(request: Request, exc: DeskConflict) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(BoardError)
    def _board(request: Request, exc: BoardError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=422)

    return app
