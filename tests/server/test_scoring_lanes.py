"""Scoring lanes: a short job is never held hostage by a long one, and long jobs still finish.

The attack (a long job occupying the only scoring process) is run against the one-lane
engine, where it holds the short job back, and against the two-lane engine, where it does
not. Jobs are `probe` calls of a chosen length, so the timings do not depend on the load of
the machine beyond process scheduling.
"""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

import pytest
from server_testkit import wait_gone

from sealdog.protocol import Mode
from sealdog.server.kinds.base import EmailBatch, InputBatch, ScoreJob, ScoringOptions
from sealdog.server.scoring import EngineLimits, Lane, ScoringEngine, ScoringTimeoutError
from sealdog.server.settings import ServerSettings

MIB = 1024 * 1024
LONG = 2.0  # seconds a "heavy" probe runs


def make_engine(heavy: int, **limits: float) -> ScoringEngine:
    eng = ScoringEngine(
        1,
        EngineLimits(address_space_bytes=1024 * MIB, **limits),  # type: ignore[arg-type]
        heavy_processes=heavy,
    )
    eng.start()
    return eng


@pytest.fixture
def laned():
    eng = make_engine(1, job_timeout_seconds=30)
    yield eng
    pids = eng.pids()
    eng.shutdown()
    assert wait_gone(pids) == [], "shutdown must stop every process of every lane"


async def short_job_while_long_runs(eng: ScoringEngine) -> tuple[float, int]:
    """Seconds a short job took while a long heavy one held a process, and its pid."""
    long = asyncio.ensure_future(eng.run("probe", LONG, lane=Lane.HEAVY))
    await asyncio.sleep(0.3)  # the long job has its process
    started = time.monotonic()
    pid = await eng.run("probe", 0.0)
    took = time.monotonic() - started
    await long
    return took, pid


def test_one_lane_holds_the_short_job_hostage() -> None:
    """The weak variant: one lane, the short job waits for the long one to end."""
    eng = make_engine(0)
    try:
        took, _ = asyncio.run(short_job_while_long_runs(eng))
    finally:
        eng.shutdown()
    assert took > LONG - 0.5, took


def test_a_short_job_is_served_while_a_heavy_one_runs(laned: ScoringEngine) -> None:
    took, pid = asyncio.run(short_job_while_long_runs(laned))
    assert took < 1.0, took
    assert pid in laned.pids(Lane.NORMAL)


def test_heavy_jobs_finish_in_order_under_a_stream_of_normal_jobs(laned: ScoringEngine) -> None:
    """No starvation: with the normal lane kept busy the whole time, every heavy job
    finishes, first in first out, each waiting only for the heavy jobs ahead of it."""
    heavy_seconds = 0.4

    async def scenario() -> tuple[list[int], list[float], int]:
        stop = asyncio.Event()
        normal_done = 0

        async def normal_client() -> None:
            nonlocal normal_done
            while not stop.is_set():
                await laned.run("probe", 0.02)
                normal_done += 1

        clients = [asyncio.ensure_future(normal_client()) for _ in range(3)]
        await asyncio.sleep(0.2)
        order: list[int] = []
        finished: list[float] = []
        started = time.monotonic()

        async def heavy(i: int) -> None:
            await laned.run("probe", heavy_seconds, lane=Lane.HEAVY)
            order.append(i)
            finished.append(time.monotonic() - started)

        await asyncio.gather(*(heavy(i) for i in range(4)))
        stop.set()
        await asyncio.gather(*clients)
        return order, finished, normal_done

    order, finished, normal_done = asyncio.run(scenario())
    assert order == [0, 1, 2, 3]
    # the i-th heavy job ends after (i + 1) heavy jobs, plus at most one borrowed normal job
    for i, at in enumerate(finished):
        assert at < (i + 1) * heavy_seconds + 1.0, (i, at)
    assert normal_done > 10  # the normal lane kept working meanwhile


def test_a_normal_job_borrows_an_idle_heavy_process_only(laned: ScoringEngine) -> None:
    """Normal lane busy, heavy lane idle: the normal job takes the heavy process. Heavy
    lane busy with a heavy job waiting: a freed heavy process goes to that heavy job."""
    (normal_pid,) = laned.pids(Lane.NORMAL)
    (heavy_pid,) = laned.pids(Lane.HEAVY)

    async def borrow() -> int:
        busy = asyncio.ensure_future(laned.run("probe", 1.0))
        await asyncio.sleep(0.3)
        pid: int = await laned.run("probe", 0.0)
        await busy
        return pid

    assert asyncio.run(borrow()) == heavy_pid

    async def no_overtaking() -> list[str]:
        done: list[str] = []

        async def job(tag: str, seconds: float, lane: Lane) -> None:
            await laned.run("probe", seconds, lane=lane)
            done.append(tag)

        first = asyncio.ensure_future(job("heavy-1", 0.6, Lane.HEAVY))
        busy = asyncio.ensure_future(job("normal-busy", 1.5, Lane.NORMAL))
        await asyncio.sleep(0.2)
        second = asyncio.ensure_future(job("heavy-2", 0.3, Lane.HEAVY))
        await asyncio.sleep(0.1)
        late = asyncio.ensure_future(job("normal-late", 0.0, Lane.NORMAL))
        await asyncio.gather(first, busy, second, late)
        return done

    done = asyncio.run(no_overtaking())
    # heavy-2 got the heavy process when heavy-1 ended; normal-late waited for a free
    # process (the normal one), it did not take heavy-2's place
    assert done.index("heavy-2") < done.index("normal-late"), done
    assert laned.pids(Lane.NORMAL) == [normal_pid] and laned.pids(Lane.HEAVY) == [heavy_pid]


def nice_of(pid: int) -> int:
    return os.getpriority(os.PRIO_PROCESS, pid)


def test_heavy_processes_run_at_lower_priority_with_the_same_limits(laned) -> None:
    own = nice_of(os.getpid())
    (normal_pid,) = laned.pids(Lane.NORMAL)
    (heavy_pid,) = laned.pids(Lane.HEAVY)
    assert nice_of(normal_pid) == own
    assert nice_of(heavy_pid) == min(19, own + 10)
    for pid in (normal_pid, heavy_pid):
        limits = Path(f"/proc/{pid}/limits").read_text()
        line = next(x for x in limits.splitlines() if x.startswith("Max address space"))
        assert line.split()[3] == str(1024 * MIB), line


def test_an_overrunning_heavy_job_is_replaced_in_the_heavy_lane() -> None:
    eng = make_engine(1, job_timeout_seconds=0.5)
    try:
        (heavy_pid,) = eng.pids(Lane.HEAVY)
        (normal_pid,) = eng.pids(Lane.NORMAL)
        with pytest.raises(ScoringTimeoutError):
            asyncio.run(eng.run("probe", 30.0, lane=Lane.HEAVY))
        assert wait_gone([heavy_pid]) == []
        deadline = time.monotonic() + 30
        while len(eng.pids(Lane.HEAVY)) != 1 and time.monotonic() < deadline:
            time.sleep(0.05)
        (fresh,) = eng.pids(Lane.HEAVY)
        assert fresh != heavy_pid and eng.pids(Lane.NORMAL) == [normal_pid]
        assert asyncio.run(eng.run("probe", 0.0, lane=Lane.HEAVY)) == fresh  # once ready:
        assert nice_of(fresh) == min(19, nice_of(os.getpid()) + 10)
        assert eng.restarts == 1
    finally:
        eng.shutdown()


def email_job(*sizes: int) -> ScoreJob:
    batch = EmailBatch(tuple(b"x" * n for n in sizes), max_email_bytes=MIB)
    return ScoreJob("m", "d", "linear", "/nowhere", batch, ScoringOptions(Mode.SCORE))


def test_jobs_are_routed_by_their_raw_bytes() -> None:
    eng = ScoringEngine(1, EngineLimits(heavy_job_bytes=64 * 1024), heavy_processes=1)
    assert eng.lane_for(email_job(8 * 1024)) is Lane.NORMAL
    assert eng.lane_for(email_job(64 * 1024)) is Lane.NORMAL  # at the threshold
    assert eng.lane_for(email_job(64 * 1024 + 1)) is Lane.HEAVY
    assert eng.lane_for(email_job(*[1024] * 65)) is Lane.HEAVY  # many small ones add up
    rows = ScoreJob(
        "m", "d", "xor", "/nowhere", InputBatch(((0, 1), (1, 1))), ScoringOptions(Mode.SCORE)
    )
    assert eng.lane_for(rows) is Lane.NORMAL
    one_lane = ScoringEngine(1, EngineLimits(heavy_job_bytes=64 * 1024))
    assert one_lane.lane_for(email_job(MIB)) is Lane.NORMAL


def test_validation_runs_in_the_heavy_lane(laned: ScoringEngine) -> None:
    """An upload's validation waits for the heavy process even when the normal one is idle."""

    async def scenario() -> float:
        long = asyncio.ensure_future(laned.run("probe", 1.5, lane=Lane.HEAVY))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        with pytest.raises(FileNotFoundError):
            await laned.validate(Path("/nonexistent/model.sealed"), demo_mode=True)
        took = time.monotonic() - started
        await long
        return took

    assert asyncio.run(scenario()) > 1.0


def test_the_heavy_lane_defaults_to_the_size_of_the_normal_one() -> None:
    """Batches of ordinary mail are heavy too: by default they keep as many processes as
    before the lanes existed; 0 turns the heavy lane off."""
    settings = ServerSettings(scoring_processes=3)
    assert settings.effective_heavy_scoring_processes() == 3
    assert ServerSettings(heavy_scoring_processes=0).effective_heavy_scoring_processes() == 0
    assert "SEALDOG_HEAVY_SCORING_PROCESSES" not in settings.to_environment()
    assert settings.heavy_job_bytes == 64 * 1024
    assert settings.heavy_lane_nice == 10
