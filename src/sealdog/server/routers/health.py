"""Liveness (/healthz: the process answers) and readiness (/readyz: the database answers,
its schema is current and every hosted model's sealed file is there)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from sealdog import __version__
from sealdog.server.deps import App, Services
from sealdog.server.schemas import Health, Readiness
from sealdog.server.storage.database import current_revision, head_revision

router = APIRouter(tags=["health"])


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    # Deliberately touches nothing: it must answer while scoring processes are busy.
    return Health(status="ok", version=__version__)


@router.get(
    "/readyz",
    response_model=Readiness,
    responses={503: {"model": Readiness, "description": "Not ready: the body says why."}},
)
async def readyz(app: App) -> JSONResponse | Readiness:
    try:
        revision = await run_in_threadpool(current_revision, app.repo.engine)
    except Exception:
        body = Readiness(status="unavailable", database="unreachable", schema_revision=None)
        return JSONResponse(body.model_dump(), status_code=503)
    if revision != head_revision():
        body = Readiness(
            status="unavailable", database="schema not migrated", schema_revision=revision
        )
        return JSONResponse(body.model_dump(), status_code=503)
    missing = await run_in_threadpool(_missing_blobs, app)
    if missing:
        body = Readiness(
            status="unavailable",
            database="ok",
            schema_revision=revision,
            storage=f"{len(missing)} model file(s) missing",
            missing_models=missing[:MAX_LISTED],
        )
        return JSONResponse(body.model_dump(), status_code=503)
    return Readiness(status="ready", database="ok", schema_revision=revision)


MAX_LISTED = 100


def _missing_blobs(app: Services) -> list[str]:
    """Models with a row but no sealed file (one stat per model)."""
    return app.blobs.missing(m.id for m in app.repo.list_models())
