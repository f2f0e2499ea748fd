"""The client's side of the wire, against a scripted transport: problem+json -> ApiError
fields, Retry-After, checks on every answer value, bit-row scoring, deploy inputs."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from sealdog.client.errors import (
    ApiError,
    ClientError,
    DecryptionError,
    InvalidRequestError,
    NotFoundError,
    PayloadTooLargeError,
    ServiceUnavailableError,
    api_error,
)
from sealdog.client.http import (
    DirectResult,
    EncryptedOutputs,
    InboxAck,
    InboxPage,
    Mode,
    RetryPolicy,
    Role,
    SealdogClient,
)

FAST = RetryPolicy(attempts=3, backoff=0.001, max_backoff=0.01)
URL = "http://sealdog.test"


def _client(handler: Any, **options: Any) -> SealdogClient:
    return SealdogClient(URL, "t", transport=httpx.MockTransport(handler), retry=FAST, **options)


def _model(**changes: Any) -> dict[str, Any]:
    data = {
        "id": "abc",
        "kind": "linear",
        "scheme": "paillier",
        "digest": "d" * 64,
        "key_fingerprint": "f" * 64,
        "key_bits": 2048,
        "size_bytes": 10,
        "uploaded_at": "2026-01-01T00:00:00Z",
        "score_mode_enabled": False,
        "owner": "alice",
        "summary": {"scale": 20},
    }
    data.update(changes)
    return data


# --- ApiError: declared fields, from problem+json ---------------------------------------


def test_api_error_fields_are_set_by_its_constructor() -> None:
    error = api_error(
        413,
        "too many",
        method="POST",
        url="http://x/v1",
        title="Payload too large",
        problem={"max_emails_per_batch": 8},
        retry_after=2.0,
    )
    assert isinstance(error, PayloadTooLargeError)
    assert (error.status, error.detail, error.title) == (413, "too many", "Payload too large")
    assert (error.method, error.url) == ("POST", "http://x/v1")
    assert error.problem == {"max_emails_per_batch": 8} and error.retry_after == 2.0
    plain = ApiError(418, "teapot")
    assert plain.problem == {} and plain.retry_after is None
    assert "server said 418" in str(plain)


def test_an_error_answer_carries_the_whole_problem_and_retry_after() -> None:
    body = {
        "type": "about:blank",
        "title": "Unprocessable content",
        "status": 422,
        "detail": "invalid request: emails: too short",
        "errors": [{"loc": ["body"]}],
    }

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(422, json=body, headers={"retry-after": "7"})

    with _client(handler) as client, pytest.raises(InvalidRequestError) as info:
        client.get_model("abc")
    error = info.value
    assert error.detail == body["detail"] and error.title == "Unprocessable content"
    assert error.problem == body and error.retry_after == 7.0
    assert error.method == "GET" and error.url == f"{URL}/v1/models/abc"


def test_an_error_answer_that_is_not_json_keeps_its_text() -> None:
    with (
        _client(lambda r: httpx.Response(404, text="nothing here")) as client,
        pytest.raises(NotFoundError, match="nothing here") as info,
    ):
        client.get_model("abc")
    assert info.value.problem == {}


def test_retry_after_sets_the_wait_between_attempts() -> None:
    policy = RetryPolicy(attempts=3, backoff=5.0, max_backoff=8.0)
    assert policy.delay(0, 0.0) == 0.0
    assert policy.delay(0, 3.0) == 3.0
    assert policy.delay(0, 60.0) == 8.0  # capped
    assert 2.5 <= policy.delay(0) <= 5.0  # jittered backoff without the header
    calls: list[float] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        if len(calls) == 1:
            return httpx.Response(503, json={"detail": "busy"}, headers={"retry-after": "0"})
        return httpx.Response(200, json={"status": "ok", "version": "t"})

    slow = RetryPolicy(attempts=2, backoff=30.0, max_backoff=30.0)  # would sleep 15-30 s
    with SealdogClient(URL, "t", transport=httpx.MockTransport(handler), retry=slow) as client:
        assert client.health()["status"] == "ok"  # Retry-After: 0 answered at once
    assert len(calls) == 2


def test_a_503_with_an_http_date_retry_after_falls_back_to_backoff() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            503, json={"detail": "down"}, headers={"retry-after": "Wed, 21 Oct 2015 07:28:00 GMT"}
        )

    with _client(handler) as client, pytest.raises(ServiceUnavailableError) as info:
        client.health()
    assert info.value.retry_after is None


# --- every answer value is checked --------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"key_bits": "2048"}, "key_bits"),
        ({"key_bits": 0}, "key_bits"),
        ({"size_bytes": -1}, "size_bytes"),
        ({"score_mode_enabled": "no"}, "score_mode_enabled"),
        ({"id": 5}, "id"),
        ({"owner": "x" * 5000}, "owner"),
        ({"summary": []}, "summary"),
    ],
)
def test_a_model_answer_with_a_bad_value_is_a_clear_client_error(change: dict, field: str) -> None:
    with (
        _client(lambda r: httpx.Response(200, json=_model(**change))) as client,
        pytest.raises(ClientError, match=f"Unexpected answer.*{field}.*compatible version"),
    ):
        client.get_model("abc")


def test_a_good_model_answer_parses() -> None:
    with _client(lambda r: httpx.Response(200, json={"models": [_model()]})) as client:
        [info] = client.list_models()
    assert info.key_bits == 2048 and info.summary == {"scale": 20}


@pytest.mark.parametrize(
    ("answer", "message"),
    [
        ({"model_id": "m", "delivery": "inbox", "count": 2, "inbox_entry": "1"}, "count"),
        ({"model_id": "m", "delivery": "sideways", "count": 1}, "delivery"),
        (
            {
                "model_id": "m",
                "delivery": "direct",
                "count": 1,
                "message_ids": [None, None],
                "verdicts": {"format": "x", "count": 1},
            },
            "message_ids",
        ),
        (
            {
                "model_id": "m",
                "delivery": "direct",
                "count": 1,
                "message_ids": [7],
                "verdicts": {"format": "x", "count": 1},
            },
            "message id",
        ),
        (
            {
                "model_id": "m",
                "delivery": "direct",
                "count": 1,
                "message_ids": [None],
                "verdicts": {"format": "x", "count": 3},
            },
            "holds 3 results",
        ),
        (
            {
                "model_id": "m",
                "delivery": "direct",
                "count": 1,
                "message_ids": [None],
                "verdicts": [],
            },
            "verdicts",
        ),
    ],
)
def test_a_scoring_answer_that_does_not_fit_the_batch_is_refused(
    answer: dict, message: str
) -> None:
    with (
        _client(lambda r: httpx.Response(200, json=answer)) as client,
        pytest.raises(ClientError, match=message),
    ):
        client.score_inputs("m", [[0, 1]])


def test_inbox_pages_are_checked() -> None:
    entry = {
        "cursor": "4",
        "model_id": "m",
        "created_at": "t",
        "mode": "verdict",
        "count": 1,
        "message_ids": [None],
        "verdicts": {"format": "sealdog-xor-outputs", "count": 1},
    }
    page = InboxPage.from_json({"entries": [entry], "next_cursor": "4"})
    assert page.entries[0].mode is Mode.VERDICT
    assert isinstance(page.entries[0].verdicts, EncryptedOutputs)
    with pytest.raises(ValueError, match="mode"):
        InboxPage.from_json({"entries": [{**entry, "mode": "loud"}], "next_cursor": "4"})
    with pytest.raises(TypeError, match="entries"):
        InboxPage.from_json({"entries": {}, "next_cursor": "4"})
    with pytest.raises(ValueError, match="next_cursor"):
        InboxPage.from_json({"entries": [], "next_cursor": 4})


# --- score_inputs: bit rows for the kinds that score them ------------------------------------


def _echo_inputs(bodies: list[dict]):  # type: ignore[no-untyped-def]
    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        n = len(body["inputs"])
        if n > 2:
            return httpx.Response(
                413, json={"status": 413, "detail": "batch too big", "max_inputs_per_batch": 2}
            )
        payload = {
            "format": "sealdog-xor-outputs",
            "version": 1,
            "count": n,
            "outputs": [str(row) for row in body["inputs"]],
        }
        return httpx.Response(
            200,
            json={
                "model_id": "x",
                "delivery": "direct",
                "count": n,
                "message_ids": [None] * n,
                "verdicts": payload,
            },
        )

    return handler


def test_score_inputs_sends_bit_rows_in_batches_under_the_advertised_cap() -> None:
    import numpy as np

    bodies: list[dict] = []
    rows = [[0, 0], [0, 1], np.array([1, 0]), (1, 1), [1, 0]]
    seen: list[int] = []
    with _client(_echo_inputs(bodies)) as client:
        results = client.score_inputs("x", rows, mode=Mode.SCORE, progress=seen.append)
        assert client.inputs_batch_size == 2 and client.batch_size == 256  # per route
    assert [len(b["inputs"]) for b in bodies] == [5, 2, 2, 1]
    assert all(b["mode"] == "score" and b["delivery"] == "direct" for b in bodies)
    assert bodies[-1]["inputs"] == [[1, 0]] and "emails" not in bodies[0]
    assert seen == [2, 2, 1]
    payloads = []
    for result in results:
        assert isinstance(result, DirectResult) and isinstance(result.verdicts, EncryptedOutputs)
        assert result.verdicts.format == "sealdog-xor-outputs"
        payloads.extend(result.verdicts.payload["outputs"])
    assert payloads == ["[0, 0]", "[0, 1]", "[1, 0]", "[1, 1]", "[1, 0]"]


@pytest.mark.parametrize(
    ("rows", "message"),
    [
        ([[0, 1], [0, 2]], r"inputs\[1\]\[1\] is 2"),
        ([[0.5, 1]], r"inputs\[0\]\[0\] is 0.5"),
        ([[True, False]], r"inputs\[0\]\[0\] is True"),
        ([["1", "0"]], "bits, 0 or 1"),
        ([[0, 1], 1], r"inputs\[1\] must be a list of bits"),
        (["01"], "list of bits"),
    ],
)
def test_bad_bit_rows_are_refused_before_anything_is_sent(rows: list, message: str) -> None:
    bodies: list[dict] = []
    with _client(_echo_inputs(bodies)) as client, pytest.raises(ClientError, match=message):
        client.score_inputs("x", rows)
    assert bodies == []


def test_inputs_answers_are_not_paillier_verdicts_for_decryption() -> None:
    from sealdog.client.decryption import decrypt_direct
    from sealdog.crypto.paillier import generate_keypair

    with _client(_echo_inputs([])) as client:
        results = client.score_inputs("x", [[0, 1]])
    _, sk = generate_keypair(1024, insecure=True)
    with pytest.raises(DecryptionError, match="not Paillier verdicts"):
        decrypt_direct(sk, [r for r in results if isinstance(r, DirectResult)])


def test_inbox_delivery_of_inputs_is_resent_with_the_same_idempotency_key() -> None:
    """An inbox batch whose answer was lost is resent with its Idempotency-Key (the server
    stores a key once, so the retry cannot store the batch twice); each batch has its own."""
    calls: list[dict] = []
    keys: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(json.loads(request.content))
        keys.append(request.headers["idempotency-key"])
        if len(calls) == 1:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(
            202, json={"model_id": "x", "delivery": "inbox", "count": 1, "inbox_entry": "3"}
        )

    with _client(handler) as client:
        [ack] = client.score_inputs("x", [[1, 1]], delivery="inbox")
        assert isinstance(ack, InboxAck) and ack.inbox_entry == "3"
        assert len(calls) == 2 and calls[0] == calls[1]
        assert len(keys[0]) == 32 and keys[0] == keys[1]
        client.score_inputs("x", [[1, 0]], delivery="inbox")
    assert len(calls) == 3 and keys[2] != keys[0]


# --- deploy: any sealed artifact; roles as enums ----------------------------------------------


class _Artifact:
    def to_bytes(self) -> bytes:
        return b"sealed-bytes"


def test_deploy_sends_the_bytes_of_an_object_bytes_or_a_path(tmp_path: Path) -> None:
    uploads: list[bytes] = []

    def handler(request: httpx.Request) -> httpx.Response:
        uploads.append(request.content)
        assert request.headers["content-type"] == "application/octet-stream"
        return httpx.Response(201, json=_model(kind="xor", scheme="vhe"))

    (tmp_path / "m.sealed").write_bytes(b"from-file")
    with _client(handler) as client:
        assert client.deploy(_Artifact()).kind == "xor"
        client.deploy(b"raw")
        client.deploy(tmp_path / "m.sealed")
        client.deploy(str(tmp_path / "m.sealed"))
        with pytest.raises(ClientError, match="Cannot read sealed-model file"):
            client.deploy(tmp_path / "missing.sealed")
    assert uploads == [b"sealed-bytes", b"raw", b"from-file", b"from-file"]


def test_create_token_sends_the_role_and_ids_are_one_path_segment() -> None:
    seen: list[tuple[str, dict]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append((request.url.raw_path.decode(), json.loads(request.content or b"{}")))
        return httpx.Response(200, json={"id": "tok", "token": "sdt_x"})

    with _client(handler) as client:
        assert client.create_token(Role.submitter, subject="gw", models=["m1"])["token"] == "sdt_x"
        client.create_token("owner")  # a plain string still works (StrEnum)
        client.grant("a/../b", "m1")
    assert seen[0] == ("/v1/tokens", {"role": "submitter", "models": ["m1"], "subject": "gw"})
    assert seen[1][1]["role"] == "owner"
    assert seen[2][0] == "/v1/tokens/a%2F..%2Fb/grants"
