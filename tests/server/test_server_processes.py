"""`sealdog server run` as a real process tree: killing a uvicorn worker or the server
with -9 leaves no scoring process (or anything else) behind, a clean stop stops everything
it started, and a job over the wall-clock limit gets a 503 while /healthz stays fast."""

from __future__ import annotations

import os
import signal
import statistics
import threading
import time

import httpx
import pytest
from server_testkit import (
    SPAM,
    HealthProbe,
    Keys,
    UvicornProcess,
    bearer,
    children,
    cli_token,
    descendants,
    scoring_pids,
    seal,
    wait_gone,
)

# scoring processes per uvicorn worker: --scoring-processes 1 plus the default heavy lane
PER_WORKER = 2


def wait_until(predicate, timeout: float = 120.0) -> None:  # a deadline, not a speed check
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.1)
    raise AssertionError("condition not met in time")


def test_kill_9_of_a_worker_then_of_the_server_leaves_no_process(tmp_path) -> None:
    server = UvicornProcess(tmp_path / "data", workers=2)
    try:
        root = server.proc.pid
        wait_until(lambda: len(scoring_pids(root)) == 2 * PER_WORKER)
        uvicorn_workers = [p for p in children(root) if scoring_pids(p)]
        assert len(uvicorn_workers) == 2
        victim = uvicorn_workers[0]
        its_scoring = scoring_pids(victim)
        assert len(its_scoring) == PER_WORKER
        os.kill(victim, signal.SIGKILL)
        assert wait_gone([victim, *its_scoring]) == []
        # uvicorn replaces the worker (with its own scoring process); the server still answers
        wait_until(lambda: len(scoring_pids(root)) == 2 * PER_WORKER)
        server.wait_ready()
        everything = descendants(root)
        os.kill(root, signal.SIGKILL)
        server.proc.wait()
        assert wait_gone(everything) == [], "orphans after kill -9 of the server"
    finally:
        server.stop()


@pytest.mark.parametrize("workers", [1, 2])
def test_a_clean_stop_stops_everything_it_started(tmp_path, workers: int) -> None:
    server = UvicornProcess(tmp_path / "data", workers=workers)
    root = server.proc.pid
    wait_until(lambda: len(scoring_pids(root)) == workers * PER_WORKER)
    everything = descendants(root)
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=30) is not None
    server.stop()
    assert wait_gone(everything) == []


def test_overrunning_job_is_a_503_and_healthz_stays_fast(tmp_path, keys: Keys) -> None:
    data = tmp_path / "data"
    owner = bearer(cli_token(data, "--role", "owner", "--subject", "alice"))
    server = UvicornProcess(data)
    try:
        r = httpx.post(server.url + "/v1/models", content=seal(keys).to_bytes(), headers=owner)
        assert r.status_code == 201, r.text
        model_id = r.json()["id"]
    finally:
        server.stop()
    # 0.1 ms per job: loading the model alone takes longer, so every job overruns
    server = UvicornProcess(data, extra_env={"SEALDOG_SCORING_TIMEOUT_SECONDS": "0.0001"})
    try:
        root = server.proc.pid
        first = scoring_pids(root)
        answers: list[httpx.Response] = []
        stop = threading.Event()

        def attack() -> None:
            with httpx.Client(base_url=server.url, timeout=30) as client:
                while not stop.is_set():
                    answers.append(
                        client.post(
                            f"/v1/models/{model_id}/score",
                            headers=owner,
                            json={"emails": [{"raw": SPAM.decode()}], "delivery": "inbox"},
                        )
                    )

        thread = threading.Thread(target=attack)
        with HealthProbe(server.url) as probe:
            thread.start()
            time.sleep(6)
            stop.set()
            thread.join(timeout=60)
        latencies = probe.latencies
        assert answers, "no scoring request finished"
        assert {r.status_code for r in answers} == {503}, {r.status_code for r in answers}
        body = answers[0].json()
        assert body["reason"] == "timeout" and "SEALDOG_SCORING_TIMEOUT_SECONDS" in body["detail"]
        assert answers[0].headers["content-type"] == "application/problem+json"
        assert "Retry-After" not in answers[0].headers
        # processes were killed and replaced
        wait_until(lambda: len(scoring_pids(root)) == PER_WORKER)
        assert not set(first) & set(scoring_pids(root))
        # nothing was stored: the inbox is empty
        r = httpx.get(f"{server.url}/v1/models/{model_id}/verdicts", headers=owner)
        assert r.status_code == 200 and r.json()["entries"] == []
        print(
            f"healthz while jobs were killed: n={len(latencies)} "
            f"median={statistics.median(latencies) * 1000:.1f} ms "
            f"max={max(latencies) * 1000:.1f} ms; kills={len(answers)}"
        )
        assert max(latencies) < 1.0
        assert statistics.median(latencies) < 0.1
    finally:
        server.stop()
