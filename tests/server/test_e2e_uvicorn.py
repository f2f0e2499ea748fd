"""End to end: `sealdog server run` (real uvicorn) on 127.0.0.1, tokens issued with the CLI,
concurrent uploads and scoring, /healthz during a big batch, and a restart."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from server_testkit import (
    HAM,
    SPAM,
    HealthProbe,
    Keys,
    UvicornProcess,
    bearer,
    cli_token,
    decrypt,
    seal,
)


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    data_dir = root / "data"
    owner = cli_token(data_dir, "--role", "owner", "--subject", "alice")
    admin = cli_token(data_dir, "--role", "admin")
    proc = UvicornProcess(data_dir)
    yield proc, data_dir, bearer(owner), bearer(admin)
    proc.stop()


def test_concurrent_uploads_and_scoring(live, keys: Keys) -> None:
    proc, _, owner, _ = live
    blobs = [seal(keys, metadata={"n": i}).to_bytes() for i in range(3)]
    blobs.append(blobs[0])  # the same model twice, concurrently: one id
    with httpx.Client(base_url=proc.url, timeout=60) as client, ThreadPoolExecutor(4) as pool:
        uploads = list(
            pool.map(lambda b: client.post("/v1/models", content=b, headers=owner), blobs)
        )
        assert all(r.status_code in (200, 201) for r in uploads), [r.text for r in uploads]
        ids = [r.json()["id"] for r in uploads]
        assert len(set(ids[:3])) == 3 and ids[3] == ids[0]
        listed = client.get("/v1/models", headers=owner).json()["models"]
        assert {m["id"] for m in listed} >= set(ids)

        def score(i: int) -> list[bool]:
            r = client.post(
                f"/v1/models/{ids[i % 3]}/score",
                headers=owner,
                json={"emails": [{"raw": SPAM.decode()}, {"raw": HAM.decode()}]},
            )
            assert r.status_code == 200, r.text
            return decrypt(keys, r.json()["verdicts"])

        assert list(pool.map(score, range(12))) == [[True, False]] * 12


def test_healthz_answers_while_a_big_batch_is_scored(live, keys: Keys) -> None:
    proc, _, owner, _ = live
    with httpx.Client(base_url=proc.url, timeout=120) as client:
        model_id = client.post("/v1/models", content=seal(keys).to_bytes(), headers=owner).json()[
            "id"
        ]
        body = ("viagra free money meeting report winner " * 2500).encode()  # ~100 kB each
        emails = [{"raw": "Subject: x\n\n" + body.decode()} for _ in range(120)]
        with HealthProbe(proc.url, interval=0.02) as probe:
            response = client.post(
                f"/v1/models/{model_id}/score", headers=owner, json={"emails": emails}
            )
    assert response.status_code == 200, response.text
    assert decrypt(keys, response.json()["verdicts"]) == [True] * 120
    assert len(probe.latencies) >= 5, "the batch finished too fast to probe"
    assert max(probe.latencies) < 0.5, max(probe.latencies)


def test_restart_serves_everything_acknowledged(live, keys: Keys) -> None:
    proc, data_dir, owner, admin = live
    with httpx.Client(base_url=proc.url, timeout=60) as client:
        model_id = client.post(
            "/v1/models", content=seal(keys, metadata={"r": 1}).to_bytes(), headers=owner
        ).json()["id"]
        r = client.post(
            f"/v1/models/{model_id}/score",
            headers=owner,
            json={"emails": [{"raw": SPAM.decode(), "message_id": "before"}], "delivery": "inbox"},
        )
        assert r.status_code == 202
        assert (
            client.put(
                f"/v1/models/{model_id}/policy", json={"score_mode_enabled": True}, headers=admin
            ).status_code
            == 200
        )
    proc.stop()
    restarted = UvicornProcess(data_dir)
    try:
        with httpx.Client(base_url=restarted.url, timeout=60) as client:
            info = client.get(f"/v1/models/{model_id}", headers=owner).json()
            assert info["score_mode_enabled"] is True
            page = client.get(f"/v1/models/{model_id}/verdicts", headers=owner).json()
            assert [e["message_ids"] for e in page["entries"]] == [["before"]]
            assert decrypt(keys, page["entries"][0]["verdicts"]) == [True]
            r = client.post(
                f"/v1/models/{model_id}/score",
                headers=owner,
                json={"emails": [{"raw": HAM.decode()}]},
            )
            assert decrypt(keys, r.json()["verdicts"]) == [False]
            assert "sealdog_http_requests_total" in client.get("/metrics").text
    finally:
        restarted.stop()
