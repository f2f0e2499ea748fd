"""The app factory: `create_app(settings)` wires storage, auth, scoring and routers.

`app_from_environment()` is the zero-argument factory uvicorn workers call; it reads the
settings from SEALDOG_* variables (the CLI exports them before starting uvicorn).
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.concurrency import run_in_threadpool
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sealdog import __version__
from sealdog.server.deps import Services
from sealdog.server.limits import BodyLimitMiddleware
from sealdog.server.metrics import MetricsMiddleware, ServerMetrics
from sealdog.server.problems import ServerError, install_problem_handlers
from sealdog.server.routers import health, metrics, models, scoring, tokens, verdicts
from sealdog.server.scoring import EngineLimits, ScoringEngine
from sealdog.server.scoring_worker import die_with_parent
from sealdog.server.settings import BlobStoreKind, ServerSettings
from sealdog.server.storage.blobs import BlobStore, FileBlobStore
from sealdog.server.storage.database import make_engine, migrate
from sealdog.server.storage.db_blobs import DatabaseBlobStore
from sealdog.server.storage.repository import Repository

log = logging.getLogger("sealdog.server")
access_log = logging.getLogger("sealdog.server.access")

DEMO_MODE_WARNING = (
    "DEMO MODE: the server accepts Paillier keys under 2048 bits. Such keys can be factored "
    "and every sealed weight and verdict read. Never run demo mode with real data."
)

RESEARCH_SCHEMES_WARNING = (
    "RESEARCH SCHEMES: the server hosts xor networks sealed with the integer-vector scheme, "
    "whose presets are NOT confidential (estimated security under 1 bit). Demos and research only."
)


class AccessLogMiddleware:
    """One log line per HTTP request: method, path, status, milliseconds.

    Never the query string, a header (tokens travel in Authorization) or a body.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # unless a response starts

        async def send_and_note_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note_status)
        finally:
            ms = (time.perf_counter() - started) * 1000
            access_log.info("%s %s %d %.0f ms", scope["method"], scope["path"], status, ms)


def sweep_orphans(repo: Repository, blobs: BlobStore, *, min_age_seconds: float) -> int:
    """Remove upload temp files and blobs without a row older than `min_age_seconds`:
    leftovers of a crash mid-upload. Only `sealdog server run` calls it, before any worker
    starts (so no upload is in flight); the age threshold also spares the uploads of another
    server sharing the data folder. Returns how many files it removed."""
    cutoff = time.time() - min_age_seconds
    known = {m.id for m in repo.list_models()}
    return blobs.sweep_orphans(known, older_than=cutoff)


def prepare_storage(settings: ServerSettings) -> tuple[Repository, BlobStore]:
    """Open the database (migrating it if `auto_migrate`) and the blob store. Never deletes
    anything: operator commands run it against a live data folder."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = make_engine(settings.resolved_database_url())
    repo = Repository(engine)
    blobs: BlobStore
    if settings.blob_store is BlobStoreKind.postgres:
        if engine.dialect.name != "postgresql":
            raise ServerError(
                "SEALDOG_BLOB_STORE=postgres needs a postgresql database URL "
                "(SEALDOG_DATABASE_URL); use 'fs' with SQLite"
            )
        blobs = DatabaseBlobStore(engine, settings.blob_cache_dir)
    else:
        blobs = FileBlobStore(settings.blob_dir)
    if settings.auto_migrate:
        migrate(engine)
    return repo, blobs


def create_app(settings: ServerSettings | None = None) -> FastAPI:
    settings = settings or ServerSettings()
    repo, blobs = prepare_storage(settings)
    server_metrics = ServerMetrics()
    engine = ScoringEngine(
        settings.effective_scoring_processes(),
        EngineLimits(
            job_timeout_seconds=settings.scoring_timeout_seconds,
            validation_timeout_seconds=settings.validation_timeout_seconds,
            address_space_bytes=settings.scoring_address_space_bytes,
            cache_bytes=settings.model_cache_bytes,
            heavy_job_bytes=settings.heavy_job_bytes,
            heavy_nice=settings.heavy_lane_nice,
        ),
        heavy_processes=settings.effective_heavy_scoring_processes(),
        on_restart=lambda reason: server_metrics.scoring_restarts.labels(reason).inc(),
    )
    services = Services(settings=settings, repo=repo, blobs=blobs, scoring=engine)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        if settings.demo_mode:
            log.warning(DEMO_MODE_WARNING)
        if settings.demo_mode or settings.allow_research_schemes:
            log.warning(RESEARCH_SCHEMES_WARNING)
        await run_in_threadpool(engine.start)
        n = engine.processes
        log.info(
            "sealdog server %s: worker ready (%d scoring process%s, %d heavy-lane)",
            __version__,
            n,
            "" if n == 1 else "es",
            engine.heavy_processes,
        )
        try:
            yield
        finally:
            await run_in_threadpool(engine.shutdown)
            repo.engine.dispose()

    app = FastAPI(
        title="Sealdog",
        version=__version__,
        summary="Scores plaintext e-mails with sealed (Paillier-encrypted) models; "
        "never sees a secret key, a weight or a verdict.",
        lifespan=lifespan,
    )
    app.state.services = services
    app.state.metrics = server_metrics
    install_problem_handlers(app)
    for router in (
        health.router,
        metrics.router,
        models.router,
        scoring.router,
        verdicts.router,
        tokens.router,
    ):
        app.include_router(router)
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        max_upload_bytes=settings.max_model_bytes,
    )
    app.add_middleware(MetricsMiddleware, metrics=server_metrics)
    app.add_middleware(AccessLogMiddleware)  # outermost: times and logs every request
    return app


SUPERVISOR_PID_ENV = "SEALDOG_SUPERVISOR_PID"


def app_from_environment() -> FastAPI:
    """Factory for `uvicorn --factory`: settings from the environment.

    In a worker process that uvicorn's supervisor started (`--workers` > 1), ask the kernel
    to kill this worker when the supervisor dies: a `kill -9` of `sealdog server run` then
    takes the workers, and through their own parent-death signal every scoring process, too.
    """
    supervisor = os.environ.get(SUPERVISOR_PID_ENV)
    if supervisor and int(supervisor) != os.getpid():
        die_with_parent(int(supervisor))
    return create_app(ServerSettings())
