"""Errors of the key holder's client: each carries a message a user can act on.

An `ApiError` carries the server's own problem+json `detail` (the server's words, not a
stack trace) plus the HTTP status; `ServerUnreachableError` says where the client looked.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sealdog.errors import SealdogError


class ClientError(SealdogError):
    """Something went wrong between the client and a Sealdog server."""


class ServerUnreachableError(ClientError):
    """No server answered at the URL (connection refused, DNS, timeout after retries)."""


class ApiError(ClientError):
    """The server answered with an error status.

    `detail` and `title` are its problem+json message (the server's words, not a stack
    trace); `problem` is the whole problem+json object (extension members such as
    `max_emails_per_batch` included; empty when the answer was not problem+json);
    `retry_after` is the Retry-After header in seconds, if the server sent one.
    """

    status: int
    detail: str
    title: str
    method: str
    url: str
    problem: dict[str, Any]
    retry_after: float | None

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        method: str = "",
        url: str = "",
        title: str = "",
        problem: Mapping[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        self.status = status
        self.detail = detail
        self.title = title
        self.method = method
        self.url = url
        self.problem = dict(problem or {})
        self.retry_after = retry_after
        where = f" ({method} {url})" if method else ""
        super().__init__(f"server said {status} {title or ''}: {detail}{where}".replace("  ", " "))


class AuthenticationError(ApiError):
    """401: missing, wrong or revoked token."""


class PermissionDeniedError(ApiError):
    """403: the token's role may not do this."""


class NotFoundError(ApiError):
    """404: no such model (or not visible to this token)."""


class PayloadTooLargeError(ApiError):
    """413: a server cap (batch size, body size, e-mail size, model size) was crossed.

    A batch-size refusal names the server's cap in `problem` (`max_emails_per_batch` or
    `max_inputs_per_batch`); the client adopts it and resends."""


class InvalidRequestError(ApiError):
    """422 (or 400): the server rejected the request's content."""


class ServiceUnavailableError(ApiError):
    """503: the server is up but not ready (still retried with backoff before raising)."""


_BY_STATUS: dict[int, type[ApiError]] = {
    400: InvalidRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    413: PayloadTooLargeError,
    422: InvalidRequestError,
    503: ServiceUnavailableError,
}


def api_error(
    status: int,
    detail: str,
    *,
    method: str = "",
    url: str = "",
    title: str = "",
    problem: Mapping[str, Any] | None = None,
    retry_after: float | None = None,
) -> ApiError:
    """The most specific `ApiError` subclass for an HTTP status."""
    cls = _BY_STATUS.get(status, ApiError)
    return cls(
        status,
        detail,
        method=method,
        url=url,
        title=title,
        problem=problem,
        retry_after=retry_after,
    )


class DecryptionError(ClientError):
    """Verdicts could not be decrypted with the given secret key."""


class AuditError(SealdogError):
    """A sealed model fails an audit check, or the audit inputs do not fit together."""


class EmailTooLargeError(PayloadTooLargeError):
    """An e-mail over the server's per-e-mail cap, refused by the client before sending it
    (so a 30 MB file is never uploaded to be refused). Status 413, the server's answer."""

    def __init__(self, name: str, size: int, cap: int) -> None:
        detail = (
            f"{name} is {size:,} bytes, above the server's cap of {cap:,} bytes per e-mail "
            "(SEALDOG_MAX_EMAIL_BYTES); not sent"
        )
        super().__init__(413, detail, title="Payload too large", problem={"max_email_bytes": cap})
        self.args = (detail,)
