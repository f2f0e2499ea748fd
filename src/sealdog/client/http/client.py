"""`SealdogClient` and `AsyncSealdogClient`: thin shells that perform the I/O.

Everything else is shared: the routes and parsers (`endpoints`), the retry loop and error
mapping (`transport.Attempts`), the batching of `score`/`score_inputs` (`batching.BatchPlan`).
The two clients differ only in how they send and wait; the asynchronous one keeps up to
`concurrency` batches of one call in flight.
"""

from __future__ import annotations

import asyncio
import dataclasses
import time
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Sequence
from typing import Any, Self, TypeVar

import httpx

from sealdog.client.errors import ClientError, PayloadTooLargeError
from sealdog.client.http import endpoints as api
from sealdog.client.http.batching import Batch
from sealdog.client.http.endpoints import (
    EMAILS,
    INPUTS,
    BatchRoute,
    BitRow,
    Call,
    Delivery,
    SealedArtifact,
)
from sealdog.client.http.models import Email, InboxEntry, InboxPage, ModelInfo, ScoreResult
from sealdog.client.http.submission import (
    DEFAULT_MAX_EMAIL_BYTES,
    OnError,
    ScoreRun,
    Submission,
    advertised_email_cap,
)
from sealdog.client.http.transport import (
    Attempts,
    RetryPolicy,
    check_answer_size,
    decode,
    headers,
    with_body,
)
from sealdog.protocol import Mode, Role
from sealdog.sealed_model import SealedModel

T = TypeVar("T")
Item = TypeVar("Item")

DEFAULT_TIMEOUT = 120.0
DEFAULT_BATCH_SIZE = 256  # the server's default SEALDOG_MAX_EMAILS_PER_BATCH
DEFAULT_INPUTS_BATCH_SIZE = 64  # the server's default SEALDOG_MAX_INPUTS_PER_BATCH
DEFAULT_MAX_BODY_BYTES = 12 * 1024 * 1024  # under the server's default 16 MiB body cap

Progress = Callable[[int], None]


@dataclasses.dataclass
class _Window:
    """One window of a streamed run: its first item's index in the stream, its submission
    and how many of its batches are in flight."""

    offset: int
    run: Submission[Email]
    inflight: int = 0


def _as_emails(emails: Sequence[Email | bytes]) -> list[Email]:
    return [e if isinstance(e, Email) else Email(bytes(e)) for e in emails]


class _ClientBase:
    """Configuration and the I/O-free halves of every call."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        timeout: float = DEFAULT_TIMEOUT,
        retry: RetryPolicy | None = None,
        batch_size: int = DEFAULT_BATCH_SIZE,
        inputs_batch_size: int = DEFAULT_INPUTS_BATCH_SIZE,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        max_email_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise ClientError(f"Server URL must start with http:// or https://, got {base_url!r}.")
        self.base_url = base_url.rstrip("/")
        self.token = token
        self.timeout = timeout
        self.retry = retry or RetryPolicy()
        # Batch caps per scoring route; lowered for good when the server advertises less.
        self.batch_size = max(1, batch_size)
        self.inputs_batch_size = max(1, inputs_batch_size)
        self.max_body_bytes = max_body_bytes
        # The server's per-e-mail cap (its default until a 413 advertises another): an e-mail
        # above it is refused here, before its bytes are sent.
        self.max_email_bytes = max_email_bytes

    def _attempts(self, call: Call[Any]) -> Attempts:
        return Attempts(self.retry, call.request, self.base_url, self.timeout)

    @staticmethod
    def _send_kwargs(call: Call[Any]) -> dict[str, Any]:
        req = call.request
        return {
            "params": req.params,
            "json": req.json,
            "content": req.content,
            "headers": req.headers,
        }

    def _submission(
        self, route: BatchRoute[Item], items: Sequence[Item], on_error: OnError
    ) -> Submission[Item]:
        return Submission(
            route,
            items,
            max_item_bytes=self.max_email_bytes,
            max_count=self.batch_size if route is EMAILS else self.inputs_batch_size,
            max_bytes=self.max_body_bytes,
            on_error=on_error,
        )

    def _failed(self, run: Submission[Item], batch: Batch, exc: ClientError) -> None:
        """A batch failed: let the run decide (re-cut, skip the bad item, or stop) and keep
        what the server taught about its caps."""
        if isinstance(exc, PayloadTooLargeError):
            cap = advertised_email_cap(exc)
            if cap is not None:
                self.max_email_bytes = cap
        run.failed(batch, exc)
        if run.route is EMAILS:
            self.batch_size = min(self.batch_size, run.plan.max_count)
        else:
            self.inputs_batch_size = min(self.inputs_batch_size, run.plan.max_count)


class SealdogClient(_ClientBase):
    """Synchronous client. Use as a context manager, or call `close()`."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.BaseTransport | None = None,
        **options: Any,
    ) -> None:
        super().__init__(base_url, token, **options)
        self._http = httpx.Client(
            base_url=self.base_url,
            headers=headers(token),
            timeout=self.timeout,
            transport=transport,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._http.close()

    def _call(self, call: Call[T]) -> T:
        attempts = self._attempts(call)
        for delay in attempts:
            if delay:
                time.sleep(delay)
            try:
                request = self._http.build_request(
                    call.request.method, call.request.path, **self._send_kwargs(call)
                )
                response = self._http.send(request, stream=True)
                try:
                    body = bytearray()
                    for chunk in response.iter_bytes():
                        body += chunk
                        check_answer_size(call, len(body), self.base_url)
                finally:
                    response.close()
            except httpx.TransportError as exc:
                attempts.failed(exc)
                continue
            response = with_body(response, bytes(body))
            if attempts.final(response):
                return decode(response, call)
        attempts.give_up()

    def _score(
        self,
        route: BatchRoute[Item],
        model_id: str,
        items: Sequence[Item],
        delivery: Delivery,
        mode: Mode,
        progress: Progress | None,
        on_error: OnError,
    ) -> ScoreRun:
        run = self._submission(route, items, on_error)
        while (batch := run.take()) is not None:
            call = api.score(route, model_id, run.batch_items(batch), delivery, mode)
            try:
                result = self._call(call)
            except ClientError as exc:
                self._failed(run, batch, exc)
                continue
            run.done(batch, result)
            if progress:
                progress(len(batch))
        return run.finish()

    # --- endpoints --------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        return self._call(api.health())

    def ready(self) -> dict[str, Any]:
        return self._call(api.ready())

    def deploy(
        self,
        model: SealedArtifact,
        *,
        attestation: bytes | None = None,
        strict_rerandomise: bool = False,
    ) -> ModelInfo:
        """Upload a sealed model of any kind: an object with `to_bytes()`, its bytes, or a
        file path (uploading the same bytes again returns the same id). `attestation`: an
        auditor's attestation file's bytes, checked by the server before anything is stored;
        `strict_rerandomise`: ask for a full r^n on every output."""
        return self._call(
            api.deploy(model, attestation=attestation, strict_rerandomise=strict_rerandomise)
        )

    def list_models(self) -> list[ModelInfo]:
        return self._call(api.list_models())

    def get_model(self, model_id: str) -> ModelInfo:
        return self._call(api.get_model(model_id))

    def download_model(self, model_id: str) -> SealedModel:
        return self._call(api.download_model(model_id))

    def delete_model(self, model_id: str) -> None:
        self._call(api.delete_model(model_id))

    def create_token(
        self, role: Role, *, subject: str | None = None, models: Sequence[str] = ()
    ) -> dict[str, Any]:
        """Admin only: issue a token; the answer's "token" is shown once."""
        return self._call(api.create_token(role, subject, models))

    def grant(self, token_id: str, model_id: str) -> dict[str, Any]:
        return self._call(api.grant(token_id, model_id))

    def score(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
    ) -> list[ScoreResult]:
        """Submit e-mails in batches under the server's caps; results in submission order.

        Strict: the first refused e-mail (named by its message id) or run-level error is
        raised; `score_run` goes on past refusals and returns what was scored instead.
        `progress` is called with the number of e-mails of each finished batch.
        """
        run = self.score_run(
            model_id, emails, delivery=delivery, mode=mode, progress=progress, on_error=OnError.stop
        )
        run.raise_for_problems()
        return run.results

    def score_run(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
        on_error: OnError = OnError.skip,
    ) -> ScoreRun:
        """Submit e-mails and never drop one silently: an e-mail over the server's cap is
        refused before sending, one the server refuses is isolated and reported by name,
        and (with `OnError.skip`) the rest of the run goes on. A run-level error (server
        unreachable, token refused) ends the run early; it is returned in `ScoreRun.error`
        together with everything scored before it."""
        return self._score(EMAILS, model_id, _as_emails(emails), delivery, mode, progress, on_error)

    def score_inputs(
        self,
        model_id: str,
        inputs: Iterable[BitRow],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
    ) -> list[ScoreResult]:
        """Submit bit rows (models that score bits, e.g. xor networks) in batches under the
        server's caps; results in submission order (decrypt each result's `verdicts` with
        the model kind's key-holder code). Strict, like `score`."""
        run = self._score(
            INPUTS, model_id, api.bit_rows(inputs), delivery, mode, progress, OnError.stop
        )
        run.raise_for_problems()
        return run.results

    def verdicts(self, model_id: str, *, after: str = "0", limit: int = 500) -> InboxPage:
        """One page of the model's verdict inbox after cursor `after`."""
        return self._call(api.verdicts(model_id, after, limit))

    def iter_inbox(
        self, model_id: str, *, after: str = "0", limit: int = 500
    ) -> Iterator[InboxEntry]:
        """Every inbox entry after `after`, page by page; the last entry's cursor resumes."""
        while True:
            page = self.verdicts(model_id, after=after, limit=limit)
            yield from page.entries
            if not page.entries or page.next_cursor == after:
                return
            after = page.next_cursor


class AsyncSealdogClient(_ClientBase):
    """Asynchronous client (same endpoints); up to `concurrency` batches of one scoring call
    are in flight at a time."""

    def __init__(
        self,
        base_url: str,
        token: str | None = None,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        concurrency: int = 2,
        **options: Any,
    ) -> None:
        super().__init__(base_url, token, **options)
        self.concurrency = max(1, concurrency)
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            headers=headers(token),
            timeout=self.timeout,
            transport=transport,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def _call(self, call: Call[T]) -> T:
        attempts = self._attempts(call)
        for delay in attempts:
            if delay:
                await asyncio.sleep(delay)
            try:
                request = self._http.build_request(
                    call.request.method, call.request.path, **self._send_kwargs(call)
                )
                response = await self._http.send(request, stream=True)
                try:
                    body = bytearray()
                    async for chunk in response.aiter_bytes():
                        body += chunk
                        check_answer_size(call, len(body), self.base_url)
                finally:
                    await response.aclose()
            except httpx.TransportError as exc:
                attempts.failed(exc)
                continue
            response = with_body(response, bytes(body))
            if attempts.final(response):
                return decode(response, call)
        attempts.give_up()

    async def _score(
        self,
        route: BatchRoute[Item],
        model_id: str,
        items: Sequence[Item],
        delivery: Delivery,
        mode: Mode,
        progress: Progress | None,
        on_error: OnError,
    ) -> ScoreRun:
        run = self._submission(route, items, on_error)

        async def worker() -> None:
            while (batch := run.take()) is not None:
                call = api.score(route, model_id, run.batch_items(batch), delivery, mode)
                try:
                    result = await self._call(call)
                except ClientError as exc:
                    self._failed(run, batch, exc)  # a run-level error stops the others too
                    continue
                run.done(batch, result)
                if progress:
                    progress(len(batch))

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:  # a bug or a cancellation: stop sending the rest
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        return run.finish()

    async def score_stream(
        self,
        model_id: str,
        windows: Iterable[Sequence[Email]],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
        on_error: OnError = OnError.skip,
        open_windows: int = 2,
    ) -> ScoreRun:
        """`score_run` over a stream of e-mails that the caller cuts into windows
        (`batching.cut_windows`): windows are read in a thread as the run needs them, at
        most `open_windows` are held at once, and `concurrency` batches stay in flight
        across window boundaries. Each window is one `Submission`, so a refusal is handled
        as in `score_run` and named by its place in the whole stream. When the run stops
        (a run-level error, or `OnError.stop` and a refusal), nothing more is sent and the
        windows not yet read are counted as unsent."""
        source = iter(windows)
        cond = asyncio.Condition()
        live: deque[_Window] = deque()
        parts: list[tuple[int, ScoreRun]] = []
        offset = 0
        exhausted = stopped = False

        def stop_all() -> None:
            nonlocal stopped
            stopped = True
            for window in live:
                window.run.plan.stop()

        def settle() -> None:
            """Finish the leading windows that are done (in order)."""
            while live and live[0].inflight == 0 and live[0].run.plan.handed_out:
                window = live.popleft()
                parts.append((window.offset, window.run.finish()))

        async def next_batch() -> tuple[_Window, Batch] | None:
            nonlocal exhausted, offset
            async with cond:
                while not stopped:
                    for window in live:
                        batch = window.run.take()
                        if batch is not None:
                            window.inflight += 1
                            return window, batch
                    if not exhausted and len(live) < max(1, open_windows):
                        items = await asyncio.to_thread(next, source, None)
                        if items is None:
                            exhausted = True
                        else:
                            run = self._submission(EMAILS, list(items), on_error)
                            live.append(_Window(offset, run))
                            offset += len(items)
                            if run.plan.stopped:  # refused locally under OnError.stop
                                stop_all()
                            settle()
                        continue
                    if exhausted and not live:
                        return None
                    await cond.wait()
                return None

        async def worker() -> None:
            while (job := await next_batch()) is not None:
                window, batch = job
                items = window.run.batch_items(batch)
                call = api.score(EMAILS, model_id, items, delivery, mode)
                failure: ClientError | None = None
                try:
                    result = await self._call(call)
                except ClientError as exc:
                    failure = exc
                async with cond:
                    window.inflight -= 1
                    if failure is not None:
                        self._failed(window.run, batch, failure)
                    else:
                        window.run.done(batch, result)
                    if window.run.plan.stopped:
                        stop_all()
                    settle()
                    cond.notify_all()
                if failure is None and progress:
                    progress(len(batch))

        workers = [asyncio.create_task(worker()) for _ in range(self.concurrency)]
        try:
            await asyncio.gather(*workers)
        except BaseException:
            for task in workers:  # a bug, a cancellation or an unreadable source
                task.cancel()
            await asyncio.gather(*workers, return_exceptions=True)
            raise
        settle()
        if live:  # pragma: no cover - every window is handed out once the workers return
            raise RuntimeError("score_stream ended with windows still open")
        whole = ScoreRun.concat(parts)
        if stopped and not exhausted:
            rest = await asyncio.to_thread(lambda: sum(len(w) for w in source))
            whole = dataclasses.replace(whole, unsent=whole.unsent + rest)
        return whole

    async def health(self) -> dict[str, Any]:
        return await self._call(api.health())

    async def ready(self) -> dict[str, Any]:
        return await self._call(api.ready())

    async def deploy(
        self,
        model: SealedArtifact,
        *,
        attestation: bytes | None = None,
        strict_rerandomise: bool = False,
    ) -> ModelInfo:
        return await self._call(
            api.deploy(model, attestation=attestation, strict_rerandomise=strict_rerandomise)
        )

    async def list_models(self) -> list[ModelInfo]:
        return await self._call(api.list_models())

    async def get_model(self, model_id: str) -> ModelInfo:
        return await self._call(api.get_model(model_id))

    async def download_model(self, model_id: str) -> SealedModel:
        return await self._call(api.download_model(model_id))

    async def delete_model(self, model_id: str) -> None:
        await self._call(api.delete_model(model_id))

    async def create_token(
        self, role: Role, *, subject: str | None = None, models: Sequence[str] = ()
    ) -> dict[str, Any]:
        return await self._call(api.create_token(role, subject, models))

    async def grant(self, token_id: str, model_id: str) -> dict[str, Any]:
        return await self._call(api.grant(token_id, model_id))

    async def score(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
    ) -> list[ScoreResult]:
        run = await self.score_run(
            model_id, emails, delivery=delivery, mode=mode, progress=progress, on_error=OnError.stop
        )
        run.raise_for_problems()
        return run.results

    async def score_run(
        self,
        model_id: str,
        emails: Sequence[Email | bytes],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
        on_error: OnError = OnError.skip,
    ) -> ScoreRun:
        """See `SealdogClient.score_run`."""
        return await self._score(
            EMAILS, model_id, _as_emails(emails), delivery, mode, progress, on_error
        )

    async def score_inputs(
        self,
        model_id: str,
        inputs: Iterable[BitRow],
        *,
        delivery: Delivery = "direct",
        mode: Mode = Mode.VERDICT,
        progress: Progress | None = None,
    ) -> list[ScoreResult]:
        rows = api.bit_rows(inputs)
        run = await self._score(INPUTS, model_id, rows, delivery, mode, progress, OnError.stop)
        run.raise_for_problems()
        return run.results

    async def verdicts(self, model_id: str, *, after: str = "0", limit: int = 500) -> InboxPage:
        return await self._call(api.verdicts(model_id, after, limit))

    async def iter_inbox(
        self, model_id: str, *, after: str = "0", limit: int = 500
    ) -> AsyncIterator[InboxEntry]:
        while True:
            page = await self.verdicts(model_id, after=after, limit=limit)
            for entry in page.entries:
                yield entry
            if not page.entries or page.next_cursor == after:
                return
            after = page.next_cursor
