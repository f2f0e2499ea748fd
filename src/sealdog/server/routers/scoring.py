"""Scoring: a batch of plaintext e-mails (or input rows) through a sealed model, delivered
directly or to the key holder's verdict inbox."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Annotated, Any

from fastapi import APIRouter, Body, Request, Response, status
from starlette.concurrency import run_in_threadpool

from sealdog.protocol import Mode
from sealdog.server import attestations
from sealdog.server.deps import App, Caller, Purpose, model_for
from sealdog.server.kinds.base import (
    Batch,
    EmailBatch,
    InputBatch,
    ModelRejectedError,
    ScoreJob,
    ScoringInputError,
    ScoringInputTooLargeError,
    ScoringOptions,
)
from sealdog.server.problems import (
    CLIENT_GONE,
    Problem,
    missing_blob,
    problem_responses,
    unavailable,
)
from sealdog.server.schemas import DirectVerdicts, EmailIn, ScoreAck, ScoreRequest
from sealdog.server.scoring import ClientGoneError, ScoringUnavailableError, unless_disconnected
from sealdog.server.storage.repository import VerdictRecord

router = APIRouter(prefix="/v1/models", tags=["scoring"])

IDEMPOTENCY_HEADER = "Idempotency-Key"
REPLAYED_HEADER = "Idempotent-Replayed"
_KEY_CHARS = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.:")
MAX_KEY_LENGTH = 64
_KEY_PATTERN = "^[A-Za-z0-9_.:-]+$"
"""`_KEY_CHARS` as the JSON Schema pattern the OpenAPI document gives clients."""

_IDEMPOTENCY_PARAMETER = {
    "parameters": [
        {
            "name": IDEMPOTENCY_HEADER,
            "in": "header",
            "required": False,
            "description": (
                "Inbox delivery only (ignored for direct delivery, but checked on both): a "
                "client's key for this batch. A retry with a stored key gets the stored "
                f"entry back (header {REPLAYED_HEADER}: true) instead of a second entry; "
                "the same key with a different batch gets 409."
            ),
            "schema": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_KEY_LENGTH,
                "pattern": _KEY_PATTERN,
            },
        }
    ]
}
"""The header is read from the request (it is optional and only used for inbox delivery),
so FastAPI does not list it; this puts it in the OpenAPI document with its constraints."""


def idempotency_key(request: Request) -> str | None:
    """The client's key for a batch (1-64 of A-Z a-z 0-9 - _ . :), None when absent; 422
    when malformed, whatever the delivery. Only an inbox batch uses it: a retry with a
    stored key is answered with the stored entry."""
    key = request.headers.get(IDEMPOTENCY_HEADER)
    if key is None:
        return None
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not _KEY_CHARS.issuperset(key):
        raise Problem(
            422,
            f"{IDEMPOTENCY_HEADER} must be 1-{MAX_KEY_LENGTH} characters of A-Z, a-z, 0-9, "
            "'-', '_', '.', ':' (a UUID fits)",
        )
    return key


def item(field: str, index: int | None) -> dict[str, Any]:
    """Problem+json members naming the one item at fault (`emails`/`inputs` and its index in
    the batch), so clients act on data, not on the message's wording; {} for the whole batch."""
    return {} if index is None else {"item": field, "index": index}


def base64_size(text: str) -> int:
    """The bytes base64 `text` decodes to (3 per 4 characters, less the padding), read from
    its length alone: an e-mail past the cap is refused before it is decoded, so a doomed
    body costs the event loop no work proportional to its size."""
    return len(text) // 4 * 3 - text[-2:].count("=")


def too_large(index: int, size: int, max_email_bytes: int) -> Problem:
    """The 413 for e-mail `index` of `size` bytes, its index and the cap as data."""
    return Problem(
        413,
        f"emails[{index}] is {size:,} bytes, above the server's cap of "
        f"{max_email_bytes:,} bytes per e-mail (SEALDOG_MAX_EMAIL_BYTES)",
        extra={**item("emails", index), "max_email_bytes": max_email_bytes},
    )


def decode_emails(emails: list[EmailIn], *, max_email_bytes: int) -> list[bytes]:
    """Raw bytes of each e-mail; 413 above the per-e-mail cap (checked first: a base64 body
    past it is never decoded), 422 for bad base64."""
    out: list[bytes] = []
    for i, email in enumerate(emails):
        if email.base64 is not None:
            size = base64_size(email.base64)
            if size > max_email_bytes:
                raise too_large(i, size, max_email_bytes)
            try:
                raw = base64.b64decode(email.base64, validate=True)
            except (binascii.Error, ValueError):
                raise Problem(
                    422, f"emails[{i}].base64 is not valid base64", extra=item("emails", i)
                ) from None
        else:
            assert email.raw is not None
            # JSON can carry lone surrogates; they cannot be UTF-8, so replace them.
            raw = email.raw.encode("utf-8", errors="replace")
        if len(raw) > max_email_bytes:
            raise too_large(i, len(raw), max_email_bytes)
        out.append(raw)
    return out


@router.post(
    "/{model_id}/score",
    response_model=DirectVerdicts | ScoreAck,
    openapi_extra=_IDEMPOTENCY_PARAMETER,
    responses={
        202: {"model": ScoreAck, "description": "Inbox delivery: stored for the key holder."},
        **problem_responses(400, 401, 403, 404, 409, 413, 422, 503),
    },
)
async def score(
    model_id: str,
    request: Request,
    response: Response,
    app: App,
    caller: Caller,
    body: Annotated[ScoreRequest, Body()],
) -> DirectVerdicts | ScoreAck:
    """Score e-mails (linear models) or bit inputs (xor networks) with a sealed model. The
    server sees the inputs but learns neither weights nor results: it returns (or stores)
    re-randomised ciphertexts (blinded verdicts for linear models)."""
    record = await model_for(app, caller, model_id, purpose=Purpose.score)
    key = idempotency_key(request)  # checked on every delivery, used by the inbox only
    if body.delivery != "inbox":
        key = None
    settings = app.settings
    if record.summary.get("research_grade") and not (
        settings.demo_mode or settings.allow_research_schemes
    ):
        raise Problem(
            403,
            f"model kind {record.kind!r} is research grade and this server no longer hosts it; "
            "the operator can opt in with --allow-research-schemes "
            "(SEALDOG_ALLOW_RESEARCH_SCHEMES)",
        )
    if body.inputs is not None:
        if len(body.inputs) > settings.max_inputs_per_batch:
            raise Problem(
                413,
                f"batch has {len(body.inputs)} inputs, above the server's cap of "
                f"{settings.max_inputs_per_batch} (SEALDOG_MAX_INPUTS_PER_BATCH); split it",
                extra={"max_inputs_per_batch": settings.max_inputs_per_batch},
            )
        batch: Batch = InputBatch(tuple(tuple(int(v) for v in row) for row in body.inputs))
        message_ids: list[str | None] = [None] * len(batch)
    else:
        assert body.emails is not None
        if len(body.emails) > settings.max_emails_per_batch:
            raise Problem(
                413,
                f"batch has {len(body.emails)} e-mails, above the server's cap of "
                f"{settings.max_emails_per_batch} (SEALDOG_MAX_EMAILS_PER_BATCH); split it",
                extra={"max_emails_per_batch": settings.max_emails_per_batch},
            )
        emails = decode_emails(body.emails, max_email_bytes=settings.max_email_bytes)
        batch = EmailBatch(tuple(emails), max_email_bytes=settings.max_email_bytes)
        message_ids = [e.message_id for e in body.emails]
    field = "inputs" if isinstance(batch, InputBatch) else "emails"
    if body.mode is Mode.SCORE and not record.score_mode_enabled:
        raise Problem(
            403,
            "exact-score mode is not enabled for this model; verdict mode is the default. "
            "The server operator can enable it: sealdog server model score-mode <id> --enable",
        )
    standing = attestations.standing(record.attestation, settings.auditors(), record)
    if settings.require_attestation and not standing.attested:
        raise Problem(
            403,
            "this server scores only with models attested by a trusted auditor "
            f"(SEALDOG_REQUIRE_ATTESTATION): {standing.reason}; attach one with "
            f"PUT /v1/models/{record.id}/attestation or `sealdog deploy --attestation`",
            extra={"reason": "attestation_required"},
        )
    count = len(batch)
    if key is not None:  # a retry of a stored batch is answered without scoring it again
        stored = await run_in_threadpool(app.repo.verdicts_by_key, record.id, key)
        if stored is not None:
            return replayed(stored, key, count, message_ids, body.mode, response)
    blob = await run_in_threadpool(app.blobs.local_path, record.id)
    if blob is None:
        raise missing_blob(record.id)
    job = ScoreJob(
        model_id=record.id,
        digest=record.digest,
        kind=record.kind,
        path=str(blob),
        batch=batch,
        options=ScoringOptions(
            mode=body.mode,
            strict_rerandomise=attestations.strict_for(
                settings.strict_rerandomise,
                model_asks=record.strict_rerandomise,
                attested=standing.attested,
            ),
            attested_score_bound=standing.score_bound,
        ),
    )
    try:
        verdicts = await unless_disconnected(request.is_disconnected, app.scoring.score(job))
    except ClientGoneError:
        raise Problem(CLIENT_GONE, "the client disconnected; scoring was cancelled") from None
    except ScoringUnavailableError as exc:
        raise unavailable(exc) from None
    except ScoringInputTooLargeError as exc:
        raise Problem(413, str(exc), extra=item(field, exc.index)) from None
    except ScoringInputError as exc:
        raise Problem(422, str(exc), extra=item(field, exc.index)) from None
    except ModelRejectedError as exc:  # the stored file: altered, or a format since retired
        raise Problem(
            409,
            f"the stored sealed model cannot be loaded ({exc}); its owner can delete the "
            "model and upload it again",
        ) from None
    request.app.state.metrics.emails_scored.labels(record.kind, body.mode.value, body.delivery).inc(
        count
    )
    if body.delivery == "direct":
        return DirectVerdicts(
            model_id=record.id, count=count, message_ids=message_ids, verdicts=verdicts
        )
    entry, stored_now = await run_in_threadpool(
        app.repo.store_verdicts,
        model_id=record.id,
        mode=body.mode,
        count=count,
        message_ids=message_ids,
        payload=json.dumps(verdicts, separators=(",", ":")),
        idempotency_key=key,
    )
    if not stored_now:  # an attempt racing this one stored it first
        assert key is not None
        return replayed(entry, key, count, message_ids, body.mode, response)
    response.status_code = status.HTTP_202_ACCEPTED
    return ScoreAck(model_id=record.id, count=count, inbox_entry=str(entry.id))


def replayed(
    entry: VerdictRecord,
    key: str,
    count: int,
    message_ids: list[str | None],
    mode: Mode,
    response: Response,
) -> ScoreAck:
    """The first acknowledgement of the batch stored under `key`; 409 if that stored batch
    is not this one (same count, message ids and mode)."""
    if entry.count != count or entry.message_ids != message_ids or entry.mode != mode:
        raise Problem(
            409,
            f"{IDEMPOTENCY_HEADER} {key!r} was already used for a different batch of this "
            "model; use a new key per batch",
        )
    response.headers[REPLAYED_HEADER] = "true"  # stored by an earlier attempt: not again
    response.status_code = status.HTTP_202_ACCEPTED
    return ScoreAck(model_id=entry.model_id, count=count, inbox_entry=str(entry.id))
