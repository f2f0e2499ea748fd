"""The supervised scoring pool: a job that overruns, runs out of memory or loses its client
has its one process killed and replaced; the other slots keep working; no process outlives
the engine (or its parent, killed with -9)."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from server_testkit import descendants, process_alive, wait_gone

from sealdog.server.scoring import (
    ClientGoneError,
    EngineLimits,
    ScoringEngine,
    ScoringTimeoutError,
    ScoringUnavailableError,
    unless_disconnected,
)
from sealdog.server.scoring_worker import ModelCache

alive = process_alive

MIB = 1024 * 1024


@pytest.fixture
def engine():
    eng = ScoringEngine(2, EngineLimits(job_timeout_seconds=1.5, address_space_bytes=1024 * MIB))
    eng.start()
    yield eng
    pids = eng.pids()
    eng.shutdown()
    assert wait_gone(pids) == [], "shutdown must stop every scoring process"


async def wait_for_pids(eng: ScoringEngine, n: int, timeout: float = 30.0) -> list[int]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if len(eng.pids()) == n:
            return eng.pids()
        await asyncio.sleep(0.05)
    raise AssertionError(f"expected {n} scoring processes, have {eng.pids()}")


def test_overrunning_job_is_killed_and_replaced_while_the_other_slot_works(engine) -> None:
    before = engine.pids()

    async def scenario() -> tuple[object, object, float]:
        started = time.monotonic()
        stuck = asyncio.ensure_future(engine.run("probe", 60.0))
        short = asyncio.ensure_future(engine.run("probe", 0.2))
        results = await asyncio.gather(stuck, short, return_exceptions=True)
        return results[0], results[1], time.monotonic() - started

    stuck, short, elapsed = asyncio.run(scenario())
    assert isinstance(stuck, ScoringTimeoutError) and stuck.reason == "timeout"
    assert "SEALDOG_SCORING_TIMEOUT_SECONDS" in str(stuck)
    assert isinstance(short, int) and short in before  # the other slot answered normally
    assert elapsed < 5
    killed = [p for p in before if p != short]
    assert wait_gone(killed) == killed[:0]
    after = asyncio.run(wait_for_pids(engine, 2))
    assert short in after and not set(killed) & set(after)
    assert engine.restarts == 1
    assert asyncio.run(engine.run("ping")) in after  # the replacement serves jobs


def test_every_restart_is_reported_with_its_reason() -> None:
    """The server counts restarts in /metrics (sealdog_scoring_process_restarts_total)."""
    heard: list[str] = []
    eng = ScoringEngine(1, EngineLimits(job_timeout_seconds=0.5), on_restart=heard.append)
    eng.start()
    try:
        with pytest.raises(ScoringTimeoutError):
            asyncio.run(eng.run("probe", 60.0))
        assert heard == ["timeout"] and eng.restarts == 1
    finally:
        pids = eng.pids()
        eng.shutdown()
        wait_gone(pids)


def test_the_restart_counter_is_in_the_metrics() -> None:
    from sealdog.server.metrics import ServerMetrics

    metrics = ServerMetrics()
    assert 'sealdog_scoring_process_restarts_total{reason="died"} 0.0' in (
        metrics.exposition()[0].decode()
    )
    metrics.scoring_restarts.labels("timeout").inc()
    text = metrics.exposition()[0].decode()
    assert 'sealdog_scoring_process_restarts_total{reason="timeout"} 1.0' in text


def test_cancelled_job_kills_its_process(engine) -> None:
    async def scenario() -> int:
        task = asyncio.ensure_future(engine.run("probe", 60.0))
        await asyncio.sleep(0.3)
        busy = set(engine.pids())
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        return len(busy)

    before = engine.pids()
    started = time.monotonic()
    asyncio.run(scenario())
    gone = [p for p in before if not alive(p)] or [
        p for p in before if p not in asyncio.run(wait_for_pids(engine, 2))
    ]
    assert len(gone) == 1
    assert wait_gone(gone) == []
    assert time.monotonic() - started < 5
    assert len(asyncio.run(wait_for_pids(engine, 2))) == 2


def test_client_gone_cancels_the_job() -> None:
    eng = ScoringEngine(1, EngineLimits(job_timeout_seconds=60))
    eng.start()
    try:
        (pid,) = eng.pids()
        polls = 0

        async def gone() -> bool:
            nonlocal polls
            polls += 1
            return polls >= 2

        started = time.monotonic()
        with pytest.raises(ClientGoneError):
            asyncio.run(unless_disconnected(gone, eng.run("probe", 60.0), poll_seconds=0.1))
        assert time.monotonic() - started < 3
        assert wait_gone([pid]) == []
        new = asyncio.run(wait_for_pids(eng, 1))
        assert new != [pid]

        async def here() -> bool:
            return False

        assert (
            asyncio.run(unless_disconnected(here, eng.run("probe", 0.3), poll_seconds=0.1)) in new
        )
    finally:
        eng.shutdown()


def test_address_space_limit_applies_and_an_overrun_is_a_503_not_a_hang(engine) -> None:
    for pid in engine.pids():
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3:5] == [str(1024 * MIB), str(1024 * MIB)], line
    with pytest.raises(ScoringUnavailableError) as info:
        asyncio.run(engine.run("probe", 0.0, 2048 * MIB))
    assert info.value.reason == "memory"
    assert "SEALDOG_SCORING_ADDRESS_SPACE_BYTES" in str(info.value)
    asyncio.run(wait_for_pids(engine, 2))
    assert asyncio.run(engine.run("probe", 0.0, 64 * MIB)) in engine.pids()


def test_job_errors_keep_the_process() -> None:
    eng = ScoringEngine(1)
    eng.start()
    try:
        (pid,) = eng.pids()
        with pytest.raises(FileNotFoundError):
            asyncio.run(eng.run("validate_file", "/nonexistent/model.sealed", True))
        assert eng.pids() == [pid] and eng.restarts == 0
    finally:
        eng.shutdown()


def test_scoring_processes_die_with_their_parent(tmp_path) -> None:
    """kill -9 of the process that owns the engine takes its scoring processes too
    (PR_SET_PDEATHSIG), with no multiprocessing resource tracker left behind."""
    script = tmp_path / "owner.py"
    script.write_text(
        "import sys, time\n"
        "from sealdog.server.scoring import ScoringEngine\n"
        "eng = ScoringEngine(2)\n"
        "eng.start()\n"
        "print(' '.join(map(str, eng.pids())), flush=True)\n"
        "time.sleep(600)\n"
    )
    proc = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, text=True, env=dict(os.environ)
    )
    try:
        assert proc.stdout is not None
        pids = [int(p) for p in proc.stdout.readline().split()]
        assert len(pids) == 2 and all(alive(p) for p in pids)
        assert descendants(proc.pid) == sorted(pids)  # nothing else (no resource tracker)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        assert wait_gone(pids) == []
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_model_cache_is_bounded_by_bytes_and_keeps_the_current_model() -> None:
    cache = ModelCache(100)
    a, b, c = object(), object(), object()
    cache.put(("a", "1"), a, 60)  # type: ignore[arg-type]
    cache.put(("b", "1"), b, 30)  # type: ignore[arg-type]
    assert len(cache) == 2 and cache.total_bytes == 90
    assert cache.get(("a", "1")) is a  # a is now the most recent
    cache.put(("c", "1"), c, 50)  # type: ignore[arg-type]
    assert cache.get(("b", "1")) is None and cache.get(("a", "1")) is None
    assert cache.get(("c", "1")) is c and cache.total_bytes == 50
    huge = object()
    cache.put(("h", "1"), huge, 500)  # type: ignore[arg-type]
    assert len(cache) == 1 and cache.get(("h", "1")) is huge


def test_validation_has_its_own_limit(engine) -> None:
    with pytest.raises(ScoringTimeoutError) as info:
        asyncio.run(engine.run("probe", 60.0, timeout=0.3))
    assert "SEALDOG_VALIDATION_TIMEOUT_SECONDS" in str(info.value)
    asyncio.run(wait_for_pids(engine, 2))
