"""HTTP errors as RFC 9457 problem+json documents, never a stack trace.

Handlers raise `Problem` (or a subclass of `sealdog.errors.SealdogError`, which maps to a
4xx); everything unexpected becomes a bare 500 whose details go to the server log only.
"""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from sealdog.errors import SealdogError

log = logging.getLogger("sealdog.server")

PROBLEM_MEDIA_TYPE = "application/problem+json"
FASTAPI_BODY_PARSE_ERROR = "There was an error parsing the body"

_TITLES = {
    400: "Bad request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    411: "Length required",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    499: "Client closed request",
    500: "Internal server error",
    503: "Service unavailable",
}


PROBLEM_SCHEMA: dict[str, Any] = {
    "type": "object",
    "title": "Problem",
    "description": "An RFC 9457 problem document; a 413 on scoring may name the server's "
    "batch cap (max_emails_per_batch, max_inputs_per_batch), a 422 lists `errors`.",
    "required": ["type", "title", "status", "detail"],
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
        "errors": {"type": "array", "items": {"type": "object"}},
        "max_emails_per_batch": {"type": "integer", "minimum": 1},
        "max_inputs_per_batch": {"type": "integer", "minimum": 1},
        "max_email_bytes": {"type": "integer", "minimum": 1},
    },
    "additionalProperties": True,
}

_WHEN = {
    400: "The request is malformed (for example a Content-Length that is not a number).",
    401: "No token, or an invalid or revoked one.",
    403: "The token's role may not do this, or the model may not be used this way.",
    404: "No such model or token (or not visible to this token).",
    405: "Method not allowed (the Allow header lists the allowed ones).",
    409: "The request conflicts with the stored state (e.g. a stored model that cannot load).",
    411: "A Content-Length is required.",
    413: "A cap was crossed: body, batch, e-mail or model size (the detail names the setting).",
    415: "The body's media type is not the one this route takes.",
    422: "The request's content is invalid (malformed JSON or invalid UTF-8 included).",
    429: "Too many requests; retry after the Retry-After header's seconds.",
    503: "The server is not ready (database, scoring processes); retry later.",
}
_TRANSPORT_WHEN = {
    431: "The request head is over the server's cap (plain text, from the connection layer).",
    503: "Over the server's concurrency cap (plain text, from the connection layer); retry.",
}


def problem_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses=` entries for error statuses a route answers with problem+json.

    Route decorators use this so the document lists every status and media type the server
    really returns (schemathesis checks it with all its checks). 400 (a malformed request,
    refused before routing) and 422 (invalid parameters or body; replaces FastAPI's
    application/json default) apply to every API route and are always included."""
    responses: dict[int | str, dict[str, Any]] = {
        status: {
            "description": _WHEN.get(status, _TITLES.get(status, "Error")),
            "content": {PROBLEM_MEDIA_TYPE: {"schema": PROBLEM_SCHEMA}},
        }
        for status in sorted({400, 422, *statuses})
    }
    # The connection layer answers these before any route runs, as plain text: 431 for a
    # request head over the cap (server/connections.py), 503 above the concurrency cap.
    for status, when in _TRANSPORT_WHEN.items():
        entry = responses.setdefault(status, {"description": when, "content": {}})
        entry["content"]["text/plain"] = {"schema": {"type": "string"}}
    return responses


class Problem(Exception):
    """An error with an HTTP status and a message the caller can act on."""

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.title = title or _TITLES.get(status, "Error")
        self.headers = headers
        self.extra = extra or {}


CLIENT_GONE = 499  # nginx's "client closed request": only ever seen in the access log


def missing_blob(model_id: str) -> Problem:
    """The model's row exists but its sealed file does not (restored backup, disk loss)."""
    return Problem(
        409,
        f"model {model_id}'s sealed file is missing from the server's storage; the operator "
        "can restore it from a backup, or its owner can delete the model and upload it again",
        extra={"reason": "blob_missing"},
    )


def unavailable(exc: Exception) -> Problem:
    """503 for a job whose scoring process was killed (timeout, memory) or died."""
    reason = getattr(exc, "reason", "died")
    # A process that died may have been the victim of another job: worth one retry. A job
    # that overran or ran out of memory would do so again.
    headers = {"Retry-After": "1"} if reason == "died" else None
    return Problem(503, str(exc), headers=headers, extra={"reason": reason})


class ServerError(SealdogError):
    """A server-side condition the operator can act on (bad configuration, storage)."""


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    headers: dict[str, str] | None = None,
    extra: dict[str, Any] | None = None,
    instance: str | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title or _TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
    }
    if instance:
        body["instance"] = instance
    body.update(extra or {})
    return JSONResponse(body, status_code=status, headers=headers, media_type=PROBLEM_MEDIA_TYPE)


def _clean_validation_errors(errors: list[dict[str, Any]]) -> list[dict[str, Any]]:
    # Drop the echoed input (it may be a whole e-mail) and keep location + message.
    return [
        {"loc": list(err.get("loc", ())), "msg": str(err.get("msg", "")), "type": err.get("type")}
        for err in errors
    ]


def install_problem_handlers(app: FastAPI) -> None:
    """Route every exception the app can raise to a problem+json response."""

    @app.exception_handler(Problem)
    async def _problem(request: Request, exc: Problem) -> JSONResponse:
        return problem_response(
            exc.status,
            exc.detail,
            title=exc.title,
            headers=exc.headers,
            extra=exc.extra,
            instance=request.url.path,
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        detail = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        status = exc.status_code
        if status == 400 and detail == FASTAPI_BODY_PARSE_ERROR:
            # A body FastAPI could not decode (invalid UTF-8, say): malformed JSON is a 422
            # (as FastAPI answers for a JSON syntax error, and as the docs say).
            status, detail = 422, "invalid request: the body is not valid UTF-8 JSON"
        return problem_response(
            status,
            detail,
            headers=getattr(exc, "headers", None),
            instance=request.url.path,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = _clean_validation_errors(list(exc.errors()))
        first = errors[0] if errors else {"loc": [], "msg": "invalid request"}
        where = ".".join(str(p) for p in first["loc"])
        return problem_response(
            422,
            f"invalid request: {where}: {first['msg']}"
            if where
            else f"invalid request: {first['msg']}",
            extra={"errors": errors},
            instance=request.url.path,
        )

    @app.exception_handler(SealdogError)
    async def _sealdog(request: Request, exc: SealdogError) -> JSONResponse:
        # Domain errors reaching this point come from caller input (a malformed model,
        # an insecure key): 422, never 500.
        return problem_response(422, str(exc), instance=request.url.path)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error(
            "unhandled error on %s %s: %r", request.method, request.url.path, exc, exc_info=exc
        )
        return problem_response(
            500,
            "internal server error; the operator can find details in the server log",
            instance=request.url.path,
        )
