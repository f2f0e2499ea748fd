"""The model registry: upload (validated), list, metadata, download (owner), delete, policy."""

from __future__ import annotations

import logging
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, Body, Header, Query, Request, Response, status
from fastapi.responses import FileResponse
from starlette.concurrency import run_in_threadpool

from sealdog.attestation import Attestation, AttestationError
from sealdog.protocol import Role
from sealdog.server import attestations
from sealdog.server.deps import App, Caller, Purpose, model_for, require_role
from sealdog.server.kinds.base import ModelRejectedError
from sealdog.server.problems import (
    CLIENT_GONE,
    Problem,
    missing_blob,
    problem_responses,
    unavailable,
)
from sealdog.server.schemas import ModelInfo, ModelList, ScorePolicy
from sealdog.server.scoring import ClientGoneError, ScoringUnavailableError, unless_disconnected
from sealdog.server.settings import ServerSettings
from sealdog.server.storage.blobs import BlobTooLargeError
from sealdog.server.storage.repository import DuplicateModelError, ModelRecord, utcnow

log = logging.getLogger("sealdog.server")

router = APIRouter(prefix="/v1/models", tags=["models"])

_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "description": "The sealed-model file (any kind) exactly as `SealedModel.to_bytes()` "
        "wrote it.",
        "content": {"application/octet-stream": {"schema": {"type": "string", "format": "binary"}}},
    }
}


def check_quota(settings: ServerSettings, *, models: int, used_bytes: int, new_bytes: int) -> None:
    """403 unless the owner may host one more model of `new_bytes` (per-owner quotas)."""
    if models >= settings.max_models_per_owner:
        raise Problem(
            403,
            f"quota: you host {models} models, the server's cap per owner is "
            f"{settings.max_models_per_owner} (SEALDOG_MAX_MODELS_PER_OWNER); delete one first",
            extra={"reason": "quota_models", "max_models_per_owner": settings.max_models_per_owner},
        )
    if used_bytes + new_bytes > settings.max_bytes_per_owner:
        raise Problem(
            403,
            f"quota: your models take {used_bytes:,} bytes; this upload would pass the "
            f"server's cap per owner of {settings.max_bytes_per_owner:,} bytes "
            "(SEALDOG_MAX_BYTES_PER_OWNER); delete a model first",
            extra={"reason": "quota_bytes", "max_bytes_per_owner": settings.max_bytes_per_owner},
        )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    response_model=ModelInfo,
    openapi_extra=_UPLOAD_BODY,
    responses={
        200: {"model": ModelInfo, "description": "Already uploaded by this owner."},
        **problem_responses(400, 401, 403, 409, 413, 422, 503),
    },
)
async def upload_model(
    request: Request,
    response: Response,
    app: App,
    caller: Caller,
    expected_digest: Annotated[
        str | None,
        Query(max_length=200, description="Refuse the upload unless its digest is this."),
    ] = None,
    strict_rerandomise: Annotated[
        bool,
        Query(
            description="Ask for strict re-randomisation (a full r^n per output pack) whatever "
            "the server's default; it cannot be turned off later."
        ),
    ] = False,
    sealdog_attestation: Annotated[
        str | None,
        Header(
            alias=attestations.ATTESTATION_HEADER,
            max_length=16 * 1024,
            description="An auditor's attestation (base64 of the file `sealdog audit --attest` "
            "wrote), checked against the uploaded model before anything is stored: 422 if it "
            "is malformed, by an untrusted auditor or for another model.",
        ),
    ] = None,
) -> ModelInfo:
    """Upload a sealed model. It is validated in full (scheme, kind, key size, every
    ciphertext in range, featuriser spec, digest) before it is acknowledged; a failed
    upload leaves nothing behind."""
    require_role(caller, Role.owner)
    settings = app.settings
    attestation: Attestation | None = None
    if sealdog_attestation is not None:
        try:
            attestation = attestations.from_header(sealdog_attestation)
        except AttestationError as exc:
            raise Problem(
                422, f"attestation refused: {exc}", extra={"reason": "attestation"}
            ) from None
    owned = await run_in_threadpool(app.repo.list_models, caller.subject)
    used_bytes = sum(m.size_bytes for m in owned)
    check_quota(settings, models=len(owned), used_bytes=used_bytes, new_bytes=0)
    room = settings.max_bytes_per_owner - used_bytes
    try:
        staged = await app.blobs.stage(
            request.stream(), max_bytes=min(settings.max_model_bytes, room)
        )
    except BlobTooLargeError as exc:
        if exc.args and exc.args[0] <= settings.max_model_bytes:
            check_quota(settings, models=len(owned), used_bytes=used_bytes, new_bytes=exc.args[0])
        raise Problem(
            413, "sealed model is larger than max_model_bytes (SEALDOG_MAX_MODEL_BYTES)"
        ) from None
    try:
        if staged.size == 0:
            raise Problem(422, "empty upload: send the sealed-model file as the request body")
        try:
            validated = await unless_disconnected(
                request.is_disconnected,
                app.scoring.validate(
                    staged.path,
                    demo_mode=settings.demo_mode,
                    allow_research=settings.allow_research_schemes,
                ),
            )
        except ModelRejectedError as exc:
            raise Problem(422, f"sealed model rejected: {exc}") from None
        except ScoringUnavailableError as exc:
            raise unavailable(exc) from None
        except ClientGoneError:
            raise Problem(CLIENT_GONE, "the client disconnected; upload abandoned") from None
        if expected_digest is not None and expected_digest != validated.digest:
            raise Problem(
                422,
                f"digest mismatch: the file's digest is {validated.digest}, "
                f"not the expected {expected_digest}",
            )
        document = None
        if attestation is not None:
            try:
                attestations.check(attestation, settings.auditors(), validated)
            except AttestationError as exc:
                raise Problem(
                    422, f"attestation refused: {exc}", extra={"reason": "attestation"}
                ) from None
            document = attestation.to_json()
        existing = await run_in_threadpool(
            app.repo.model_by_digest, caller.subject, validated.digest
        )
        if existing is not None:
            await run_in_threadpool(
                app.repo.attach,
                existing.id,
                attestation=document,
                strict_rerandomise=strict_rerandomise,
            )
            updated = await run_in_threadpool(app.repo.get_model, existing.id)
            response.status_code = status.HTTP_200_OK
            return ModelInfo.of(updated or existing)
        model_id = uuid.uuid4().hex
        record = ModelRecord.register(
            validated,
            id=model_id,
            owner=caller.subject,
            size_bytes=staged.size,
            uploaded_at=utcnow(),
            strict_rerandomise=strict_rerandomise,
            attestation=document,
        )
        # Blob first, then the row: a crash in between leaves an orphan file (swept at the
        # next start), never a row pointing at a missing file.
        await run_in_threadpool(staged.commit, model_id)
        try:
            await run_in_threadpool(app.repo.add_model, record)
        except DuplicateModelError:
            await run_in_threadpool(app.blobs.delete, model_id)
            existing = await run_in_threadpool(
                app.repo.model_by_digest, caller.subject, validated.digest
            )
            if existing is None:  # pragma: no cover - the duplicate vanished again
                raise Problem(409, "a concurrent upload of the same model failed; retry") from None
            response.status_code = status.HTTP_200_OK
            return ModelInfo.of(existing)
        except BaseException:
            await run_in_threadpool(app.blobs.delete, model_id)
            raise
    finally:
        staged.discard()
    log.info(
        "model %s uploaded by %s (kind %s, %d-bit key %s)",
        model_id,
        caller.subject,
        record.kind,
        record.key_bits,
        record.key_fingerprint,
    )
    response.headers["Location"] = f"/v1/models/{model_id}"
    return ModelInfo.of(record)


@router.get("", response_model=ModelList, responses=problem_responses(401, 403))
async def list_models(app: App, caller: Caller) -> ModelList:
    """Owners see their models, submitters the models granted to them, admins all models."""
    if caller.role is Role.owner:
        records = await run_in_threadpool(app.repo.list_models, caller.subject)
    elif caller.role is Role.submitter:
        records = await run_in_threadpool(app.repo.list_models_by_id, caller.model_ids)
    else:
        records = await run_in_threadpool(app.repo.list_models, None)
    return ModelList(models=[ModelInfo.of(r) for r in records])


@router.get("/{model_id}", response_model=ModelInfo, responses=problem_responses(401, 403, 404))
async def get_model(model_id: str, app: App, caller: Caller) -> ModelInfo:
    """Public metadata of one model (never its ciphertexts)."""
    return ModelInfo.of(await model_for(app, caller, model_id, purpose=Purpose.read))


@router.get(
    "/{model_id}/sealed",
    response_class=FileResponse,
    responses={
        200: {"content": {"application/octet-stream": {}}},
        **problem_responses(401, 403, 404, 409),
    },
)
async def download_sealed_model(model_id: str, app: App, caller: Caller) -> FileResponse:
    """The sealed-model file itself, for its owner only."""
    record = await model_for(app, caller, model_id, purpose=Purpose.own)
    blob = await run_in_threadpool(app.blobs.local_path, record.id)
    if blob is None:
        raise missing_blob(record.id)
    return FileResponse(
        blob,
        media_type="application/octet-stream",
        filename=f"{record.id}.sealed",
    )


@router.delete(
    "/{model_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    responses=problem_responses(401, 403, 404),
)
async def delete_model(model_id: str, app: App, caller: Caller) -> Response:
    """Delete a model, its grants and its verdict inbox."""
    record = await model_for(app, caller, model_id, purpose=Purpose.own)
    await run_in_threadpool(app.repo.delete_model, record.id)
    await run_in_threadpool(app.blobs.delete, record.id)
    log.info("model %s deleted by %s", record.id, caller.subject)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.put(
    "/{model_id}/policy",
    response_model=ModelInfo,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def set_policy(model_id: str, policy: ScorePolicy, app: App, caller: Caller) -> ModelInfo:
    """Operator (admin) switch for exact-score mode on one model; off by default."""
    require_role(caller, Role.admin)
    record = await model_for(app, caller, model_id, purpose=Purpose.read)
    await run_in_threadpool(app.repo.set_score_mode, record.id, policy.score_mode_enabled)
    log.warning(
        "exact-score mode %s for model %s by admin %s",
        "ENABLED" if policy.score_mode_enabled else "disabled",
        record.id,
        caller.subject,
    )
    updated = await run_in_threadpool(app.repo.get_model, record.id)
    assert updated is not None
    return ModelInfo.of(updated)


@router.put(
    "/{model_id}/attestation",
    response_model=ModelInfo,
    responses=problem_responses(400, 401, 403, 404, 413, 422),
)
async def attach_attestation(
    model_id: str,
    app: App,
    caller: Caller,
    document: Annotated[
        dict[str, Any],
        Body(description="The attestation file's JSON, as `sealdog audit --attest` wrote it."),
    ],
) -> ModelInfo:
    """Attach (or replace) an auditor's attestation to one of your models. It must be signed
    by a trusted auditor (SEALDOG_TRUSTED_AUDITORS) over this model's digest: 422 otherwise."""
    record = await model_for(app, caller, model_id, purpose=Purpose.own)
    try:
        attestation = Attestation.from_json(document)
        attestations.check(attestation, app.settings.auditors(), record)
    except AttestationError as exc:
        raise Problem(422, f"attestation refused: {exc}", extra={"reason": "attestation"}) from None
    await run_in_threadpool(app.repo.attach, record.id, attestation=attestation.to_json())
    log.info(
        "model %s attested by auditor %s (attached by %s)",
        record.id,
        attestation.statement.auditor,
        caller.subject,
    )
    updated = await run_in_threadpool(app.repo.get_model, record.id)
    assert updated is not None
    return ModelInfo.of(updated)
