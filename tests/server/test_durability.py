"""Durability: `kill -9` of a real `sealdog server run` (2 workers, SQLite) in the middle of
uploads, inbox scoring and concurrent `sealdog server token create` runs. Afterwards every
acknowledged model (201/200) and every acknowledged verdict (202) is there, every printed
token works, no process of the old server is left, the restart's sweep leaves no orphan
file, and no request ever got a 500."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import threading
import time
from collections.abc import Callable

import httpx
from server_testkit import (
    HAM,
    SPAM,
    Keys,
    UvicornProcess,
    bearer,
    cli_token,
    descendants,
    seal,
    token_command,
    wait_gone,
)

ACTIVITY_SECONDS = 2.5


class Ledger:
    """What the server acknowledged, and every status it answered."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.models: dict[str, str] = {}  # id -> sha256 of the uploaded bytes
        self.verdicts: dict[str, set[str]] = {}  # model id -> acknowledged inbox entries
        self.tokens: list[str] = []
        self.statuses: list[int] = []
        self.server_errors: list[str] = []

    def saw(self, r: httpx.Response) -> None:
        with self.lock:
            self.statuses.append(r.status_code)
            if r.status_code >= 500 and r.status_code != 503:
                self.server_errors.append(f"{r.request.method} {r.request.url}: {r.text[:200]}")


def loop_until(stop: threading.Event, step: Callable[[], None]) -> None:
    while not stop.is_set():
        try:
            step()
        except (httpx.HTTPError, subprocess.SubprocessError, OSError):
            if stop.is_set():
                return
            time.sleep(0.05)


def test_kill_9_during_uploads_scoring_and_token_create_loses_nothing_acknowledged(
    tmp_path, keys: Keys
) -> None:
    data = tmp_path / "data"
    owner = bearer(cli_token(data, "--role", "owner", "--subject", "alice"))
    env = {"SEALDOG_ORPHAN_MIN_AGE_SECONDS": "0"}
    models = [seal(keys, metadata={"n": i}).to_bytes() for i in range(40)]
    ledger = Ledger()
    server = UvicornProcess(data, workers=2, extra_env=env)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            r = client.post("/v1/models", content=models[0], headers=owner)
            assert r.status_code == 201, r.text
            target = r.json()["id"]
            ledger.models[target] = hashlib.sha256(models[0]).hexdigest()
        stop = threading.Event()
        queue = iter(models[1:])
        queue_lock = threading.Lock()

        def upload(client: httpx.Client) -> None:
            with queue_lock:
                blob = next(queue, None)
            if blob is None:
                time.sleep(0.05)
                return
            r = client.post("/v1/models", content=blob, headers=owner)
            ledger.saw(r)
            if r.status_code in (200, 201):
                with ledger.lock:
                    ledger.models[r.json()["id"]] = hashlib.sha256(blob).hexdigest()

        def score(client: httpx.Client) -> None:
            r = client.post(
                f"/v1/models/{target}/score",
                headers=owner,
                json={
                    "emails": [{"raw": SPAM.decode()}, {"raw": HAM.decode()}],
                    "delivery": "inbox",
                },
            )
            ledger.saw(r)
            if r.status_code == 202:
                with ledger.lock:
                    ledger.verdicts.setdefault(target, set()).add(r.json()["inbox_entry"])

        def token() -> None:
            result = subprocess.run(
                token_command(data, "--role", "owner", "--subject", "bob"),
                capture_output=True,
                text=True,
                timeout=60,
            )
            assert "Traceback" not in result.stderr, result.stderr
            if result.returncode == 0:
                with ledger.lock:
                    ledger.tokens.append(result.stdout.strip().splitlines()[-1])

        def with_client(step: Callable[[httpx.Client], None]) -> Callable[[], None]:
            def run() -> None:
                with httpx.Client(base_url=server.url, timeout=30) as client:
                    loop_until(stop, lambda: step(client))

            return run

        threads = [
            threading.Thread(target=with_client(upload)),
            threading.Thread(target=with_client(upload)),
            threading.Thread(target=with_client(score)),
            threading.Thread(target=with_client(score)),
            threading.Thread(target=lambda: loop_until(stop, token)),
        ]
        for t in threads:
            t.start()
        time.sleep(ACTIVITY_SECONDS)
        everything = descendants(server.proc.pid)
        os.kill(server.proc.pid, signal.SIGKILL)  # mid-flight
        server.proc.wait()
        time.sleep(0.5)
        stop.set()
        for t in threads:
            t.join(timeout=90)
        assert wait_gone(everything) == [], "processes of the killed server are left"
    finally:
        server.stop()

    assert ledger.server_errors == []
    assert len(ledger.models) > 1 and ledger.verdicts.get(target), "too little was acknowledged"
    restarted = UvicornProcess(data, workers=2, extra_env=env)
    try:
        with httpx.Client(base_url=restarted.url, timeout=30) as client:
            assert client.get("/readyz").status_code == 200  # every row has its blob
            for model_id, digest in ledger.models.items():
                r = client.get(f"/v1/models/{model_id}/sealed", headers=owner)
                assert r.status_code == 200, (model_id, r.text)
                assert hashlib.sha256(r.content).hexdigest() == digest
            r = client.get(f"/v1/models/{target}/verdicts?limit=500", headers=owner)
            stored = {e["cursor"] for e in r.json()["entries"]}
            assert ledger.verdicts[target] <= stored
            for token in ledger.tokens:
                assert client.get("/v1/models", headers=bearer(token)).status_code == 200
            rows = {m["id"] for m in client.get("/v1/models", headers=owner).json()["models"]}
        files = {p.name for p in (data / "models").iterdir()}
        assert files == {f"{m}.sealed" for m in rows}, "orphan or missing files after the sweep"
    finally:
        restarted.stop()
    print(
        f"acknowledged before kill -9: {len(ledger.models)} models, "
        f"{len(ledger.verdicts[target])} inbox entries, {len(ledger.tokens)} tokens; "
        f"statuses {sorted(set(ledger.statuses))}"
    )
