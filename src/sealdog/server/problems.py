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
        if exc.status_code == 400 and detail == FASTAPI_BODY_PARSE_ERROR:
            # FastAPI's 400 for a body it cannot decode (invalid UTF-8, for one): the docs
            # promise 422 for every malformed body, as for malformed JSON.
            return problem_response(
                422,
                "request body is not valid JSON (UTF-8 encoded)",
                instance=request.url.path,
            )
        return problem_response(
            exc.status_code,
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
