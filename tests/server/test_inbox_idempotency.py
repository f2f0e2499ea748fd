"""Inbox idempotency (issue 16): a batch sent with an Idempotency-Key is stored once per
model, however often it is retried; a retry gets the first acknowledgement back, and a key
reused for a different batch is refused (409) without storing anything."""

from __future__ import annotations

import re
import uuid

from server_testkit import HAM, SPAM, Server

from sealdog.server.routers.scoring import _KEY_CHARS, MAX_KEY_LENGTH


def _send(
    server: Server, model_id: str, emails: list[dict], key: str | None, delivery: str = "inbox"
):
    headers = dict(server.owner)
    if key is not None:
        headers["Idempotency-Key"] = key
    return server.client.post(
        f"/v1/models/{model_id}/score",
        json={"emails": emails, "delivery": delivery},
        headers=headers,
    )


def _scored_to_inbox(server: Server) -> float:
    """The server's count of e-mails scored for the inbox (its /metrics counter)."""
    prefix = 'sealdog_emails_scored_total{delivery="inbox",kind="linear",mode="verdict"} '
    lines = server.client.get("/metrics").text.splitlines()
    return sum(float(line[len(prefix) :]) for line in lines if line.startswith(prefix))


def _entries(server: Server, model_id: str) -> list[dict]:
    r = server.client.get(
        f"/v1/models/{model_id}/verdicts", params={"after": "0"}, headers=server.owner
    )
    assert r.status_code == 200, r.text
    return r.json()["entries"]


def test_a_retried_batch_is_stored_once_and_acknowledged_alike(
    server: Server, model_id: str
) -> None:
    before = len(_entries(server, model_id))
    key = uuid.uuid4().hex
    batch = [
        {"raw": SPAM.decode(), "message_id": f"{key}/s"},
        {"raw": HAM.decode(), "message_id": f"{key}/h"},
    ]
    first = _send(server, model_id, batch, key)
    assert first.status_code == 202, first.text
    assert "idempotent-replayed" not in first.headers
    scored = _scored_to_inbox(server)
    assert scored >= 2
    again = _send(server, model_id, batch, key)
    assert again.status_code == 202, again.text
    assert again.json() == first.json()  # the same inbox entry (cursor)
    assert again.headers["idempotent-replayed"] == "true"
    assert _scored_to_inbox(server) == scored  # the retry was not scored a second time
    entries = _entries(server, model_id)
    assert len(entries) == before + 1
    assert [e["message_ids"] for e in entries].count([f"{key}/s", f"{key}/h"]) == 1

    # Without a key every request is a new entry (the old behaviour), and a new key too.
    assert _send(server, model_id, batch, None).status_code == 202
    assert _send(server, model_id, batch, uuid.uuid4().hex).status_code == 202
    assert len(_entries(server, model_id)) == before + 3


def test_a_key_reused_for_another_batch_is_refused_and_stores_nothing(
    server: Server, model_id: str
) -> None:
    key = uuid.uuid4().hex
    assert (
        _send(server, model_id, [{"raw": SPAM.decode(), "message_id": "a"}], key).status_code == 202
    )
    before = len(_entries(server, model_id))
    other = _send(server, model_id, [{"raw": HAM.decode(), "message_id": "b"}], key)
    assert other.status_code == 409, other.text
    assert "different batch" in other.json()["detail"]
    assert len(_entries(server, model_id)) == before


def test_a_malformed_key_is_refused(server: Server, model_id: str) -> None:
    batch = [{"raw": SPAM.decode()}]
    for delivery in ("inbox", "direct"):  # checked on both, used by the inbox only
        for bad in ("", "x" * 65, "has space", "a/b", "k;1"):
            r = _send(server, model_id, batch, bad, delivery)
            assert r.status_code == 422, (delivery, bad, r.text)
            assert "Idempotency-Key" in r.json()["detail"]
    assert _send(server, model_id, batch, uuid.uuid4().hex, "direct").status_code == 200


def test_the_openapi_document_states_the_key_as_the_server_checks_it(server: Server) -> None:
    """Clients (and the schema fuzzer) learn the header from the document: its pattern and
    length must accept exactly the keys the server accepts."""
    operation = server.client.get("/openapi.json").json()["paths"]["/v1/models/{model_id}/score"][
        "post"
    ]
    (param,) = [p for p in operation["parameters"] if p["name"] == "Idempotency-Key"]
    assert param["in"] == "header" and param["required"] is False
    schema = param["schema"]
    pattern = re.compile(schema["pattern"])
    assert (schema["minLength"], schema["maxLength"]) == (1, MAX_KEY_LENGTH)
    for code in range(0x20, 0x7F):
        key = chr(code) * 3
        assert bool(pattern.fullmatch(key)) == _KEY_CHARS.issuperset(key), key
