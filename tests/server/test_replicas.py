"""Stateless replicas (issue 16): two live `sealdog server run` processes on one PostgreSQL
with the blob store in the database share nothing else. A model uploaded on A scores on B;
the inbox reads the same on either; concurrent writers on both keep the cursor guarantee (a
reader polling with `after=<cursor>` never skips an entry); behind nginx, killing one
replica mid-run loses no acknowledged verdict. Marked `postgres` (CI starts one with
.ci/postgres.sh); the nginx test skips visibly without the nginx binary."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from pg_testkit import pg_schema_url
from server_testkit import HAM, SPAM, Keys, bearer, decrypt
from sqlalchemy import delete

from sealdog.client.local_nginx import LocalNginx, find_nginx
from sealdog.client.local_server import LocalServer
from sealdog.server.storage.database import make_engine
from sealdog.server.storage.tables import BlobChunkRow, BlobRow

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_url() -> Iterator[str]:
    yield from pg_schema_url()


def _replica(folder: Path, url: str, admin_token: str | None = None) -> LocalServer:
    return LocalServer(
        folder,
        insecure_demo=True,
        scoring_processes=1,
        database_url=url,
        blob_store="postgres",
        admin_token=admin_token,
        extra_env={"SEALDOG_LOG_LEVEL": "warning"},
    )


def _owner(base: str, admin_token: str) -> dict[str, str]:
    r = httpx.post(
        base + "/v1/tokens",
        json={"role": "owner", "subject": "alice"},
        headers=bearer(admin_token),
        timeout=30,
    )
    assert r.status_code == 201, r.text
    return bearer(r.json()["token"])


def _upload(base: str, owner: dict[str, str], data: bytes) -> str:
    r = httpx.post(
        base + "/v1/models",
        content=data,
        headers={**owner, "Content-Type": "application/octet-stream"},
        timeout=120,
    )
    assert r.status_code == 201, r.text
    return str(r.json()["id"])


def _submit(base: str, owner: dict[str, str], model_id: str, tag: str) -> httpx.Response:
    emails = [{"raw": SPAM.decode(), "message_id": f"{tag}/s"}]
    emails.append({"raw": HAM.decode(), "message_id": f"{tag}/h"})
    return httpx.post(
        f"{base}/v1/models/{model_id}/score",
        json={"emails": emails, "delivery": "inbox"},
        headers=owner,
        timeout=120,
    )


def _stored_any(base: str, owner: dict[str, str], model_id: str) -> bool:
    """One cheap request: has anything reached the model's inbox yet?"""
    r = httpx.get(
        f"{base}/v1/models/{model_id}/verdicts",
        params={"after": "0", "limit": 1},
        headers=owner,
        timeout=30,
    )
    assert r.status_code == 200, r.text
    return bool(r.json()["entries"])


def _inbox(base: str, owner: dict[str, str], model_id: str, after: str = "0") -> list[dict]:
    entries: list[dict] = []
    while True:
        r = httpx.get(
            f"{base}/v1/models/{model_id}/verdicts",
            params={"after": after, "limit": 50},
            headers=owner,
            timeout=30,
        )
        assert r.status_code == 200, r.text
        page = r.json()
        entries += page["entries"]
        if not page["entries"]:
            return entries
        after = page["next_cursor"]


def test_replicas_share_models_and_inbox_and_keep_cursor_order(
    tmp_path: Path, pg_url: str, keys: Keys, sealed_bytes: bytes
) -> None:
    with (
        _replica(tmp_path / "a", pg_url) as a,
        _replica(tmp_path / "b", pg_url, a.admin_token) as b,
    ):
        owner = _owner(a.url, a.admin_token)
        model_id = _upload(a.url, owner, sealed_bytes)
        assert not (tmp_path / "b" / "blob-cache" / f"{model_id}.sealed").exists()

        # Upload on A, score on B: B fetches the blob from PostgreSQL.
        r = httpx.post(
            f"{b.url}/v1/models/{model_id}/score",
            json={"emails": [{"raw": SPAM.decode()}, {"raw": HAM.decode()}]},
            headers=owner,
            timeout=120,
        )
        assert r.status_code == 200, r.text
        assert decrypt(keys, r.json()["verdicts"]) == [True, False]
        assert (tmp_path / "b" / "blob-cache" / f"{model_id}.sealed").read_bytes() == sealed_bytes
        got = httpx.get(f"{b.url}/v1/models/{model_id}/sealed", headers=owner, timeout=60)
        assert got.status_code == 200 and got.content == sealed_bytes

        # Concurrent writers on both replicas, a reader polling A with its cursor.
        acked: dict[str, str] = {}  # first message id of an entry -> its cursor
        failures: list[str] = []
        writing = threading.Event()
        writing.set()

        def writer(base: str, name: str) -> None:
            for i in range(6):
                resp = _submit(base, owner, model_id, f"{name}-{i}")
                if resp.status_code != 202:
                    failures.append(f"{name}-{i}: {resp.status_code} {resp.text}")
                else:
                    acked[f"{name}-{i}/s"] = resp.json()["inbox_entry"]

        seen: list[dict] = []

        def poller() -> None:
            cursor = "0"
            while writing.is_set():
                new = _inbox(a.url, owner, model_id, cursor)
                seen.extend(new)
                if new:
                    cursor = new[-1]["cursor"]
                time.sleep(0.02)
            seen.extend(_inbox(a.url, owner, model_id, cursor))

        writers = [
            threading.Thread(target=writer, args=(server.url, f"{tag}{k}"))
            for server, tag in ((a, "a"), (b, "b"))
            for k in range(2)
        ]
        reader = threading.Thread(target=poller)
        reader.start()
        for t in writers:
            t.start()
        for t in writers:
            t.join()
        writing.clear()
        reader.join()

        assert failures == []
        assert len(acked) == 24
        cursors = [int(e["cursor"]) for e in seen]
        assert cursors == sorted(set(cursors))  # each entry once, in cursor order
        by_first = {e["message_ids"][0]: e["cursor"] for e in seen}
        assert by_first == acked  # the poller skipped nothing any replica acknowledged
        via_b = _inbox(b.url, owner, model_id)
        assert [(e["cursor"], e["message_ids"]) for e in via_b] == [
            (e["cursor"], e["message_ids"]) for e in seen
        ]
        assert decrypt(keys, via_b[0]["verdicts"]) == [True, False]

        # A blob gone from PostgreSQL: both replicas' /readyz say so.
        engine = make_engine(pg_url)
        try:
            with engine.begin() as conn:
                conn.execute(delete(BlobChunkRow).where(BlobChunkRow.model_id == model_id))
                conn.execute(delete(BlobRow).where(BlobRow.model_id == model_id))
        finally:
            engine.dispose()
        for server in (a, b):
            ready = httpx.get(server.url + "/readyz", timeout=30)
            assert ready.status_code == 503 and ready.json()["missing_models"] == [model_id]

        # Delete on B: gone for A too.
        assert httpx.delete(f"{b.url}/v1/models/{model_id}", headers=owner).status_code == 204
        assert httpx.get(f"{a.url}/v1/models/{model_id}", headers=owner).status_code == 404
        assert httpx.get(a.url + "/readyz", timeout=30).status_code == 200


@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (apt-get install nginx)")
def test_behind_nginx_a_killed_replica_loses_no_acknowledged_verdict(
    tmp_path: Path, pg_url: str, keys: Keys, sealed_bytes: bytes
) -> None:
    with (
        _replica(tmp_path / "a", pg_url) as a,
        _replica(tmp_path / "b", pg_url, a.admin_token) as b,
        LocalNginx(tmp_path / "nginx", [a.url, b.url]) as lb,
    ):
        assert httpx.get(lb.url + "/readyz", timeout=30).json()["status"] == "ready"
        owner = _owner(lb.url, a.admin_token)
        model_id = _upload(lb.url, owner, sealed_bytes)
        acked: list[str] = []
        refused: list[str] = []
        sent: list[str] = []

        def writer(name: str) -> None:
            for i in range(12):
                tag = f"{name}{i}"
                sent.append(f"{tag}/s")
                resp = _submit(lb.url, owner, model_id, tag)
                if resp.status_code == 202:
                    acked.append(f"{tag}/s")
                else:
                    refused.append(f"{tag}: {resp.status_code}")

        writers = [threading.Thread(target=writer, args=(f"w{k}-",)) for k in range(3)]
        for t in writers:
            t.start()
        while len(acked) < 8:
            time.sleep(0.01)
        a.kill()  # mid-run, requests in flight: uvicorn and its scoring process at once
        for t in writers:
            t.join()
        assert not a.running and b.running
        stored = [e["message_ids"][0] for e in _inbox(lb.url, owner, model_id)]
        lost = set(acked) - set(stored)
        assert lost == set()  # no acknowledged verdict lost
        assert set(stored) <= set(sent)
        # nginx retries a refused or reset connection on B, so (almost) every request is
        # acknowledged; one in flight on A when it died may also have been stored there.
        assert len(acked) >= 36 - 3, refused
        assert httpx.get(lb.url + "/readyz", timeout=30).status_code == 200


@pytest.mark.skipif(find_nginx() is None, reason="nginx is not installed (apt-get install nginx)")
def test_sealdog_score_through_nginx_finishes_when_a_replica_dies_storing_each_email_once(
    tmp_path: Path, pg_url: str, sealed_bytes: bytes
) -> None:
    """`sealdog score` (a real CLI process) through nginx while replica A is SIGKILLed: the
    batches A dropped are retried through nginx on B with their Idempotency-Key, so the run
    finishes (exit 0, every e-mail acknowledged) and the inbox holds each e-mail exactly
    once: none lost, none stored twice (a batch A stored before its answer was lost is not
    stored again by the retry)."""
    mail = tmp_path / "mail"
    mail.mkdir()
    total = 4000
    for i in range(total):
        body = SPAM if i % 2 else HAM
        (mail / f"{i:05}.eml").write_bytes(body.replace(b"\n\n", f"\n\nnote {i}\n".encode(), 1))
    with (
        _replica(tmp_path / "a", pg_url) as a,
        _replica(tmp_path / "b", pg_url, a.admin_token) as b,
        LocalNginx(tmp_path / "nginx", [a.url, b.url]) as lb,
    ):
        owner = _owner(lb.url, a.admin_token)
        model_id = _upload(lb.url, owner, sealed_bytes)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("SEALDOG_")},
            "SEALDOG_URL": lb.url,
            "SEALDOG_TOKEN": owner["Authorization"].removeprefix("Bearer "),
        }
        # two batches in flight (not the default window) keep the run long enough to kill
        # A mid-run on a loaded machine, while batches still reach both replicas
        cli = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealdog.cli",
                "score",
                str(mail),
                "-m",
                model_id,
                "--concurrency",
                "2",
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        try:
            deadline = time.monotonic() + 120
            while not _stored_any(b.url, owner, model_id) and time.monotonic() < deadline:
                time.sleep(0.02)
            killed_mid_run = cli.poll() is None
            a.kill()  # requests in flight on A: uvicorn and its scoring process at once
            _out, err = cli.communicate(timeout=600)
        finally:
            if cli.poll() is None:
                cli.kill()
        assert killed_mid_run, "the run ended before the replica was killed"
        assert cli.returncode == 0, err.decode(errors="replace")[-2000:]
        assert f"{total:,} e-mails scored" in err.decode()
        stored = [m for e in _inbox(lb.url, owner, model_id) for m in e["message_ids"]]
        names = sorted(str(p) for p in mail.iterdir())
        assert len(stored) == total  # none twice
        assert sorted(stored) == names  # none lost
