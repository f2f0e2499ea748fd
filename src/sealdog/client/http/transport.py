"""Sending, without the sending: retry policy, backoff, and answers turned into results or
errors. Shared by both clients, which only perform the I/O.

- every request has a timeout; connection failures (nothing reached the server) and 503
  answers are retried with exponential backoff (or the server's Retry-After) on every call;
  other transport failures, and 502/504, only on idempotent calls;
- an error answer raises the `ApiError` subclass for its status, built from the server's
  problem+json (`detail`, `title`, the whole object as `problem`, `retry_after`).
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

import httpx

from sealdog import __version__
from sealdog.client.errors import ApiError, ClientError, ServerUnreachableError, api_error
from sealdog.client.http.endpoints import Call, Request
from sealdog.errors import CorruptDataError

T = TypeVar("T")

MAX_DETAIL = 2000  # characters of a server's error message kept (a proxy may send a page)
MAX_RETRY_AFTER = 3600.0
MAX_JSON_ANSWER_BYTES = 64 * 1024 * 1024  # a JSON answer (a page, a batch's verdicts) is far less


def check_answer_size(call: Call[Any], received: int, base_url: str) -> None:
    """Stop reading an answer larger than its route can honestly be: a hostile or broken
    server cannot make the client buffer gigabytes."""
    cap = call.request.max_answer_bytes or MAX_JSON_ANSWER_BYTES
    if received > cap:
        raise ClientError(
            f"The answer from {base_url} to {call.request.method} {call.request.path} is "
            f"larger than {cap:,} bytes; refusing to read more (is this a Sealdog server?)."
        )


def with_body(response: httpx.Response, body: bytes) -> httpx.Response:
    """A read response, rebuilt around the body read under the size cap."""
    return httpx.Response(
        response.status_code,
        headers=[(k, v) for k, v in response.headers.items() if k.lower() != "content-encoding"],
        content=body,
        request=response.request,
    )


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all, sleeping backoff * 2^k (capped, jittered) in between, or the
    server's Retry-After (capped at `max_backoff`)."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_backoff)
        base: float = min(self.backoff * (2**attempt), self.max_backoff)
        return base * (0.5 + random.random() / 2)


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header given as delta-seconds (an HTTP date is ignored)."""
    if value is None or not value.strip().isdigit():
        return None
    return min(float(value.strip()), MAX_RETRY_AFTER)


def headers(token: str | None) -> dict[str, str]:
    out = {"User-Agent": f"sealdog-client/{__version__}", "Accept": "application/json"}
    if token:
        out["Authorization"] = f"Bearer {token}"
    return out


def error_from(response: httpx.Response) -> ApiError:
    """The `ApiError` for an error answer, from its problem+json (or its text, if not JSON)."""
    problem: dict[str, Any] = {}
    try:
        body = response.json()
        if isinstance(body, dict):
            problem = body
    except (ValueError, RecursionError):
        pass
    detail = problem.get("detail")
    title = problem.get("title")
    detail = detail if isinstance(detail, str) and detail else ""
    if not detail:
        detail = response.text.strip()[:300] or response.reason_phrase
    return api_error(
        response.status_code,
        detail[:MAX_DETAIL],
        method=response.request.method,
        url=str(response.request.url.copy_with(query=None)),
        title=title[:200] if isinstance(title, str) else "",
        problem=problem,
        retry_after=parse_retry_after(response.headers.get("retry-after")),
    )


def decode(response: httpx.Response, call: Call[T]) -> T:
    """The parsed result of an answer, or the error it stands for."""
    if response.status_code >= 400:
        raise error_from(response)
    if response.status_code == 204:
        return call.parse(None)
    if response.headers.get("content-type", "").startswith("application/octet-stream"):
        return call.parse(response.content)
    try:
        payload = response.json()
    except (ValueError, RecursionError) as exc:  # RecursionError: JSON nested absurdly deep
        raise ClientError(
            f"The server at {response.request.url} did not answer with JSON."
        ) from exc
    try:
        return call.parse(payload)
    except (KeyError, TypeError, ValueError, CorruptDataError) as exc:
        raise ClientError(
            f"Unexpected answer from {response.request.url}: {exc}. Is this a Sealdog server "
            f"of a compatible version (this client is {__version__})?"
        ) from exc


def unreachable(base_url: str, exc: BaseException) -> ServerUnreachableError:
    return ServerUnreachableError(
        f"Cannot reach the Sealdog server at {base_url} ({type(exc).__name__}: "
        f"{exc or 'no answer'}). Is it running? Start one with `sealdog server run`, or "
        "point the client at it with --url / SEALDOG_URL."
    )


_ALWAYS_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT_RETRY = (
    httpx.ReadTimeout,
    httpx.WriteTimeout,
    httpx.ReadError,
    httpx.WriteError,
    httpx.RemoteProtocolError,
)


class Attempts:
    """The retry loop of one request, as a state machine the client drives:

    for delay in attempts:          # sleep `delay`, then send
        ... attempts.failed(exc)    # a transport error (raises if retrying is unsafe)
        ... if attempts.final(response): return decode(response, call)
    attempts.give_up()
    """

    def __init__(
        self, policy: RetryPolicy, request: Request, base_url: str, timeout: float
    ) -> None:
        self.policy = policy
        self.request = request
        self.base_url = base_url
        self.timeout = timeout
        self._attempt = 0
        self._last: Exception | None = None

    def __iter__(self) -> Iterator[float]:
        for attempt in range(self.policy.attempts):
            self._attempt = attempt
            if attempt == 0:
                yield 0.0
            else:
                retry_after = self._last.retry_after if isinstance(self._last, ApiError) else None
                yield self.policy.delay(attempt - 1, retry_after)

    def failed(self, exc: httpx.TransportError) -> None:
        """Remember a transport failure to retry; raise at once if resending is unsafe."""
        if isinstance(exc, _ALWAYS_RETRY) or (
            self.request.idempotent and isinstance(exc, _IDEMPOTENT_RETRY)
        ):
            self._last = exc
            return
        if isinstance(exc, httpx.TimeoutException):
            raise ClientError(
                f"No answer from {self.base_url} within {self.timeout:.0f} s; the request may "
                "or may not have been processed. Raise --timeout for large batches."
            ) from exc
        raise unreachable(self.base_url, exc) from exc

    def final(self, response: httpx.Response) -> bool:
        """True: decode this answer; False: retry it (503, or 502/504 when idempotent)."""
        status = response.status_code
        retry = status == 503 or (self.request.idempotent and status in (502, 504))
        if retry and self._attempt + 1 < self.policy.attempts:
            self._last = error_from(response)
            return False
        return True

    def give_up(self) -> NoReturn:
        if isinstance(self._last, ApiError):
            raise self._last
        raise unreachable(self.base_url, self._last or ClientError("no attempt made"))
