"""`AsyncSealdogClient.score_stream` (what `sealdog score` runs): several batches in flight
across window boundaries, the input read lazily (never more than the open windows ahead of
the server), every e-mail accounted for (scored, refused by its place in the whole stream,
or unsent), results in input order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx

from sealdog.client.errors import AuthenticationError, InvalidRequestError
from sealdog.client.http import AsyncSealdogClient, Email, OnError, RetryPolicy
from sealdog.client.http.batching import cut_windows


def _direct(emails: list[dict]) -> httpx.Response:
    return httpx.Response(
        200,
        json={
            "model_id": "m",
            "delivery": "direct",
            "count": len(emails),
            "message_ids": [e.get("message_id") for e in emails],
            "verdicts": {"format": "other", "count": len(emails)},
        },
    )


class Source:
    """E-mails m0..m{n-1} (one named "bad" at `bad`), counting how many were read."""

    def __init__(self, n: int, bad: int | None = None) -> None:
        self.n, self.bad, self.read = n, bad, 0

    def __iter__(self) -> Iterator[Email]:
        for i in range(self.n):
            self.read += 1
            yield Email(b"Subject: x\n\ny", "bad" if i == self.bad else f"m{i}")


class Server:
    """A mock server that holds each batch a moment and records the peak in flight and how
    much of the input had been read when each batch arrived."""

    def __init__(self, source: Source, fail_on_call: int | None = None) -> None:
        self.source = source
        self.inflight = self.peak = self.calls = 0
        self.read_at_arrival: list[int] = []
        self.fail_on_call = fail_on_call

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        self.read_at_arrival.append(self.source.read)
        if self.calls == self.fail_on_call:
            return httpx.Response(401, json={"status": 401, "detail": "token revoked"})
        emails = json.loads(request.content)["emails"]
        for i, e in enumerate(emails):
            if e["message_id"] == "bad":
                detail = f"emails[{i}]: cannot parse this e-mail"
                return httpx.Response(
                    422, json={"status": 422, "detail": detail, "item": "emails", "index": i}
                )
        self.inflight += 1
        self.peak = max(self.peak, self.inflight)
        await asyncio.sleep(0.01)
        self.inflight -= 1
        return _direct(emails)


def _run(source: Source, server: Server, *, window: int, concurrency: int, on_error=OnError.skip):
    async def main():
        async with AsyncSealdogClient(
            "http://sealdog.test",
            "t",
            transport=httpx.MockTransport(server),
            retry=RetryPolicy(attempts=1),
            batch_size=4,
            concurrency=concurrency,
        ) as client:
            windows = cut_windows(
                source, size=lambda e: e.wire_size, max_count=window, max_bytes=1 << 30
            )
            done: list[int] = []
            run = await client.score_stream("m", windows, progress=done.append, on_error=on_error)
            return run, sum(done)

    return asyncio.run(main())


def test_batches_overlap_across_windows_and_results_keep_input_order() -> None:
    source = Source(101)
    server = Server(source)
    run, progressed = _run(source, server, window=10, concurrency=4)
    ids = [i for r in run.results for i in r.message_ids]  # type: ignore[union-attr]
    assert ids == [f"m{i}" for i in range(101)]
    assert run.complete and progressed == 101
    assert server.peak == 4  # windows of 10 hold 3 batches: 4 in flight spans two windows
    # Read lazily: when a batch arrives, at most two windows (20 e-mails) past what the
    # batches before it covered have been read; the weak variant reads all 101 first.
    assert server.read_at_arrival[0] <= 20
    middle = len(server.read_at_arrival) // 2
    assert server.read_at_arrival[middle] <= 4 * middle + 20 < 101


def test_a_bad_email_in_a_later_window_is_named_by_its_place_in_the_stream() -> None:
    source = Source(60, bad=37)
    run, progressed = _run(source, Server(source), window=8, concurrency=3)
    assert [(r.index, r.name) for r in run.refused] == [(37, "bad")]
    assert isinstance(run.refused[0].error, InvalidRequestError)
    assert run.scored == 59 == progressed and run.unsent == 0 and run.error is None
    ids = [i for r in run.results for i in r.message_ids]  # type: ignore[union-attr]
    assert ids == [f"m{i}" for i in range(60) if i != 37]


def test_a_run_level_error_stops_and_counts_the_unread_rest_as_unsent() -> None:
    source = Source(200)
    server = Server(source, fail_on_call=5)
    run, _ = _run(source, server, window=12, concurrency=2)
    assert isinstance(run.error, AuthenticationError)
    assert run.scored + len(run.refused) + run.unsent == 200
    assert run.scored >= 4 * 3 and run.unsent >= 4  # the failed batch, at least
    assert source.read == 200  # the rest was read to be counted, never sent
    assert server.calls < 10


def test_on_error_stop_stops_at_the_refused_email() -> None:
    source = Source(40, bad=9)
    run, _ = _run(source, Server(source), window=8, concurrency=1, on_error=OnError.stop)
    ids = [i for r in run.results for i in r.message_ids]  # type: ignore[union-attr]
    assert ids == [f"m{i}" for i in range(len(ids))] and len(ids) < 9 + 1
    assert [r.index for r in run.refused] == [9]
    assert run.scored + 1 + run.unsent == 40


def test_cut_windows_bounds_count_and_bytes() -> None:
    sizes = [5, 5, 5, 20, 1, 1, 1, 1]
    windows = list(cut_windows(sizes, size=lambda s: s, max_count=3, max_bytes=12))
    assert windows == [[5, 5], [5], [20], [1, 1, 1], [1]]
    assert [x for w in windows for x in w] == sizes
