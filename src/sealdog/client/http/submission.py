"""One scoring run's bookkeeping, without I/O: what is refused before sending, which server
refusals are one item's fault, and what the run delivered (`ScoreRun`).

A run never drops an item silently. Each item ends in exactly one of: a delivered batch
(`ScoreRun.results`), `ScoreRun.refused` (named by its source, e.g. `big.mbox#301`, with the
reason), or `ScoreRun.unsent` (the run stopped first: `OnError.stop`, or a run-level error
such as a lost connection, kept in `ScoreRun.error`).

Which refusals are an item's fault: an e-mail over the per-e-mail cap (checked here before
sending; the cap is the server's default unless a 413 advertised `max_email_bytes`); a 413
on a batch of one; a 413 or 422 whose problem+json data names an item (`"item": "emails"`,
`"index": i`), which is narrowed down by halving the batch until that item is alone.
Anything else (401, 403, 404, 409, a 422 about the whole request, 5xx after retries, an
unreachable server) is the run's fault: nothing more is sent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Generic, TypeVar

from sealdog.client.errors import (
    ApiError,
    ClientError,
    EmailTooLargeError,
    InvalidRequestError,
    PayloadTooLargeError,
)
from sealdog.client.http.batching import Batch, BatchPlan
from sealdog.client.http.endpoints import BatchRoute
from sealdog.client.http.models import ScoreResult

Item = TypeVar("Item")

DEFAULT_MAX_EMAIL_BYTES = 1024 * 1024  # the server's default SEALDOG_MAX_EMAIL_BYTES
MAX_ADVERTISED_EMAIL_BYTES = 1 << 34  # a server's advertised cap beyond this is ignored


class OnError(StrEnum):
    """What a run does when the server (or the client's own size check) refuses an item."""

    skip = "skip"
    """Report the item and go on with the rest (the default)."""
    stop = "stop"
    """Send nothing more; what was already scored is kept and returned."""


@dataclass(frozen=True)
class Refusal:
    """One item that was not scored: its place in the submission, its name, and why."""

    index: int
    name: str
    error: ClientError

    @property
    def status(self) -> int | None:
        return self.error.status if isinstance(self.error, ApiError) else None

    @property
    def reason(self) -> str:
        return self.error.detail if isinstance(self.error, ApiError) else str(self.error)


@dataclass(frozen=True)
class ScoreRun:
    """What a scoring run delivered: results of the batches the server accepted (in
    submission order), the items refused, how many were never sent, and the run-level error
    that stopped it early, if any. `len(items) == scored + len(refused) + unsent`."""

    results: list[ScoreResult]
    refused: list[Refusal] = field(default_factory=list)
    unsent: int = 0
    error: ClientError | None = None

    @property
    def scored(self) -> int:
        return sum(r.count for r in self.results)

    @property
    def complete(self) -> bool:
        return not self.refused and not self.unsent and self.error is None

    @classmethod
    def concat(cls, parts: Sequence[tuple[int, ScoreRun]]) -> ScoreRun:
        """One run from the runs of consecutive windows of a stream, each with the
        submission index of its first item: refusals keep their place in the whole stream,
        the first run-level error is the run's."""
        results: list[ScoreResult] = []
        refused: list[Refusal] = []
        unsent = 0
        error: ClientError | None = None
        for offset, part in parts:
            results.extend(part.results)
            refused.extend(Refusal(r.index + offset, r.name, r.error) for r in part.refused)
            unsent += part.unsent
            error = error or part.error
        return cls(results, refused, unsent, error)

    def raise_for_problems(self) -> None:
        """Raise the run's error, else the first refusal's (the strict `score()` contract)."""
        if self.error is not None:
            raise self.error
        if self.refused:
            raise self.refused[0].error


def _item_index(error: ApiError, field: str) -> int | None:
    """The batch index of the one item a refusal is about, from the problem+json data the
    server sends (`item`, `index`); None when the refusal is about the whole request."""
    index = error.problem.get("index")
    if error.problem.get("item") != field or type(index) is not int or index < 0:
        return None
    return index


def _renamed(error: ApiError, name: str, field: str) -> ApiError:
    """The same refusal, its `emails[i]` (an index into a batch, meaningless to a user)
    replaced by the item's name."""
    index = _item_index(error, field)
    prefix = f"{field}[{index}]"
    if index is not None and error.detail.startswith(prefix):
        detail = name + error.detail[len(prefix) :]
    else:
        detail = f"{name}: {error.detail}"
    return type(error)(
        error.status,
        detail,
        method=error.method,
        url=error.url,
        title=error.title,
        problem=error.problem,
        retry_after=error.retry_after,
    )


class Submission(Generic[Item]):
    """The state of one run of `score`/`score_inputs` (see module doc); the client sends."""

    def __init__(
        self,
        route: BatchRoute[Item],
        items: Sequence[Item],
        *,
        max_item_bytes: int,
        max_count: int,
        max_bytes: int,
        on_error: OnError,
    ) -> None:
        self.route = route
        self.on_error = on_error
        self._items = items
        self._local: list[Refusal] = []
        self._index: list[int] = []  # plan position -> submission index
        sendable: list[Item] = []
        for i, item in enumerate(items):
            size = route.capped_size(item) if route.capped_size is not None else 0
            if size > max_item_bytes:
                name = route.name(i, item)
                self._local.append(Refusal(i, name, EmailTooLargeError(name, size, max_item_bytes)))
            else:
                self._index.append(i)
                sendable.append(item)
        self.plan: BatchPlan[Item, ScoreResult] = BatchPlan(
            sendable, wire_size=route.wire_size, max_count=max_count, max_bytes=max_bytes
        )
        self.error: ClientError | None = None
        if self._local and on_error is OnError.stop:
            self.plan.stop()  # refused before anything was sent: send nothing

    def take(self) -> Batch | None:
        return self.plan.take()

    def batch_items(self, batch: Batch) -> Sequence[Item]:
        return self.plan.batch_items(batch)

    def done(self, batch: Batch, result: ScoreResult) -> None:
        self.plan.done(batch, result)

    def failed(self, batch: Batch, error: ClientError) -> None:
        """Sending `batch` failed with `error`: re-cut it, skip its bad item, or stop the run."""
        if isinstance(error, PayloadTooLargeError):
            cap = self.route.advertised_cap(error.problem)
            if _item_index(error, self.route.field) is not None:
                if self.plan.isolate(batch):
                    return
            elif self.plan.refused(batch, cap):
                return
            self._skip(batch, error)
        elif (
            isinstance(error, InvalidRequestError)
            and _item_index(error, self.route.field) is not None
        ):
            if not self.plan.isolate(batch):
                self._skip(batch, error)
        else:
            if self.error is None:
                self.error = error
            self.plan.abandon(batch)
            self.plan.stop()

    def _skip(self, batch: Batch, error: ApiError) -> None:
        index = self._index[batch.start]
        name = self.route.name(index, self._items[index])
        self.plan.skip(batch, _renamed(error, name, self.route.field))
        if self.on_error is OnError.stop:
            self.plan.stop()

    def finish(self) -> ScoreRun:
        """The run's outcome (call once no batch is in flight)."""
        refused = list(self._local)
        for pos, error in self.plan.skipped():
            index = self._index[pos]
            assert isinstance(error, ClientError)
            refused.append(Refusal(index, self.route.name(index, self._items[index]), error))
        refused.sort(key=lambda r: r.index)
        return ScoreRun(self.plan.results(), refused, self.plan.unsent, self.error)


def advertised_email_cap(error: PayloadTooLargeError) -> int | None:
    """A per-e-mail cap a 413 names in `max_email_bytes` (a positive int), if any."""
    cap = error.problem.get("max_email_bytes")
    if isinstance(cap, bool) or not isinstance(cap, int):
        return None
    return cap if 1 <= cap <= MAX_ADVERTISED_EMAIL_BYTES else None
