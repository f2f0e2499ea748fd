"""The typed HTTP client: against a real server process, and against a scripted transport
for retries, backoff and error messages."""

from __future__ import annotations

import asyncio
import json

import httpx
import pytest
from client_support import BATCH_CAP, Artifacts, Live, sample_paths

from sealdog.client.decryption import decrypt_direct, decrypt_inbox
from sealdog.client.errors import (
    AuthenticationError,
    ClientError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    ServerUnreachableError,
    ServiceUnavailableError,
)
from sealdog.client.http import AsyncSealdogClient, Email, RetryPolicy, SealdogClient, split_batches
from sealdog.crypto.paillier import load_secret_key
from sealdog.protocol import Role
from sealdog.trainer.model import LinearModel

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)


def _plain_verdicts(artifacts: Artifacts, raws: list[bytes]) -> list[bool]:
    from sealdog.client.demo_model import plaintext_verdicts

    return plaintext_verdicts(LinearModel.load(artifacts.plain_model), raws, workers=1)


def _emails() -> list[Email]:
    paths = sample_paths("ham", 20) + sample_paths("spam", 20)
    return [Email(p.read_bytes(), p.name) for p in paths]


def test_direct_scoring_chunks_to_the_servers_batch_cap_and_decrypts(
    live: Live, artifacts: Artifacts
) -> None:
    emails = _emails()
    sk = load_secret_key(artifacts.secret_key)
    with SealdogClient(live.url, live.owner_token, retry=FAST) as client:
        assert client.batch_size > BATCH_CAP
        seen: list[int] = []
        results = client.score(live.model_id, emails, delivery="direct", progress=seen.append)
        # The server refused the first, too large batch (413); the client adopted its cap.
        assert client.batch_size == BATCH_CAP
        assert sum(seen) == len(emails) and max(seen) <= BATCH_CAP
    verdicts = decrypt_direct(sk, results)
    assert [v.message_id for v in verdicts] == [e.message_id for e in emails]
    assert [v.positive for v in verdicts] == _plain_verdicts(artifacts, [e.raw for e in emails])
    assert sum(v.positive for v in verdicts) >= 15  # the sample spam is mostly caught


def test_inbox_delivery_by_a_submitter_collected_by_the_owner_with_a_cursor(
    live: Live, artifacts: Artifacts
) -> None:
    emails = _emails()[:12]
    sk = load_secret_key(artifacts.secret_key)
    with (
        SealdogClient(live.url, live.owner_token) as owner,
        SealdogClient(live.url, live.submitter_token, batch_size=5) as gateway,
    ):
        start = owner.verdicts(live.model_id).next_cursor
        while True:  # skip entries left by other tests
            page = owner.verdicts(live.model_id, after=start)
            if not page.entries:
                break
            start = page.next_cursor
        acks = gateway.score(live.model_id, emails, delivery="inbox")
        assert [a.count for a in acks] == [5, 5, 2]
        with pytest.raises(
            PermissionDeniedError, match="role owner"
        ):  # a submitter cannot read the inbox
            gateway.verdicts(live.model_id)
        entries = list(
            owner.iter_inbox(live.model_id, after=start, limit=2)
        )  # 2 per page: paging works
        assert len(entries) == 3
        assert list(owner.iter_inbox(live.model_id, after=entries[-1].cursor)) == []
    verdicts = decrypt_inbox(sk, entries)
    assert [v.message_id for v in verdicts] == [e.message_id for e in emails]
    assert [v.positive for v in verdicts] == _plain_verdicts(artifacts, [e.raw for e in emails])
    assert [v.cursor for v in verdicts] == [entries[0].cursor] * 5 + [entries[1].cursor] * 5 + [
        entries[2].cursor
    ] * 2


def test_models_deploy_is_idempotent_list_get_download_delete(
    live: Live, artifacts: Artifacts
) -> None:
    from sealdog.sealed_model import SealedModel

    with SealdogClient(live.url, live.owner_token) as client:
        again = client.deploy(artifacts.sealed_model.read_bytes())
        assert again.id == live.model_id
        assert again.key_bits == 1024 and again.kind == "linear"
        assert live.model_id in {m.id for m in client.list_models()}
        assert (
            client.get_model(live.model_id).digest
            == SealedModel.read(artifacts.sealed_model).digest
        )
        assert client.download_model(live.model_id).digest == again.digest
        # A second model (same weights, fresh randomness) can be deleted without touching the first.
        from sealdog.client.demo_model import seal_spam_model
        from sealdog.crypto.paillier import load_public_key

        other = seal_spam_model(
            LinearModel.load(artifacts.plain_model), load_public_key(artifacts.public_key)
        )
        info = client.deploy(other)
        assert info.id != live.model_id
        client.delete_model(info.id)
        with pytest.raises(NotFoundError, match="no model"):
            client.get_model(info.id)
        assert client.get_model(live.model_id).id == live.model_id


def test_errors_carry_the_servers_message(live: Live) -> None:
    with (
        SealdogClient(live.url, "sdt_not-a-token", retry=FAST) as client,
        pytest.raises(AuthenticationError, match="invalid or revoked token") as info,
    ):
        client.list_models()
    assert info.value.status == 401
    with (
        SealdogClient(live.url, live.owner_token, retry=FAST) as client,
        pytest.raises(PayloadTooLargeError, match="per e-mail"),
    ):
        client.score(live.model_id, [b"x" * (2 * 1024 * 1024)], delivery="direct")


def test_async_client_scores_concurrently_and_reads_the_inbox(
    live: Live, artifacts: Artifacts
) -> None:
    emails = _emails()
    sk = load_secret_key(artifacts.secret_key)

    async def run():  # type: ignore[no-untyped-def]
        async with AsyncSealdogClient(
            live.url, live.owner_token, batch_size=BATCH_CAP, concurrency=3
        ) as client:
            assert (await client.health())["status"] == "ok"
            results = await client.score(live.model_id, emails, delivery="direct")
            last = (await client.verdicts(live.model_id)).next_cursor
            return results, last

    results, _ = asyncio.run(run())
    verdicts = decrypt_direct(sk, results)
    assert [v.message_id for v in verdicts] == [
        e.message_id for e in emails
    ]  # order kept under concurrency
    assert [v.positive for v in verdicts] == _plain_verdicts(artifacts, [e.raw for e in emails])


def test_server_down_is_a_clear_error() -> None:
    from sealdog.client.local_server import free_port

    with (
        SealdogClient(f"http://127.0.0.1:{free_port()}", "sdt_x", retry=FAST) as client,
        pytest.raises(ServerUnreachableError, match="Is it running"),
    ):
        client.health()


# --- scripted transport: retries and backoff ------------------------------------------


def _problem(status: int, detail: str) -> httpx.Response:
    return httpx.Response(
        status,
        json={"title": "x", "status": status, "detail": detail},
        headers={"content-type": "application/problem+json"},
    )


def test_503_is_retried_then_succeeds() -> None:
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        if len(calls) < 3:
            return _problem(503, "warming up")
        return httpx.Response(200, json={"status": "ok", "version": "t"})

    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=FAST
    ) as client:
        assert client.health()["status"] == "ok"
    assert calls == ["GET"] * 3


def test_503_that_persists_raises_with_the_message() -> None:
    def handler(request):
        return _problem(503, "database unreachable")

    with (
        SealdogClient(
            "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=FAST
        ) as client,
        pytest.raises(ServiceUnavailableError, match="database unreachable"),
    ):
        client.list_models()


def test_read_timeout_is_retried_for_idempotent_calls_only() -> None:
    calls: list[str] = []
    keys: list[str | None] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(f"{request.method} {request.url.path}")
        keys.append(request.headers.get("idempotency-key"))
        body = json.loads(request.content) if request.content else {}
        if request.url.path == "/v1/tokens" or len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        if body.get("delivery") == "inbox":
            return httpx.Response(
                202, json={"model_id": "m", "delivery": "inbox", "count": 1, "inbox_entry": "7"}
            )
        return httpx.Response(200, json={"models": []})

    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=FAST
    ) as client:
        assert client.list_models() == []  # GET: first attempt timed out, second answered
        assert len(calls) == 2
        calls.clear()
        with pytest.raises(ClientError, match="may or may not have been processed"):
            client.create_token(Role.submitter)  # not idempotent: one try
        assert calls == ["POST /v1/tokens"]
        # Inbox scoring carries an Idempotency-Key, so it is resent, with the same key.
        keys.clear()
        first = True

        def flaky(request: httpx.Request) -> httpx.Response:
            nonlocal first
            keys.append(request.headers.get("idempotency-key"))
            if first:
                first = False
                raise httpx.ReadTimeout("slow", request=request)
            return httpx.Response(
                202, json={"model_id": "m", "delivery": "inbox", "count": 1, "inbox_entry": "7"}
            )

    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(flaky), retry=FAST
    ) as client:
        run = client.score_run("m", [b"Subject: x\n\nhello"], delivery="inbox")
    assert run.complete and run.scored == 1
    assert len(keys) == 2 and keys[0] and keys[0] == keys[1]
    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(flaky), retry=FAST
    ) as client:
        client.score_run("m", [b"Subject: y\n\nhello"], delivery="inbox")
    assert keys[2] != keys[0]  # a new batch gets a new key


def test_bearer_token_and_user_agent_are_sent() -> None:
    seen: dict[str, str] = {}

    def handler(request: httpx.Request) -> httpx.Response:
        seen.update(request.headers)
        return httpx.Response(200, json={"models": []})

    with SealdogClient(
        "http://sealdog.test", "sdt_abc", transport=httpx.MockTransport(handler)
    ) as client:
        client.list_models()
    assert seen["authorization"] == "Bearer sdt_abc"
    assert seen["user-agent"].startswith("sealdog-client/")


def test_split_batches_respects_count_and_bytes() -> None:
    emails = [Email(b"a" * 300) for _ in range(10)]
    assert [len(b) for b in split_batches(emails, 4, 10**9)] == [4, 4, 2]
    size = emails[0].wire_size
    assert [len(b) for b in split_batches(emails, 100, 3 * size)] == [3, 3, 3, 1]
    assert [len(b) for b in split_batches(emails[:1], 100, 1)] == [
        1
    ]  # one oversized e-mail still goes alone


def test_url_must_be_http() -> None:
    with pytest.raises(ClientError, match="http://"):
        SealdogClient("127.0.0.1:8000")


def test_a_413_with_an_advertised_batch_cap_is_split_and_resent() -> None:
    sizes: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        n = len(json.loads(request.content)["emails"])
        sizes.append(n)
        if n > 3:
            body = {
                "title": "Payload too large",
                "status": 413,
                "detail": "too many",
                "max_emails_per_batch": 3,
            }
            return httpx.Response(413, json=body)
        return httpx.Response(
            202,
            json={"model_id": "m", "delivery": "inbox", "count": n, "inbox_entry": str(len(sizes))},
        )

    with SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=FAST
    ) as client:
        acks = client.score("m", [b"Subject: x\n\nhi"] * 7, delivery="inbox")
        assert client.batch_size == 3
    assert sizes == [7, 3, 3, 1]  # the refused batch is resent in pieces; nothing sent twice after
    assert [a.count for a in acks] == [3, 3, 1]
