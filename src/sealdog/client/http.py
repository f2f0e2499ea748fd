"""A typed HTTP client for the Sealdog API (httpx), synchronous and asynchronous.

Both clients share one table of endpoints (`_Api`: request builders and response parsers,
pure functions) and differ only in how they send. Behaviour:

- every request has a timeout; connection failures (nothing reached the server) and 503
  answers are retried with exponential backoff on every call; other transport failures,
  and 502/504, only on idempotent calls (GET, DELETE, model upload, which is
  content-addressed, and direct scoring, which stores nothing);
- an error answer raises an `ApiError` subclass carrying the server's problem+json message;
- `score` splits a submission into batches under the server's caps (e-mails per batch,
  request body bytes); if the server reports a smaller batch cap (413), the client adopts
  it and resends only the refused batch (a 413 stores nothing).
"""

from __future__ import annotations

import asyncio
import base64
import random
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, NoReturn, TypeVar

import httpx

from sealdog import __version__
from sealdog.client.errors import (
    ApiError,
    ClientError,
    PayloadTooLargeError,
    ServerUnreachableError,
    api_error,
)
from sealdog.crypto.paillier import EncryptedVerdicts
from sealdog.sealed_model import SealedModel

DEFAULT_TIMEOUT = 120.0
DEFAULT_BATCH_SIZE = 256  # the server's default SEALDOG_MAX_EMAILS_PER_BATCH
DEFAULT_MAX_BODY_BYTES = 12 * 1024 * 1024  # under the server's default 16 MiB body cap
Delivery = Literal["direct", "inbox"]
Mode = Literal["verdict", "score"]
T = TypeVar("T")

_BATCH_CAP_RE = re.compile(r"cap of ([\d,]+)\b")


# --- typed results ----------------------------------------------------------------------


@dataclass(frozen=True)
class ModelInfo:
    """A hosted model's public metadata (never its ciphertexts)."""

    id: str
    kind: str
    scheme: str
    digest: str
    key_fingerprint: str
    key_bits: int
    size_bytes: int
    uploaded_at: str
    score_mode_enabled: bool
    owner: str
    summary: dict[str, Any] = field(repr=False)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelInfo:
        return cls(
            id=data["id"], kind=data["kind"], scheme=data["scheme"], digest=data["digest"],
            key_fingerprint=data["key_fingerprint"], key_bits=int(data["key_bits"]),
            size_bytes=int(data["size_bytes"]), uploaded_at=str(data["uploaded_at"]),
            score_mode_enabled=bool(data["score_mode_enabled"]), owner=data["owner"],
            summary=dict(data.get("summary") or {}),
        )


@dataclass(frozen=True)
class Email:
    """One e-mail to submit: raw bytes and an optional id echoed into the verdict inbox."""

    raw: bytes
    message_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"base64": base64.b64encode(self.raw).decode("ascii")}
        if self.message_id is not None:
            body["message_id"] = self.message_id[:998]
        return body

    @property
    def wire_size(self) -> int:
        return 4 * ((len(self.raw) + 2) // 3) + len(self.message_id or "") + 40


@dataclass(frozen=True)
class DirectResult:
    """Direct delivery: one batch's encrypted verdicts, in submission order."""

    model_id: str
    message_ids: list[str | None]
    verdicts: EncryptedVerdicts


@dataclass(frozen=True)
class InboxAck:
    """Inbox delivery: the server stored the batch's verdicts for the key holder."""

    model_id: str
    count: int
    inbox_entry: str


@dataclass(frozen=True)
class InboxEntry:
    cursor: str
    model_id: str
    created_at: str
    mode: str
    count: int
    message_ids: list[str | None]
    verdicts: EncryptedVerdicts


@dataclass(frozen=True)
class InboxPage:
    entries: list[InboxEntry]
    next_cursor: str


@dataclass(frozen=True)
class RetryPolicy:
    """`attempts` tries in all, sleeping backoff * 2^k (capped, jittered) in between."""

    attempts: int = 4
    backoff: float = 0.25
    max_backoff: float = 8.0

    def delay(self, attempt: int, retry_after: str | None = None) -> float:
        if retry_after and retry_after.isdigit():
            return min(float(retry_after), self.max_backoff)
        base = min(self.backoff * (2**attempt), self.max_backoff)
        return base * (0.5 + random.random() / 2)


# --- endpoints: request builders and parsers (shared by both clients) -------------------


@dataclass(frozen=True)
class _Request:
    method: str
    path: str
    idempotent: bool
    params: dict[str, Any] | None = None
    json: Any = None
    content: bytes | None = None
    headers: dict[str, str] | None = None


def _model_bytes(model: SealedModel | bytes | str | Path) -> bytes:
    if isinstance(model, SealedModel):
        return model.to_bytes()
    if isinstance(model, bytes):
        return model
    try:
        return Path(model).read_bytes()
    except OSError as exc:
        raise ClientError(f"Cannot read sealed-model file {model}: {exc.strerror or exc}.") from exc


def _parse_inbox(data: dict[str, Any]) -> InboxPage:
    entries = [
        InboxEntry(
            cursor=str(e["cursor"]), model_id=e["model_id"], created_at=str(e["created_at"]),
            mode=e["mode"], count=int(e["count"]), message_ids=list(e["message_ids"]),
            verdicts=EncryptedVerdicts.from_json(e["verdicts"]),
        )
        for e in data["entries"]
    ]
    return InboxPage(entries=entries, next_cursor=str(data["next_cursor"]))


def _parse_score(data: dict[str, Any]) -> DirectResult | InboxAck:
    if data.get("delivery") == "inbox":
        return InboxAck(model_id=data["model_id"], count=int(data["count"]), inbox_entry=str(data["inbox_entry"]))
    return DirectResult(
        model_id=data["model_id"], message_ids=list(data["message_ids"]),
        verdicts=EncryptedVerdicts.from_json(data["verdicts"]),
    )


class _Api:
    """Builds requests and parses answers; knows nothing about sending."""

    @staticmethod
    def health() -> tuple[_Request, Callable[[Any], dict[str, Any]]]:
        return _Request("GET", "/healthz", True), dict

    @staticmethod
    def ready() -> tuple[_Request, Callable[[Any], dict[str, Any]]]:
        return _Request("GET", "/readyz", True), dict

    @staticmethod
    def deploy(model: SealedModel | bytes | str | Path) -> tuple[_Request, Callable[[Any], ModelInfo]]:
        data = _model_bytes(model)
        req = _Request("POST", "/v1/models", True, content=data,
                       headers={"Content-Type": "application/octet-stream"})
        return req, ModelInfo.from_json

    @staticmethod
    def list_models() -> tuple[_Request, Callable[[Any], list[ModelInfo]]]:
        return _Request("GET", "/v1/models", True), lambda d: [ModelInfo.from_json(m) for m in d["models"]]

    @staticmethod
    def get_model(model_id: str) -> tuple[_Request, Callable[[Any], ModelInfo]]:
        return _Request("GET", f"/v1/models/{model_id}", True), ModelInfo.from_json

    @staticmethod
    def download_model(model_id: str) -> tuple[_Request, Callable[[Any], SealedModel]]:
        return _Request("GET", f"/v1/models/{model_id}/sealed", True), SealedModel.from_bytes

    @staticmethod
    def delete_model(model_id: str) -> tuple[_Request, Callable[[Any], None]]:
        return _Request("DELETE", f"/v1/models/{model_id}", True), lambda _: None

    @staticmethod
    def score_batch(
        model_id: str, emails: Sequence[Email], delivery: Delivery, mode: Mode
    ) -> tuple[_Request, Callable[[Any], DirectResult | InboxAck]]:
        body = {"emails": [e.to_json() for e in emails], "delivery": delivery, "mode": mode}
        # Direct scoring stores nothing, so resending it is harmless; inbox scoring is not.
        return _Request("POST", f"/v1/models/{model_id}/score", delivery == "direct", json=body), _parse_score

    @staticmethod
    def verdicts(model_id: str, after: str, limit: int) -> tuple[_Request, Callable[[Any], InboxPage]]:
        req = _Request("GET", f"/v1/models/{model_id}/verdicts", True, params={"after": after, "limit": limit})
        return req, _parse_inbox

    @staticmethod
    def create_token(
        role: str, subject: str | None, models: Sequence[str]
    ) -> tuple[_Request, Callable[[Any], dict[str, Any]]]:
        body: dict[str, Any] = {"role": role, "models": list(models)}
        if subject:
            body["subject"] = subject
        return _Request("POST", "/v1/tokens", False, json=body), dict

    @staticmethod
    def grant(token_id: str, model_id: str) -> tuple[_Request, Callable[[Any], dict[str, Any]]]:
        return _Request("POST", f"/v1/tokens/{token_id}/grants", True, json={"model_id": model_id}), dict


def _error_from(response: httpx.Response) -> ApiError:
    detail, title, body = "", "", None
    try:
        body = response.json()
        if isinstance(body, dict):
            detail = str(body.get("detail") or "")
            title = str(body.get("title") or "")
    except ValueError:
        pass
    if not detail:
        detail = response.text.strip()[:300] or response.reason_phrase
    error = api_error(response.status_code, detail, method=response.request.method,
                      url=str(response.request.url.copy_with(query=None)), title=title)
    error.problem = body if isinstance(body, dict) else {}  # type: ignore[attr-defined]
    return error


def _decode(response: httpx.Response, parse: Callable[[Any], T]) -> T:
    if response.status_code >= 400:
        raise _error_from(response)
    ctype = response.headers.get("content-type", "")
    if response.status_code == 204:
        return parse(None)
    if ctype.startswith("application/octet-stream"):
        return parse(response.content)
    try:
        payload = response.json()
    except ValueError as exc:
        raise ClientError(f"The server at {response.request.url} did not answer with JSON.") from exc
    try:
        return parse(payload)
    except (KeyError, TypeError, ValueError) as exc:
        raise ClientError(
            f"Unexpected answer from {response.request.url}: {exc!r}. Is this a Sealdog server "
            f"of a compatible version (this client is {__version__})?"
        ) from exc


def _unreachable(base_url: str, exc: Exception) -> ServerUnreachableError:
    return ServerUnreachableError(
        f"Cannot reach the Sealdog server at {base_url} ({type(exc).__name__}: {exc or 'no answer'}). "
        "Is it running? Start one with `sealdog server run`, or point the client at it with "
        "--url / SEALDOG_URL."
    )


_ALWAYS_RETRY = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_IDEMPOTENT_RETRY = (httpx.ReadTimeout, httpx.WriteTimeout, httpx.ReadError, httpx.WriteError,
                     httpx.RemoteProtocolError)


def _should_retry_exception(exc: Exception, req: _Request) -> bool:
    return isinstance(exc, _ALWAYS_RETRY) or (req.idempotent and isinstance(exc, _IDEMPOTENT_RETRY))


def _should_retry_status(status: int, req: _Request) -> bool:
    return status == 503 or (req.idempotent and status in (502, 504))


def _headers(token: str | None) -> dict[str, str]:
    headers = {"User-Agent": f"sealdog-client/{__version__}", "Accept": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return headers


def split_batches(emails: Sequence[Email], batch_size: int, max_body_bytes: int) -> Iterator[list[Email]]:
    """Consecutive batches of at most `batch_size` e-mails and about `max_body_bytes` each."""
    batch: list[Email] = []
    size = 0
    for email in emails:
        if batch and (len(batch) >= batch_size or size + email.wire_size > max_body_bytes):
            yield batch
            batch, size = [], 0
        batch.append(email)
        size += email.wire_size
    if batch:
        yield batch


def _smaller_batch(exc: PayloadTooLargeError, current: int) -> int | None:
    """The batch size to use after a 413 on a batch of `current` e-mails, or None."""
    if current <= 1:
        return None
    advertised = getattr(exc, "problem", {}).get("max_emails_per_batch")  # a problem+json extension
    if isinstance(advertised, int) and 1 <= advertised < current:
        return advertised
    match = _BATCH_CAP_RE.search(exc.detail)
    if match and "e-mails" in exc.detail and "per e-mail" not in exc.detail:
        cap = int(match.group(1).replace(",", ""))
        if 1 <= cap < current:
            return cap
    if "per e-mail" in exc.detail:
        return None  # one e-mail is too big: splitting does not help
    return max(1, current // 2)


def _as_emails(emails: Sequence[Email | bytes]) -> list[Email]:
    return [e if isinstance(e, Email) else Email(bytes(e)) for e in emails]


class _ClientBase:
    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ClientError(f"Server URL must start with http:// or https://, got {base_url!r}.")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        self.batch_size = max(1, batch_size)
        self.max_body_bytes = max_body_bytes

    def _kwargs(self, req: _Request) -> dict[str, Any]:
        return {"params": req.params, "json": req.json, "content": req.content, "headers": req.headers}

    def _failed_attempt(self, exc: httpx.TransportError, req: _Request) -> Exception:
        """The error to remember before the next attempt; raises at once if retrying is unsafe."""
        if _should_retry_exception(exc, req):
            return exc
        if isinstance(exc, httpx.TimeoutException):
            raise ClientError(
                f"No answer from {self.base_url} within {self.timeout:.0f} s; the request may "
                "or may not have been processed. Raise --timeout for large batches."
            ) from exc
        raise _unreachable(self.base_url, exc) from exc

    def _retryable_response(self, response: httpx.Response, req: _Request, attempt: int) -> ApiError | None:
        """The error to remember if this response should be retried (503 etc.), else None."""
        if not (_should_retry_status(response.status_code, req) and attempt + 1 < self.retry.attempts):
            return None
        error = _error_from(response)
        error.retry_after = response.headers.get("retry-after")  # type: ignore[attr-defined]
        return error

    def _give_up(self, last: Exception | None) -> NoReturn:
        if isinstance(last, ApiError):
            raise last
        raise _unreachable(self.base_url, last or ClientError("no attempt made"))


class SealdogClient(_ClientBase):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(self, base_url: str, token: str | None = None, *, transport: httpx.BaseTransport | None = None,
                 **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self._http = httpx.Client(base_url=self.base_url, headers=_headers(token), timeout=self.timeout,
                                  transport=transport)

    def __enter__(self) -> SealdogClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, built: tuple[_Request, Callable[[Any], T]]) -> T:
        req, parse = built
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                time.sleep(self.retry.delay(attempt - 1, getattr(last, "retry_after", None)))
            try:
                response = self._http.request(req.method, req.path, **self._kwargs(req))
            except httpx.TransportError as exc:
                last = self._failed_attempt(exc, req)
                continue
            last = self._retryable_response(response, req, attempt)
            if last is None:
                return _decode(response, parse)
        self._give_up(last)

    # --- endpoints --------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call(_Api.health())

    def ready(self) -> dict[str, Any]:
        return self._call(_Api.ready())

    def deploy(self, model: SealedModel | bytes | str | Path) -> ModelInfo:
        """Upload a sealed model (uploading the same file again returns the same id)."""
        return self._call(_Api.deploy(model))

    def list_models(self) -> list[ModelInfo]:
        return self._call(_Api.list_models())

    def get_model(self, model_id: str) -> ModelInfo:
        return self._call(_Api.get_model(model_id))

    def download_model(self, model_id: str) -> SealedModel:
        return self._call(_Api.download_model(model_id))

    def delete_model(self, model_id: str) -> None:
        self._call(_Api.delete_model(model_id))

    def create_token(self, role: str, *, subject: str | None = None, models: Sequence[str] = ()) -> dict[str, Any]:
        """Admin only: issue a token; the answer's "token" is shown once."""
        return self._call(_Api.create_token(role, subject, models))

    def grant(self, token_id: str, model_id: str) -> dict[str, Any]:
        return self._call(_Api.grant(token_id, model_id))

    def score(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = "verdict",
        progress: Callable[[int], None] | None = None,
    ) -> list[DirectResult | InboxAck]:
        """Submit e-mails in batches under the server's caps; results in submission order.

        `progress` is called with the number of e-mails of each finished batch.
        """
        pending = list(split_batches(_as_emails(emails), self.batch_size, self.max_body_bytes))
        results: list[DirectResult | InboxAck] = []
        while pending:
            batch = pending.pop(0)
            try:
                results.append(self._call(_Api.score_batch(model_id, batch, delivery, mode)))
            except PayloadTooLargeError as exc:
                smaller = _smaller_batch(exc, len(batch))
                if smaller is None:
                    raise
                self.batch_size = min(self.batch_size, smaller)
                pending[:0] = list(split_batches(batch, smaller, self.max_body_bytes))
                continue
            if progress:
                progress(len(batch))
        return results

    def verdicts(self, model_id: str, *, after: str = "0", limit: int = 500) -> InboxPage:
        """One page of the model's verdict inbox after cursor `after`."""
        return self._call(_Api.verdicts(model_id, after, limit))

    def iter_inbox(self, model_id: str, *, after: str = "0", limit: int = 500) -> Iterator[InboxEntry]:
        """Every inbox entry after `after`, page by page; the last entry's cursor resumes."""
        while True:
            page = self.verdicts(model_id, after=after, limit=limit)
            yield from page.entries
            if not page.entries or page.next_cursor == after:
                return
            after = page.next_cursor


class AsyncSealdogClient(_ClientBase):
    """Asynchronous client (same endpoints); batches of one `score` call run `concurrency` at a time."""

    def __init__(self, base_url: str, token: str | None = None, *,
                 transport: httpx.AsyncBaseTransport | None = None, concurrency: int = 2, **options: Any) -> None:
        super().__init__(base_url, token, **options)
        self.concurrency = max(1, concurrency)
        self._http = httpx.AsyncClient(base_url=self.base_url, headers=_headers(token), timeout=self.timeout,
                                       transport=transport)

    async def __aenter__(self) -> AsyncSealdogClient:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, built: tuple[_Request, Callable[[Any], T]]) -> T:
        req, parse = built
        last: Exception | None = None
        for attempt in range(self.retry.attempts):
            if attempt:
                await asyncio.sleep(self.retry.delay(attempt - 1, getattr(last, "retry_after", None)))
            try:
                response = await self._http.request(req.method, req.path, **self._kwargs(req))
            except httpx.TransportError as exc:
                last = self._failed_attempt(exc, req)
                continue
            last = self._retryable_response(response, req, attempt)
            if last is None:
                return _decode(response, parse)
        self._give_up(last)

    async def health(self) -> dict[str, Any]:
        return await self._call(_Api.health())

    async def ready(self) -> dict[str, Any]:
        return await self._call(_Api.ready())

    async def deploy(self, model: SealedModel | bytes | str | Path) -> ModelInfo:
        return await self._call(_Api.deploy(model))

    async def list_models(self) -> list[ModelInfo]:
        return await self._call(_Api.list_models())

    async def get_model(self, model_id: str) -> ModelInfo:
        return await self._call(_Api.get_model(model_id))

    async def download_model(self, model_id: str) -> SealedModel:
        return await self._call(_Api.download_model(model_id))

    async def delete_model(self, model_id: str) -> None:
        await self._call(_Api.delete_model(model_id))

    async def create_token(self, role: str, *, subject: str | None = None, models: Sequence[str] = ()) -> dict[str, Any]:
        return await self._call(_Api.create_token(role, subject, models))

    async def grant(self, token_id: str, model_id: str) -> dict[str, Any]:
        return await self._call(_Api.grant(token_id, model_id))

    async def _score_one(self, model_id: str, batch: list[Email], delivery: Delivery,
                         mode: Mode) -> list[DirectResult | InboxAck]:
        try:
            return [await self._call(_Api.score_batch(model_id, batch, delivery, mode))]
        except PayloadTooLargeError as exc:
            smaller = _smaller_batch(exc, len(batch))
            if smaller is None:
                raise
            self.batch_size = min(self.batch_size, smaller)
            out: list[DirectResult | InboxAck] = []
            for part in split_batches(batch, smaller, self.max_body_bytes):
                out.extend(await self._score_one(model_id, part, delivery, mode))
            return out

    async def score(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = "verdict",
        progress: Callable[[int], None] | None = None,
    ) -> list[DirectResult | InboxAck]:
        batches = list(split_batches(_as_emails(emails), self.batch_size, self.max_body_bytes))
        gate = asyncio.Semaphore(self.concurrency)

        async def run(batch: list[Email]) -> list[DirectResult | InboxAck]:
            async with gate:
                out = await self._score_one(model_id, batch, delivery, mode)
            if progress:
                progress(len(batch))
            return out

        nested = await asyncio.gather(*(run(b) for b in batches))
        return [r for group in nested for r in group]

    async def verdicts(self, model_id: str, *, after: str = "0", limit: int = 500) -> InboxPage:
        return await self._call(_Api.verdicts(model_id, after, limit))

    async def iter_inbox(self, model_id: str, *, after: str = "0", limit: int = 500):  # type: ignore[no-untyped-def]
        while True:
            page = await self.verdicts(model_id, after=after, limit=limit)
            for entry in page.entries:
                yield entry
            if not page.entries or page.next_cursor == after:
                return
            after = page.next_cursor
