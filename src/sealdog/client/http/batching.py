"""The one batching algorithm of `score` and `score_inputs`, for both clients: pure logic.

A `BatchPlan` cuts a submission into consecutive batches under a count cap and a request
body budget, hands them out (`take`), collects each batch's result (`done`) and adapts to
the server's refusals (`refused`): a 413 stores nothing, so the refused batch is cut again
under the smaller cap and its pieces are sent next; later batches are cut under the new cap
too. A batch the server refuses for its content (one bad item in it) is halved without
lowering the cap (`isolate`) until the bad item is alone; a refused batch of one is given up
(`skip`) and the rest of the submission goes on. `stop` ends the run early: nothing more is
handed out and whatever was not sent is counted (`unsent`). The caller sends; the plan never
does I/O, so the synchronous client drives it one batch at a time and the asynchronous
client with several batches in flight.

Invariants: every item is in exactly one successful batch, one skipped batch of one, or
the unsent count when `results()` is called;
results come back in submission order whatever order the batches finished in; the count
cap only shrinks, never below 1; a refused batch of one item is final (`refused` returns
False and the caller raises the server's error).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from sealdog.client.http.models import Email

Item = TypeVar("Item")
R = TypeVar("R")  # a batch's result


def split_sizes(sizes: Sequence[int], max_count: int, max_bytes: int) -> Iterator[int]:
    """Lengths of consecutive batches of at most `max_count` items and about `max_bytes`
    each (an item larger than `max_bytes` goes alone)."""
    count = size = 0
    for item_size in sizes:
        if count and (count >= max_count or size + item_size > max_bytes):
            yield count
            count = size = 0
        count += 1
        size += item_size
    if count:
        yield count


def split_batches(
    emails: Sequence[Email], batch_size: int, max_body_bytes: int
) -> Iterator[list[Email]]:
    """E-mails in consecutive batches as `split_sizes` cuts them."""
    start = 0
    for n in split_sizes([e.wire_size for e in emails], batch_size, max_body_bytes):
        yield list(emails[start : start + n])
        start += n


def cut_windows(
    items: Iterable[Item], *, size: Callable[[Item], int], max_count: int, max_bytes: int
) -> Iterator[list[Item]]:
    """A stream of items in consecutive windows of at most `max_count` items and about
    `max_bytes` (an item larger than that goes alone): how a streaming run bounds what it
    holds. Items are read lazily, one window ahead at most."""
    window: list[Item] = []
    total = 0
    for item in items:
        item_size = size(item)
        if window and (len(window) >= max_count or total + item_size > max_bytes):
            yield window
            window, total = [], 0
        window.append(item)
        total += item_size
    if window:
        yield window


@dataclass(frozen=True)
class Batch:
    """Items `start` to `stop` (exclusive) of the submission."""

    start: int
    stop: int

    def __len__(self) -> int:
        return self.stop - self.start


class BatchPlan(Generic[Item, R]):
    """Batches of `items` to send, adapting to the server's 413 feedback (see module doc)."""

    def __init__(
        self,
        items: Sequence[Item],
        *,
        wire_size: Callable[[Item], int],
        max_count: int,
        max_bytes: int,
    ) -> None:
        self.items = items
        self.max_count = max(1, max_count)
        self.max_bytes = max_bytes
        self._sizes = [wire_size(item) for item in items]
        self._next = 0  # first item not yet in any batch
        self._again: deque[Batch] = deque()  # pieces of refused batches, sent first
        self._results: dict[int, tuple[int, R]] = {}  # start -> (length, result)
        self._skipped: dict[int, Exception] = {}  # index of a refused lone item -> why
        self._stopped = False
        self.unsent = 0  # items never sent because the run stopped

    def _cut(self, start: int, stop: int) -> list[Batch]:
        batches = []
        for n in split_sizes(self._sizes[start:stop], self.max_count, self.max_bytes):
            batches.append(Batch(start, start + n))
            start += n
        return batches

    def take(self) -> Batch | None:
        """The next batch to send, or None when every batch has been handed out (or the run
        stopped)."""
        if self._stopped:
            return None
        if self._again:
            return self._again.popleft()
        if self._next >= len(self.items):
            return None
        batch = self._cut(self._next, len(self.items))[0]
        self._next = batch.stop
        return batch

    def batch_items(self, batch: Batch) -> Sequence[Item]:
        return self.items[batch.start : batch.stop]

    def done(self, batch: Batch, result: R) -> None:
        """The server accepted `batch`."""
        self._results[batch.start] = (len(batch), result)

    def refused(self, batch: Batch, advertised_cap: int | None) -> bool:
        """The server refused `batch` as too large (413). Adopt its advertised cap when it is
        below the batch's length, else halve; queue the pieces. False: nothing smaller to
        try (a batch of one), the refusal is final."""
        if len(batch) <= 1:
            return False
        if advertised_cap is not None and 1 <= advertised_cap < len(batch):
            cap = advertised_cap
        else:
            cap = max(1, len(batch) // 2)
        self.max_count = min(self.max_count, cap)
        self._requeue(self._cut(batch.start, batch.stop))
        return True

    def isolate(self, batch: Batch) -> bool:
        """The server refused `batch` for one of its items (a 413 or 422 about an e-mail):
        queue its two halves, keeping the cap, so the bad item ends up alone. False for a
        batch of one: that item is the bad one (`skip` it)."""
        if len(batch) <= 1:
            return False
        mid = batch.start + len(batch) // 2
        self._requeue([Batch(batch.start, mid), Batch(mid, batch.stop)])
        return True

    def _requeue(self, pieces: list[Batch]) -> None:
        if self._stopped:
            self.unsent += sum(len(p) for p in pieces)
        else:
            self._again.extendleft(reversed(pieces))

    def skip(self, batch: Batch, reason: Exception) -> None:
        """Give up the lone item of `batch` (refused for itself); the others go on."""
        if len(batch) != 1:
            raise ValueError("only a batch of one item can be skipped")
        self._skipped[batch.start] = reason

    def stop(self) -> None:
        """Hand out nothing more; batches in flight may still finish (`done`/`skip`)."""
        if not self._stopped:
            self._stopped = True
            self.unsent += sum(len(b) for b in self._again) + len(self.items) - self._next
            self._again.clear()
            self._next = len(self.items)

    def abandon(self, batch: Batch) -> None:
        """`batch` failed for a reason that is not its items' (the run stops): count it as
        not delivered."""
        self.unsent += len(batch)

    @property
    def stopped(self) -> bool:
        return self._stopped

    @property
    def handed_out(self) -> bool:
        """Nothing left to hand out (every batch sent, or the run stopped); a batch in
        flight may still be refused and re-cut, so this can turn False again."""
        return self._stopped or (not self._again and self._next >= len(self.items))

    def skipped(self) -> list[tuple[int, Exception]]:
        """(index in the submission, reason) of every item given up, in submission order."""
        return sorted(self._skipped.items(), key=lambda pair: pair[0])

    def results(self) -> list[R]:
        """Every done batch's result in submission order (call once no batch is in flight)."""
        done = sum(n for n, _ in self._results.values())
        if done + len(self._skipped) + self.unsent != len(self.items):
            raise RuntimeError("BatchPlan.results() called before every batch was done")
        return [self._results[start][1] for start in sorted(self._results)]
