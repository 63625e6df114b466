"""``create_app``: builds the FastAPI app and mounts the routers. Nothing happens at import time."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from anyio import to_thread
from fastapi import FastAPI
from starlette.middleware import Middleware

from dlgrader import __version__
from dlgrader.api.docs import install_docs
from dlgrader.api.errors import install_error_handlers
from dlgrader.api.middleware import (
    ApiKeyMiddleware,
    BodyGuardMiddleware,
    JsonCORSMiddleware,
    RateLimitMiddleware,
    RequestContextMiddleware,
)
from dlgrader.api.openapi import install_openapi
from dlgrader.api.practice_store import PracticeStore
from dlgrader.api.ratelimit import limits_from_settings
from dlgrader.api.routes import grade, health, practice, questions, topics, web
from dlgrader.api.runtime import GradingPool
from dlgrader.config import Settings, get_settings
from dlgrader.corpus.loader import load_bank
from dlgrader.errors import DlgraderError
from dlgrader.loader import BackgroundLoader
from dlgrader.service import Grader

log = logging.getLogger(__name__)

# How long a shutdown during start-up waits for the model load to end (see ``BackgroundLoader.settle``).
SHUTDOWN_WAIT_FOR_LOAD_S = 20.0

DESCRIPTION = """Grade free-text answers to deep-learning interview questions against a sourced question
bank, offline. Every error has the shape `{"error": {"code", "message", "details"}}`.

When the service has API keys (`DLGRADER_API_KEYS`), send one as `Authorization: Bearer <key>` or
`X-API-Key: <key>`. Requests are rate limited per key (`DLGRADER_RATE_LIMIT_PER_MINUTE`); a 429 carries
`Retry-After`. Every response carries an `X-Request-ID` (yours, if you send one)."""


def _middleware(settings: Settings) -> list[Middleware]:
    stack = [Middleware(RequestContextMiddleware)]
    if settings.cors_origin_list:
        stack.append(Middleware(
            JsonCORSMiddleware, allow_origins=settings.cors_origin_list, allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "X-API-Key", "Content-Type", "X-Request-ID"],
            expose_headers=["X-Request-ID", "Retry-After"], allow_credentials=False, max_age=600))
    stack.append(Middleware(BodyGuardMiddleware, max_bytes=settings.max_body_bytes))
    limits = limits_from_settings(settings)  # one store (memory or Redis) for both limits
    if settings.api_key_set:
        stack.append(Middleware(ApiKeyMiddleware, keys=settings.api_key_set, failures=limits.auth_failures))
    if limits.requests is not None:
        stack.append(Middleware(RateLimitMiddleware, limiter=limits.requests))
    return stack


def create_app(settings: Settings | None = None, *,
               grader_factory: Callable[[Settings], Grader] | None = None) -> FastAPI:
    """The dlgrader API. The Grader is built by ``grader_factory`` (default ``Grader.from_settings``) in
    a background thread once the app starts; /readyz turns 200 when it is loaded."""
    settings = settings or get_settings()
    factory = grader_factory or Grader.from_settings
    holder = BackgroundLoader(lambda: factory(settings))

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # The bank alone loads in milliseconds: the question routes serve it while the model loads. A bank
        # that cannot be read is reported by the loader (/readyz says why), not by a crash at start-up.
        try:
            app.state.bank = load_bank(settings.corpus)
        except DlgraderError as exc:
            app.state.bank = None
            log.warning("the question bank could not be loaded: %s", exc)
        app.state.pool = GradingPool(grading_concurrency=settings.grading_concurrency,
                                     feedback_concurrency=settings.llm_concurrency)
        app.state.practice_store = PracticeStore(settings.resolved_data_dir())
        log.info("loading the model and the index", extra={"event": "loading"})
        holder.start()
        yield
        # A loading thread still in native code when the interpreter exits aborts the process, so a
        # shutdown during start-up waits (bounded) for loading to end first.
        await to_thread.run_sync(holder.settle, SHUTDOWN_WAIT_FOR_LOAD_S)
        app.state.practice_store.close()
        log.info("shut down", extra={"event": "shutdown"})

    app = FastAPI(title="dlgrader", version=__version__, description=DESCRIPTION, lifespan=lifespan,
                  middleware=_middleware(settings), strict_content_type=False, docs_url=None, redoc_url=None)
    app.state.settings = settings
    app.state.holder = holder
    install_error_handlers(app)
    for router in (health.router, grade.router, questions.router, topics.router, practice.router, web.router):
        app.include_router(router)
    install_openapi(app, settings)
    install_docs(app)
    return app
