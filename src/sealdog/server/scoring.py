"""The scoring engine: CPU-bound work (validation, featurising, encrypted dot products) in
a small supervised pool of scoring processes, so the event loop keeps answering /healthz.

One process per slot, each with a private pipe (`scoring_worker.main`). A job owns its slot
until it ends; a job that overruns its wall-clock limit, whose caller went away (the
request task is cancelled), or whose process died (address-space limit, OOM kill) has that
one process SIGKILLed and replaced in the background: the other slots and their jobs are
untouched. Nothing a job does is written anywhere until its answer is back in the parent,
so a killed job leaves no partial state.

Lanes (fairness). A slot's process serves one job at a time, so a job that takes 0.8 s (a
1 MiB hostile e-mail) makes every job queued behind it wait. Slots therefore belong to a
lane. A job is *heavy* when its batch holds more than `heavy_job_bytes` raw bytes (parsing
cost is linear in the bytes after `sealdog.mail.limits` caps them), and upload validation is
always heavy; heavy jobs run only in the heavy lane, whose processes also run at a lower CPU
priority (`heavy_nice`), so on a busy machine the kernel gives the normal lane the CPU first.
Invariants:
- a normal job never waits for a heavy job: it takes an idle normal slot, else an idle
  heavy slot (only when no heavy job is waiting: an idle slot is handed to a waiter the
  moment it is freed), else waits for the first normal slot to be freed;
- no starvation: the heavy lane serves its jobs first in, first out, and a normal job that
  borrows a heavy slot holds it for one job of at most `heavy_job_bytes`; so a heavy job
  waits at most for the heavy jobs ahead of it plus one normal job per heavy slot, each
  bounded by the wall-clock limit;
- every lane has the same wall-clock kill, RLIMIT_AS, parent-death signal and restart (a
  replacement process joins the lane of the one it replaces).
With `heavy_processes=0` there is one lane and every job goes to it (the old behaviour).

Every slot process was forked from the engine's spawner thread and asked the kernel to die
with its parent (PR_SET_PDEATHSIG), so a uvicorn worker killed with -9 leaves no scoring
process behind; `shutdown` stops (and reaps) every process the engine started. No
multiprocessing machinery is used, so no resource-tracker process exists to leak.
"""

from __future__ import annotations

import asyncio
import contextlib
import enum
import logging
import os
import pickle
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable, Coroutine
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sealdog.errors import SealdogError
from sealdog.server.kinds.base import ScoreJob, ValidatedModel
from sealdog.server.scoring_worker import read_frame, write_frame

log = logging.getLogger("sealdog.server")

START_TIMEOUT_SECONDS = 120.0
T = TypeVar("T")


class ScoringUnavailableError(SealdogError):
    """A job could not finish: its process overran, ran out of memory or died (HTTP 503)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


class ScoringTimeoutError(ScoringUnavailableError):
    """The job overran the per-job wall-clock limit; its process was killed and replaced."""


class _SlotDiedError(Exception):
    pass


class Lane(enum.Enum):
    """Which slots may run a job: short ones never queue behind long ones."""

    NORMAL = "normal"
    HEAVY = "heavy"


DEFAULT_HEAVY_JOB_BYTES = 64 * 1024
DEFAULT_HEAVY_NICE = 10


@dataclass(frozen=True)
class EngineLimits:
    """Per-process limits: wall-clock seconds per scoring job and per upload validation,
    address space, model-cache budget; and the lane split: a scoring job over
    `heavy_job_bytes` raw bytes is heavy; heavy-lane processes run at `heavy_nice`."""

    job_timeout_seconds: float = 120.0
    validation_timeout_seconds: float = 600.0
    address_space_bytes: int = 0
    cache_bytes: int = 256 * 1024 * 1024
    heavy_job_bytes: int = DEFAULT_HEAVY_JOB_BYTES
    heavy_nice: int = DEFAULT_HEAVY_NICE


class _Slot:
    """One scoring process and its private pipes; used by one job at a time. Its blocking
    I/O runs in a thread, so the engine works from any event loop (tests run requests and
    the lifespan on different loops)."""

    def __init__(self, proc: subprocess.Popen[bytes], lane: Lane) -> None:
        self.proc = proc
        self.lane = lane

    @property
    def pid(self) -> int:
        return self.proc.pid

    def _read(self) -> Any:
        assert self.proc.stdout is not None
        frame = read_frame(self.proc.stdout)
        if frame is None:
            raise _SlotDiedError()
        return pickle.loads(frame)  # from our own child, over its private pipe

    def ready(self) -> None:
        status, _ = self._read()
        if status != "ok":  # pragma: no cover - the ready frame is always "ok"
            raise _SlotDiedError()

    def call(self, name: str, args: tuple[Any, ...]) -> Any:
        assert self.proc.stdin is not None
        body = pickle.dumps((name, args), protocol=pickle.HIGHEST_PROTOCOL)
        try:
            write_frame(self.proc.stdin, body)
        except (OSError, ValueError) as exc:
            raise _SlotDiedError() from exc
        try:
            status, value = self._read()
        except (OSError, ValueError) as exc:
            raise _SlotDiedError() from exc
        if status == "ok":
            return value
        if status == "memory":
            raise ScoringUnavailableError(
                "the scoring process ran out of memory (address-space limit "
                "SEALDOG_SCORING_ADDRESS_SPACE_BYTES); nothing was stored",
                reason="memory",
            )
        raise value

    def kill(self) -> None:
        """SIGKILL; a thread blocked reading the pipe then sees EOF."""
        with contextlib.suppress(ProcessLookupError):
            self.proc.kill()

    def reap(self) -> None:
        self.kill()
        self.proc.wait()
        for stream in (self.proc.stdin, self.proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()

    def stop(self, grace: float = 2.0) -> None:
        """Close the pipe (the process exits at EOF); SIGKILL after `grace` seconds."""
        if self.proc.stdin is not None:
            with contextlib.suppress(OSError):
                self.proc.stdin.close()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.proc.wait(grace)
        self.reap()


class _IdleSlots:
    """Idle slots, awaitable from any event loop (a waiter is woken on its own loop)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: deque[_Slot] = deque()
        self._waiters: deque[tuple[asyncio.AbstractEventLoop, asyncio.Future[_Slot]]] = deque()

    def put(self, slot: _Slot) -> None:
        with self._lock:
            while self._waiters:
                loop, future = self._waiters.popleft()
                if not future.done() and not loop.is_closed():
                    loop.call_soon_threadsafe(_hand_over, future, slot, self)
                    return
            self._idle.append(slot)

    def try_get(self) -> _Slot | None:
        """An idle slot now, or None (never waits)."""
        with self._lock:
            return self._idle.popleft() if self._idle else None

    async def get(self) -> _Slot:
        loop = asyncio.get_running_loop()
        with self._lock:
            if self._idle:
                return self._idle.popleft()
            future: asyncio.Future[_Slot] = loop.create_future()
            self._waiters.append((loop, future))
        return await future

    def drain(self) -> list[_Slot]:
        with self._lock:
            slots, self._idle = list(self._idle), deque()
            return slots


def _hand_over(future: asyncio.Future[_Slot], slot: _Slot, pool: _IdleSlots) -> None:
    if future.done():  # the waiter was cancelled meanwhile: give the slot to the next one
        pool.put(slot)
    else:
        future.set_result(slot)


class ScoringEngine:
    """A fixed number of killable scoring processes per lane (`start`, `run`, `shutdown`).

    All processes are started from one long-lived thread of the engine's own, because the
    parent-death signal fires when the *thread* that forked a process exits."""

    def __init__(
        self,
        processes: int,
        limits: EngineLimits | None = None,
        *,
        heavy_processes: int = 0,
        on_restart: Callable[[str], None] | None = None,
    ) -> None:
        """`processes` normal-lane and `heavy_processes` heavy-lane slots (0: no heavy
        lane, every job shares the normal one). `on_restart(reason)` hears of every process
        killed and replaced ("timeout", "cancelled", "died", "memory"): the server counts
        them in /metrics."""
        if processes < 1:
            raise ValueError("need at least one scoring process")
        if heavy_processes < 0:
            raise ValueError("heavy_processes must be >= 0")
        self.processes = processes
        self.heavy_processes = heavy_processes
        self.limits = limits or EngineLimits()
        self.restarts = 0
        self._on_restart = on_restart
        self._lanes = {Lane.NORMAL: _IdleSlots(), Lane.HEAVY: _IdleSlots()}
        self._slots: set[_Slot] = set()
        self._slots_lock = threading.Lock()
        self._spawner: ThreadPoolExecutor | None = None
        # a killed job's thread may still be returning when its replacement takes a job
        self._io = ThreadPoolExecutor(
            max_workers=2 * (processes + heavy_processes), thread_name_prefix="sealdog-job"
        )
        self._closed = False

    @property
    def closed(self) -> bool:
        return self._closed

    # --- lifecycle ------------------------------------------------------------------------
    def _launch(self, lane: Lane) -> _Slot:
        """Start one scoring process for `lane`, not waiting for it (runs on the spawner)."""
        nice = self.limits.heavy_nice if lane is Lane.HEAVY else 0
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealdog.server.scoring_worker",
                "--parent-pid",
                str(os.getpid()),
                "--address-space-bytes",
                str(self.limits.address_space_bytes),
                "--cache-bytes",
                str(self.limits.cache_bytes),
                "--nice",
                str(nice),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            close_fds=True,
        )
        slot = _Slot(proc, lane)
        with self._slots_lock:
            self._slots.add(slot)
        return slot

    def _await_ready(self, slot: _Slot) -> _Slot:
        """Wait for the slot's ready frame; a process that fails to start is reaped."""
        try:
            slot.ready()
        except BaseException:
            self._forget(slot)
            slot.reap()
            raise
        return slot

    def _spawn(self, lane: Lane) -> _Slot:
        """Start one scoring process for `lane` and wait until it is ready (on the spawner)."""
        return self._await_ready(self._launch(lane))

    def _forget(self, slot: _Slot) -> None:
        with self._slots_lock:
            self._slots.discard(slot)

    def start(self) -> None:
        """Start every scoring process now (blocking) rather than on the first request; they
        start side by side (each import takes seconds on a loaded machine)."""
        if self._spawner is None:
            self._spawner = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sealdog-spawn")
        lanes = [Lane.NORMAL] * self.processes + [Lane.HEAVY] * self.heavy_processes
        launched = [self._spawner.submit(self._launch, lane).result() for lane in lanes]
        ready = [self._io.submit(self._await_ready, slot) for slot in launched]
        for future in ready:
            slot = future.result(timeout=START_TIMEOUT_SECONDS)
            self._lanes[slot.lane].put(slot)

    def pids(self, lane: Lane | None = None) -> list[int]:
        """Process ids of the live scoring processes, of one lane or all (for tests and
        diagnostics)."""
        with self._slots_lock:
            return sorted(s.pid for s in self._slots if lane is None or s.lane is lane)

    def lane_for(self, job: ScoreJob) -> Lane:
        """HEAVY for a batch over `heavy_job_bytes` raw bytes when a heavy lane exists."""
        if self.heavy_processes and job.cost_bytes > self.limits.heavy_job_bytes:
            return Lane.HEAVY
        return Lane.NORMAL

    def _replacement(self, lane: Lane) -> None:
        """Start a process in place of a killed one (on the spawner), retrying a little."""
        for attempt in range(3):
            if self._closed:
                return
            try:
                fresh = self._spawn(lane)
            except Exception:
                log.exception("could not start a scoring process (attempt %d)", attempt + 1)
                time.sleep(1)
                continue
            if self.closed:
                self._forget(fresh)
                fresh.stop()
                return
            self._lanes[lane].put(fresh)
            return

    def _replace(self, slot: _Slot, reason: str) -> None:
        """Kill `slot`'s process now; start a fresh one in the background."""
        slot.kill()
        self._forget(slot)
        self.restarts += 1
        if self._on_restart is not None:
            self._on_restart(reason)
        if self._spawner is not None and not self._closed:
            self._spawner.submit(slot.reap)
            self._spawner.submit(self._replacement, slot.lane)
        else:
            slot.reap()

    def shutdown(self) -> None:
        """Stop every scoring process this engine started, and wait for them."""
        self._closed = True
        if self._spawner is not None:
            self._spawner.shutdown(wait=True, cancel_futures=False)
        with self._slots_lock:
            slots, self._slots = list(self._slots), set()
        for slot in slots:
            slot.stop()
        for idle in self._lanes.values():
            idle.drain()
        self._io.shutdown(wait=True)

    # --- jobs -----------------------------------------------------------------------------
    async def _slot_for(self, lane: Lane) -> _Slot:
        """A slot for a job of `lane` (the borrowing rule is in the module docstring)."""
        if lane is Lane.HEAVY and self.heavy_processes:
            return await self._lanes[Lane.HEAVY].get()
        slot = self._lanes[Lane.NORMAL].try_get() or self._lanes[Lane.HEAVY].try_get()
        return slot if slot is not None else await self._lanes[Lane.NORMAL].get()

    async def run(
        self, name: str, *args: Any, timeout: float | None = None, lane: Lane = Lane.NORMAL
    ) -> Any:
        """Run `scoring_worker.CALLS[name](*args)` in a scoring process of `lane`
        (wall-clock limit `timeout`, default the per-job limit).

        Raises what the job raised, ScoringTimeoutError past the wall-clock limit,
        ScoringUnavailableError if its process died; on cancellation the job's process is
        killed (no worker time spent for a caller that went away)."""
        if self._spawner is None or self._closed:
            raise RuntimeError("the scoring engine is not running")
        slot = await self._slot_for(lane)
        limit = self.limits.job_timeout_seconds if timeout is None else timeout
        setting = (
            "SEALDOG_SCORING_TIMEOUT_SECONDS"
            if timeout is None
            else "SEALDOG_VALIDATION_TIMEOUT_SECONDS"
        )
        started = time.monotonic()
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._io, slot.call, name, args)
        # a killed job's thread ends with an error nobody awaits: retrieve it, quietly
        job.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            result = await asyncio.wait_for(asyncio.shield(job), limit)
        except TimeoutError:
            self._replace(slot, "timeout")
            log.warning("scoring job %s overran %.1f s; its process was killed", name, limit)
            raise ScoringTimeoutError(
                f"the job ran longer than the server's limit of {limit:g} s per job "
                f"({setting}); its scoring process was stopped and nothing was stored."
                + (" Send fewer or smaller e-mails per request." if timeout is None else ""),
                reason="timeout",
            ) from None
        except asyncio.CancelledError:
            self._replace(slot, "cancelled")
            log.info(
                "scoring job %s cancelled after %.1f s (client gone); process killed",
                name,
                time.monotonic() - started,
            )
            raise
        except _SlotDiedError:
            self._replace(slot, "died")
            raise ScoringUnavailableError(
                "a scoring process died (out of memory?); nothing was stored, retry the request",
                reason="died",
            ) from None
        except ScoringUnavailableError as exc:
            self._replace(slot, exc.reason)  # out of memory: start clean
            raise
        except BaseException:
            self._lanes[slot.lane].put(slot)  # the job's own error: the process is fine
            raise
        self._lanes[slot.lane].put(slot)
        return result

    async def validate(
        self, path: Path, *, demo_mode: bool, allow_research: bool = False
    ) -> ValidatedModel:
        """Parse and fully validate a staged sealed-model file (raises ModelRejectedError);
        always in the heavy lane: validating a large model takes seconds to minutes."""
        result: ValidatedModel = await self.run(
            "validate_file",
            str(path),
            demo_mode,
            allow_research,
            timeout=self.limits.validation_timeout_seconds,
            lane=Lane.HEAVY,
        )
        return result

    async def score(self, job: ScoreJob) -> dict[str, Any]:
        """Encrypted verdicts/outputs for the job's batch (raises ScoringInputError)."""
        result: dict[str, Any] = await self.run("score_job", job, lane=self.lane_for(job))
        return result


DISCONNECT_POLL_SECONDS = 0.25


async def unless_disconnected(
    is_disconnected: Callable[[], Awaitable[bool]],
    work: Coroutine[Any, Any, T],
    *,
    poll_seconds: float = DISCONNECT_POLL_SECONDS,
) -> T:
    """Await `work`, cancelling it (and so killing its scoring process) as soon as the
    client has gone: no scoring time is spent on an answer nobody will read. Raises
    ClientGoneError in that case."""
    task = asyncio.ensure_future(work)
    try:
        while True:
            done, _ = await asyncio.wait({task}, timeout=poll_seconds)
            if done:
                return task.result()
            if await is_disconnected():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise ClientGoneError("the client disconnected; its job was cancelled")
    finally:
        if not task.done():
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


class ClientGoneError(Exception):
    """The request's client disconnected while its job ran; nobody is left to answer."""
