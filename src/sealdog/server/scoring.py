"""The scoring engine: CPU-bound work (validation, featurising, encrypted dot products) in
a pool of worker processes, so the event loop keeps answering /healthz during big batches.

The parent process sends only small jobs (a file path, a digest, the batch); each
worker loads a sealed model once from the blob store and keeps it cached by digest.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from concurrent.futures import Executor, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from sealdog.server import scoring_worker
from sealdog.server.kinds.base import ScoreJob, ValidatedModel
from sealdog.server.problems import Problem


class ScoringEngine:
    """A lazily started process pool running `sealdog.server.scoring_worker` functions."""

    def __init__(self, processes: int) -> None:
        if processes < 1:
            raise ValueError("need at least one scoring process")
        self.processes = processes
        self._pool: ProcessPoolExecutor | None = None
        self._lock = threading.Lock()

    def _executor(self) -> Executor:
        with self._lock:
            if self._pool is None:
                # spawn: no fork of a process that holds threads, sockets and DB connections.
                self._pool = ProcessPoolExecutor(
                    max_workers=self.processes,
                    mp_context=multiprocessing.get_context("spawn"),
                    initializer=scoring_worker.initialise,
                )
            return self._pool

    def _reset(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=False, cancel_futures=True)

    def warm_up(self) -> None:
        """Start every worker process now rather than on the first request."""
        executor = self._executor()
        futures = [executor.submit(scoring_worker.ping) for _ in range(self.processes)]
        for future in futures:
            future.result(timeout=120)

    async def _run(self, fn: Any, *args: Any) -> Any:
        loop = asyncio.get_running_loop()
        try:
            return await loop.run_in_executor(self._executor(), fn, *args)
        except BrokenProcessPool as exc:
            self._reset()
            raise Problem(
                503,
                "a scoring process died (out of memory?); retry the request",
                headers={"Retry-After": "1"},
            ) from exc

    async def validate(
        self, path: Path, *, demo_mode: bool, allow_research: bool = False
    ) -> ValidatedModel:
        """Parse and fully validate a staged sealed-model file (raises ModelRejectedError)."""
        result: ValidatedModel = await self._run(
            scoring_worker.validate_file, str(path), demo_mode, allow_research
        )
        return result

    async def score(self, job: ScoreJob) -> dict[str, Any]:
        """Encrypted verdicts/outputs for the job's batch (raises ScoringInputError)."""
        result: dict[str, Any] = await self._run(scoring_worker.score_job, job)
        return result

    def shutdown(self) -> None:
        with self._lock:
            pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)
