"""Scoring: verdicts decrypt to the plaintext model's decisions; inbox with cursor; exact
score mode only when the operator enabled it; every limit and input error is a clean 4xx."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from server_testkit import HAM, NEUTRAL, SPAM, Keys, Server, decrypt, expected_score

from sealdog.server.routers.scoring import base64_size


def _emails(*raws: bytes) -> list[dict]:
    return [
        {"base64": base64.b64encode(r).decode(), "message_id": f"<m{i}@test>"}
        for i, r in enumerate(raws)
    ]


def test_direct_verdicts_match_plaintext_model(server: Server, model_id: str, keys: Keys) -> None:
    raws = [SPAM, HAM, NEUTRAL, SPAM]
    r = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.submitter, json={"emails": _emails(*raws)}
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["delivery"] == "direct" and body["count"] == 4
    assert body["message_ids"] == [f"<m{i}@test>" for i in range(4)]
    assert body["verdicts"]["mode"] == "verdict"
    assert body["verdicts"]["key_fingerprint"] == keys.public.fingerprint
    assert decrypt(keys, body["verdicts"]) == [expected_score(x) > 0 for x in raws]
    assert [expected_score(x) > 0 for x in raws] == [True, False, False, True]


def test_an_email_over_a_parsing_cap_is_scored_and_flagged_truncated(
    server: Server, model_id: str, keys: Keys
) -> None:
    """Over a parsing cap (here a 3,000-byte Subject, the cap is 2,048) an e-mail is read in
    part and scored, never refused or dropped, and the key holder is told: `truncated`
    lists its position, and the client's decrypted verdict carries the flag."""
    from sealdog.client.decryption import decrypt_direct
    from sealdog.client.http.models import parse_score_answer

    long_subject = b"Subject: " + b"offer " * 500 + b"\n\nfree money"
    r = server.client.post(
        f"/v1/models/{model_id}/score",
        headers=server.owner,
        json={"emails": _emails(HAM, long_subject, SPAM)},
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["verdicts"]["truncated"] == [1]
    verdicts = decrypt_direct(keys.secret, [parse_score_answer(body, 3)])
    assert [v.truncated for v in verdicts] == [False, True, False]
    assert [v.positive for v in verdicts][::2] == [False, True]
    plain = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"emails": _emails(HAM)}
    ).json()
    assert "truncated" not in plain["verdicts"]  # absent when empty: the old document


def test_raw_text_emails_and_rerandomisation(server: Server, model_id: str, keys: Keys) -> None:
    req = {"emails": [{"raw": SPAM.decode()}, {"raw": HAM.decode()}]}
    first = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json=req
    ).json()
    second = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json=req
    ).json()
    assert decrypt(keys, first["verdicts"]) == decrypt(keys, second["verdicts"]) == [True, False]
    # Same e-mails, fresh randomness: the ciphertexts never repeat.
    assert first["verdicts"]["ciphertexts"] != second["verdicts"]["ciphertexts"]


def test_inbox_delivery_and_cursor_paging(server: Server, model_id: str, keys: Keys) -> None:
    c = server.client
    start = c.get(f"/v1/models/{model_id}/verdicts", headers=server.owner).json()
    cursor = start["next_cursor"]
    while True:  # drain what earlier tests left
        page = c.get(
            f"/v1/models/{model_id}/verdicts", params={"after": cursor}, headers=server.owner
        ).json()
        if not page["entries"]:
            break
        cursor = page["next_cursor"]
    batches = [[SPAM], [HAM, SPAM], [NEUTRAL]]
    for batch in batches:
        r = c.post(
            f"/v1/models/{model_id}/score",
            headers=server.submitter,
            json={"emails": _emails(*batch), "delivery": "inbox"},
        )
        assert r.status_code == 202, r.text
        ack = r.json()
        assert set(ack) == {"model_id", "delivery", "count", "inbox_entry"}  # no ciphertexts
        assert ack["count"] == len(batch)
    seen = []
    for _ in range(3):
        page = c.get(
            f"/v1/models/{model_id}/verdicts",
            params={"after": cursor, "limit": 2},
            headers=server.owner,
        ).json()
        for entry in page["entries"]:
            assert entry["model_id"] == model_id and entry["mode"] == "verdict"
            seen.append((entry["message_ids"], decrypt(keys, entry["verdicts"])))
        cursor = page["next_cursor"]
    assert [v for _, v in seen] == [[True], [False, True], [False]]
    assert seen[1][0] == ["<m0@test>", "<m1@test>"]
    # The submitter and other owners cannot read the inbox.
    assert c.get(f"/v1/models/{model_id}/verdicts", headers=server.submitter).status_code == 403
    assert c.get(f"/v1/models/{model_id}/verdicts", headers=server.other_owner).status_code == 404
    assert (
        c.get(
            f"/v1/models/{model_id}/verdicts", params={"after": "abc"}, headers=server.owner
        ).status_code
        == 422
    )
    assert (
        c.get(
            f"/v1/models/{model_id}/verdicts", params={"limit": 0}, headers=server.owner
        ).status_code
        == 422
    )


def test_score_mode_needs_the_operator(server: Server, model_id: str, keys: Keys) -> None:
    from sealdog.crypto.paillier import EncryptedVerdicts, decrypt_scores

    c = server.client
    req = {"emails": _emails(SPAM, HAM), "mode": "score"}
    r = c.post(f"/v1/models/{model_id}/score", headers=server.owner, json=req)
    assert r.status_code == 403 and "operator" in r.json()["detail"]
    # Owners cannot grant themselves exact scores; the admin (operator) can.
    assert (
        c.put(
            f"/v1/models/{model_id}/policy", json={"score_mode_enabled": True}, headers=server.owner
        ).status_code
        == 403
    )
    r = c.put(
        f"/v1/models/{model_id}/policy", json={"score_mode_enabled": True}, headers=server.admin
    )
    assert r.status_code == 200 and r.json()["score_mode_enabled"] is True
    try:
        r = c.post(f"/v1/models/{model_id}/score", headers=server.owner, json=req)
        assert r.status_code == 200, r.text
        ev = EncryptedVerdicts.from_json(r.json()["verdicts"])
        assert ev.mode == "score"
        scale = 2**16
        assert decrypt_scores(keys.secret, ev) == [
            round(expected_score(SPAM) * scale),
            round(expected_score(HAM) * scale),
        ]
    finally:
        c.put(
            f"/v1/models/{model_id}/policy",
            json={"score_mode_enabled": False},
            headers=server.admin,
        )


def test_who_may_score(server: Server, model_id: str) -> None:
    c = server.client
    req = {"emails": [{"raw": "hello"}]}
    assert c.post(f"/v1/models/{model_id}/score", headers=server.admin, json=req).status_code == 403
    assert (
        c.post(f"/v1/models/{model_id}/score", headers=server.other_owner, json=req).status_code
        == 404
    )
    assert c.post(f"/v1/models/{model_id}/score", json=req).status_code == 401
    assert (
        c.post("/v1/models/" + "f" * 32 + "/score", headers=server.owner, json=req).status_code
        == 404
    )
    assert (
        c.post("/v1/models/../../etc/passwd/score", headers=server.owner, json=req).status_code
        == 404
    )
    r = c.post("/v1/tokens", json={"role": "submitter"}, headers=server.admin).json()
    ungranted = {"Authorization": f"Bearer {r['token']}"}
    assert c.post(f"/v1/models/{model_id}/score", headers=ungranted, json=req).status_code == 404


@pytest.mark.parametrize(
    ("payload", "status", "needle"),
    [
        ({"emails": [{"base64": "***"}]}, 422, "not valid base64"),
        ({"emails": [{"raw": "a", "base64": "YQ=="}]}, 422, "exactly one"),
        ({"emails": [{}]}, 422, "exactly one"),
        ({"emails": []}, 422, "emails"),
        ({"emails": [{"raw": "a"}], "delivery": "carrier-pigeon"}, 422, "delivery"),
        ({"emails": [{"raw": "a"}], "mode": "plaintext"}, 422, "mode"),
        ({"emails": [{"raw": "a"}], "secret_key": "x"}, 422, "secret_key"),
        ({"emails": [{"raw": "a"}] * 9}, 413, "cap of 8"),
        ({"emails": [{"raw": "x" * (16 * 1024 + 1)}]}, 413, "per e-mail"),
        (
            {"emails": [{"base64": base64.b64encode(b"y" * (16 * 1024 + 1)).decode()}]},
            413,
            "per e-mail",
        ),
    ],
    ids=[
        "bad-base64",
        "both",
        "neither",
        "empty-batch",
        "bad-delivery",
        "bad-mode",
        "unknown-field",
        "too-many",
        "raw-too-big",
        "b64-too-big",
    ],
)
def test_score_input_errors(server: Server, model_id: str, payload, status, needle) -> None:
    r = server.client.post(f"/v1/models/{model_id}/score", headers=server.owner, json=payload)
    assert r.status_code == status, r.text
    if needle:
        assert r.headers["content-type"] == "application/problem+json"
        assert needle in r.text
        assert "Traceback" not in r.text


def test_batch_cap_is_machine_readable(server: Server, model_id: str) -> None:
    """Clients split batches by the advertised cap instead of parsing the message."""
    r = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"emails": [{"raw": "a"}] * 9}
    )
    assert r.status_code == 413
    assert r.json()["max_emails_per_batch"] == 8


@pytest.mark.parametrize(
    ("email", "status", "extra"),
    [
        ({"raw": "x" * (16 * 1024 + 1)}, 413, {"max_email_bytes": 16 * 1024}),
        ({"base64": "not base64!"}, 422, {}),
    ],
)
def test_a_refusal_of_one_email_names_it_as_data(
    server: Server, model_id: str, email: dict[str, str], status: int, extra: dict[str, int]
) -> None:
    """The refused e-mail's batch index travels as problem+json data, so a client sets it
    aside and sends the rest without reading the message."""
    emails = [{"raw": "Subject: fine\n\nhello"}, {"raw": "Subject: also fine\n\nhi"}, email]
    r = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"emails": emails}
    )
    assert r.status_code == status, r.text
    problem = r.json()
    assert problem["item"] == "emails" and problem["index"] == 2
    assert {k: problem[k] for k in extra} == extra


@given(st.binary(max_size=64))
def test_base64_size_is_the_decoded_length(data: bytes) -> None:
    assert base64_size(base64.b64encode(data).decode()) == len(data)


def test_an_oversized_base64_email_is_refused_before_it_is_decoded(
    server: Server, model_id: str
) -> None:
    """Not base64 at all, but past the cap by length alone: the 413 comes first, so the
    server never spends time decoding (or validating) a body it is going to refuse."""
    email = {"base64": "*" * (4 * 16 * 1024)}
    r = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"emails": [email]}
    )
    assert r.status_code == 413, r.text
    assert r.json()["max_email_bytes"] == 16 * 1024 and "49,152 bytes" in r.json()["detail"]


def test_a_scoring_input_error_keeps_its_index_across_processes() -> None:
    """The scoring process pickles the error back to the server: its index must survive."""
    import pickle

    from sealdog.server.kinds.base import ScoringInputTooLargeError

    back = pickle.loads(pickle.dumps(ScoringInputTooLargeError("emails[3]: too big", index=3)))
    assert isinstance(back, ScoringInputTooLargeError)
    assert back.index == 3 and str(back) == "emails[3]: too big"


def test_lone_surrogate_in_raw_text_is_scored(server: Server, model_id: str) -> None:
    r = server.client.post(
        f"/v1/models/{model_id}/score",
        content=b'{"emails":[{"raw":"\\ud800 hi"}]}',
        headers={**server.owner, "Content-Type": "application/json"},
    )
    assert r.status_code == 200, r.text


def test_malformed_json_and_oversized_body(server: Server, model_id: str) -> None:
    url = f"/v1/models/{model_id}/score"
    headers = {**server.owner, "Content-Type": "application/json"}
    r = server.client.post(url, content=b'{"emails": [', headers=headers)
    assert r.status_code == 422 and r.headers["content-type"] == "application/problem+json"
    r = server.client.post(url, content=b"\xff\xfe garbage", headers=headers)
    assert r.status_code == 422
    big = b'{"emails": [{"raw": "' + b"z" * server.settings.max_body_bytes + b'"}]}'
    r = server.client.post(url, content=big, headers=headers)
    assert r.status_code == 413 and "max_body_bytes" in r.json()["detail"]

    def chunked():
        yield b'{"emails": [{"raw": "'
        for _ in range(8):
            yield b"z" * (server.settings.max_body_bytes // 4)
        yield b'"}]}'

    r = server.client.post(url, content=chunked(), headers=headers)
    assert r.status_code == 413


def test_scoring_metrics(server: Server, model_id: str) -> None:
    server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"emails": _emails(HAM)}
    )
    text = server.client.get("/metrics").text
    line = next(
        row
        for row in text.splitlines()
        if row.startswith(
            'sealdog_emails_scored_total{delivery="direct",kind="linear",mode="verdict"}'
        )
    )
    assert float(line.split()[-1]) >= 1
