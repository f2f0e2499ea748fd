"""The one batching algorithm of both clients (`BatchPlan`), tested without any I/O, and the
two clients driving it against the same scripted server."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.client.errors import PayloadTooLargeError
from sealdog.client.http import AsyncSealdogClient, BatchPlan, Email, RetryPolicy, SealdogClient
from sealdog.client.http.endpoints import EMAILS, INPUTS

FAST = RetryPolicy(attempts=2, backoff=0.001, max_backoff=0.01)


def _plan(n: int, max_count: int, max_bytes: int = 10**9, size: int = 1) -> BatchPlan[int, str]:
    return BatchPlan(
        list(range(n)), wire_size=lambda _: size, max_count=max_count, max_bytes=max_bytes
    )


def _drain(plan: BatchPlan[int, str], server_cap: int, *, advertise: bool = True) -> list[int]:
    """Send every batch to a server that refuses more than `server_cap` items; sizes sent."""
    sent = []
    while (batch := plan.take()) is not None:
        sent.append(len(batch))
        if len(batch) > server_cap:
            assert plan.refused(batch, server_cap if advertise else None)
            continue
        plan.done(batch, f"{batch.start}-{batch.stop}")
    return sent


def test_an_advertised_cap_is_adopted_and_only_the_refused_batch_is_resent() -> None:
    plan = _plan(7, max_count=256)
    assert _drain(plan, 3) == [7, 3, 3, 1]
    assert plan.max_count == 3
    assert plan.results() == ["0-3", "3-6", "6-7"]


def test_without_an_advertised_cap_the_batch_is_halved_until_it_fits() -> None:
    plan = _plan(10, max_count=10)
    assert _drain(plan, 3, advertise=False) == [10, 5, 2, 2, 1, 5, 2, 2, 1]
    assert plan.max_count == 2  # learned: later batches are cut at the halved size
    assert plan.results() == ["0-2", "2-4", "4-5", "5-7", "7-9", "9-10"]


def test_an_advertised_cap_not_below_the_batch_is_no_information_and_halves() -> None:
    plan = _plan(4, max_count=4)
    batch = plan.take()
    assert batch is not None and plan.refused(batch, 4)
    assert plan.max_count == 2


def test_a_refused_batch_of_one_is_final() -> None:
    plan = _plan(3, max_count=1)
    batch = plan.take()
    assert batch is not None and len(batch) == 1
    assert plan.refused(batch, None) is False
    assert plan.refused(batch, 1) is False


def test_the_byte_budget_cuts_batches_and_an_oversized_item_goes_alone() -> None:
    plan = BatchPlan([5, 5, 5, 50, 5], wire_size=lambda n: n, max_count=100, max_bytes=12)
    sizes = []
    while (batch := plan.take()) is not None:
        sizes.append(list(plan.batch_items(batch)))
        plan.done(batch, "ok")
    assert sizes == [[5, 5], [5], [50], [5]]


def test_results_keep_submission_order_when_batches_finish_out_of_order() -> None:
    plan = _plan(6, max_count=2)
    batches = [plan.take() for _ in range(3)]
    assert plan.take() is None
    for batch in reversed(batches):
        assert batch is not None
        plan.done(batch, f"{batch.start}")
    assert plan.results() == ["0", "2", "4"]


def test_results_before_every_batch_is_done_is_an_error() -> None:
    plan = _plan(4, max_count=2)
    batch = plan.take()
    assert batch is not None
    plan.done(batch, "x")
    with pytest.raises(RuntimeError, match="before every batch"):
        plan.results()


@settings(max_examples=80, deadline=None)
@given(
    n=st.integers(1, 60),
    start_cap=st.integers(1, 80),
    server_cap=st.integers(1, 20),
    advertise=st.booleans(),
)
def test_every_item_is_sent_exactly_once_in_order(
    n: int, start_cap: int, server_cap: int, advertise: bool
) -> None:
    plan = _plan(n, max_count=start_cap)
    accepted: list[int] = []
    while (batch := plan.take()) is not None:
        assert len(batch) <= plan.max_count or len(batch) > server_cap
        if len(batch) > server_cap:
            assert plan.refused(batch, server_cap if advertise else None)
            continue
        accepted.extend(plan.batch_items(batch))
        plan.done(batch, str(batch.start))
    assert accepted == list(range(n))
    assert 1 <= plan.max_count <= max(1, start_cap)
    assert len(plan.results()) >= -(-n // max(1, min(start_cap, server_cap)))


def test_the_cap_comes_from_the_problem_member_of_each_route() -> None:
    assert EMAILS.advertised_cap({"max_emails_per_batch": 8}) == 8
    assert INPUTS.advertised_cap({"max_inputs_per_batch": 64}) == 64
    assert EMAILS.advertised_cap({"max_inputs_per_batch": 64}) is None  # another route's
    for bad in (0, -3, True, "8", 8.0, None):
        assert EMAILS.advertised_cap({"max_emails_per_batch": bad}) is None
    # The English message is never read: a cap in the text alone is no cap.
    assert EMAILS.advertised_cap({"detail": "above the server's cap of 3 e-mails"}) is None


# --- both clients drive the same plan ------------------------------------------------------


def _capped_server(cap: int, sizes: list[int], *, advertise: bool = True):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        field = "emails" if "emails" in body else "inputs"
        n = len(body[field])
        sizes.append(n)
        if n > cap:
            problem = {
                "title": "Payload too large",
                "status": 413,
                "detail": f"batch has {n} {field}, above the server's cap of {cap}",
            }
            if advertise:
                problem[f"max_{field}_per_batch"] = cap
            return httpx.Response(413, json=problem)
        return httpx.Response(
            202,
            json={"model_id": "m", "delivery": "inbox", "count": n, "inbox_entry": str(len(sizes))},
        )

    return handler


def test_sync_and_async_score_send_the_same_batches() -> None:
    emails = [b"Subject: x\n\nhi"] * 7
    sync_sizes: list[int] = []
    with SealdogClient(
        "http://sealdog.test",
        "t",
        retry=FAST,
        transport=httpx.MockTransport(_capped_server(3, sync_sizes)),
    ) as client:
        acks = client.score("m", emails, delivery="inbox")
    async_sizes: list[int] = []

    async def run():  # type: ignore[no-untyped-def]
        transport = httpx.MockTransport(_capped_server(3, async_sizes))
        async with AsyncSealdogClient(
            "http://sealdog.test", "t", retry=FAST, concurrency=1, transport=transport
        ) as client:
            return await client.score("m", emails, delivery="inbox"), client.batch_size

    async_acks, learned = asyncio.run(run())
    assert sync_sizes == async_sizes == [7, 3, 3, 1]
    assert [a.count for a in acks] == [a.count for a in async_acks] == [3, 3, 1]
    assert learned == 3


def test_async_score_with_concurrency_adapts_and_keeps_order() -> None:
    sizes: list[int] = []
    seen: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        emails = json.loads(request.content)["emails"]
        sizes.append(len(emails))
        if len(emails) > 4:
            return httpx.Response(413, json={"status": 413, "detail": "request body too large"})
        first = emails[0]["message_id"]  # the ack names the batch's first e-mail
        return httpx.Response(
            202,
            json={"model_id": "m", "delivery": "inbox", "count": len(emails), "inbox_entry": first},
        )

    async def run():  # type: ignore[no-untyped-def]
        async with AsyncSealdogClient(
            "http://sealdog.test",
            "t",
            retry=FAST,
            concurrency=3,
            batch_size=10,
            transport=httpx.MockTransport(handler),
        ) as client:
            emails = [Email(b"x", str(i)) for i in range(25)]
            results = await client.score("m", emails, delivery="inbox", progress=seen.append)
            return results, client.batch_size

    results, learned = asyncio.run(run())
    assert sum(seen) == 25 and learned <= 4
    assert all(a.count <= 4 for a in results)
    starts = [int(a.inbox_entry) for a in results]
    assert starts == sorted(starts) and starts[0] == 0  # submission order
    assert [s + a.count for s, a in zip(starts, results)] == [*starts[1:], 25]  # no gap, no overlap
    assert sum(n for n in sizes if n <= 4) == 25  # every e-mail accepted exactly once


def test_a_413_without_a_cap_on_one_email_is_final_after_halving() -> None:
    """The server names no cap when a single e-mail is too big: the client halves (smaller
    batches may help) until the refused batch is that one e-mail, then raises its words."""
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        emails = json.loads(request.content)["emails"]
        sizes.append(len(emails))
        if any(len(e["base64"]) > 100 for e in emails):
            return httpx.Response(
                413,
                json={
                    "title": "Payload too large",
                    "status": 413,
                    "detail": "emails[0] is 2,000 bytes, above the server's cap of 1,000 bytes "
                    "per e-mail (SEALDOG_MAX_EMAIL_BYTES)",
                    "item": "emails",
                    "index": 0,
                    "max_email_bytes": 1000,
                },
            )
        return httpx.Response(
            200,
            json={
                "model_id": "m",
                "delivery": "direct",
                "count": len(emails),
                "message_ids": [None] * len(emails),
                "verdicts": {"format": "other", "count": len(emails)},
            },
        )

    emails = [b"ok"] * 3 + [b"x" * 2000]
    transport = httpx.MockTransport(handler)
    with (
        SealdogClient("http://sealdog.test", "t", retry=FAST, transport=transport) as client,
        pytest.raises(PayloadTooLargeError, match="per e-mail") as info,
    ):
        client.score("m", emails)
    assert sizes == [4, 2, 2, 1, 1]  # halved twice; the lone big e-mail is refused last
    assert info.value.problem["status"] == 413


def test_an_empty_submission_sends_nothing() -> None:
    plan = _plan(0, max_count=5)
    assert plan.take() is None
    assert plan.results() == []
    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(lambda r: httpx.Response(500))
    ) as client:
        assert client.score("m", []) == [] and client.score_inputs("m", []) == []
