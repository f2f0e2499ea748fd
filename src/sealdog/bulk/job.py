"""A bulk scoring run on Ray: archives in, a resumable verdict archive out.

The driver (this process) validates the sealed model as a server would at upload, opens
the output archive (`archive`: same model, one run at a time), and reads the ids already
scored. Ray then runs a few reader tasks (`readers_for`), each reading its share of the
PATHs one after the other (`reading`: deterministic order, blocks of raw messages,
already-scored ids left out; a Ray generator, so blocks stream), and a pool of scoring
actors, one per CPU, each loading the model once (`scorer`: the server's code; the driver
validated it, the actors only load it). The driver hands each actor at most two blocks at
a time (one scoring, one queued, so an actor never waits for the driver), pulls blocks
from the readers only as the actors need them (bounded memory), collects the scored
blocks and writes them as Parquet parts every `flush_seconds`, and on any exit, including
Ctrl-C: what was scored is kept, and a re-run scores only the rest.

Ray core, not Ray Data: the work is one map over blocks, and Ray Data's streaming executor
(a scheduling loop, operator statistics, an autoscaling actor pool) cost CPU in the driver
that the two scoring workers of a 2-core machine need. The driver blocks in `ray.wait`
(no polling) and only moves object references; blocks go from reader to actor through the
object store.

Without an address Ray starts on this machine with `num_cpus` CPUs (default: all), without
dashboard, usage statistics or metrics export, with its workers at the driver's own
priority, and with an object store sized for the blocks in flight (`LOCAL_RAY_CONFIG`,
`OBJECT_STORE_BYTES`); with ``auto`` or ``ray://host:port`` it joins that cluster and uses
all its CPUs. The model travels to the workers through Ray's object store once; workers
need no shared disk.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter, deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealdog.bulk.archive import ArchiveManifest, ArchiveRow, ArchiveWriter, done_ids
from sealdog.bulk.reading import DEFAULT_BLOCK_MESSAGES, Block, read_paths
from sealdog.bulk.scorer import load_for_bulk, load_validated, score_block
from sealdog.crypto.paillier import EncryptedVerdicts
from sealdog.errors import SealdogError
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES

log = logging.getLogger("sealdog.bulk")

OBJECT_STORE_BYTES = 1 << 30
"""Object store of a Ray started here: blocks in flight are a few MiB each (at most two per
worker plus a few read ahead); Ray's default (30% of RAM) reserves far more than that."""

IN_FLIGHT_PER_WORKER = 2
"""Blocks handed to one actor at a time: one scoring, one waiting in its queue (so it never
waits for the driver); one only, once every reader has finished (see `_scored_blocks`)."""

READ_AHEAD_BLOCKS = 2
"""Blocks a reader may have read that the driver has not taken yet (then it pauses)."""

WORKERS_PER_READER = 8
"""Scoring workers one reader keeps busy: reading and naming an e-mail costs about 0.08
CPU-ms (a folder of .eml files; 0.12 from a .tar.gz), scoring it 3-5 ms."""


def readers_for(workers: int) -> int:
    """Reader tasks for a pool of `workers` actors; each reads its share of the PATHs in turn.

    A reader is a Ray worker process, about 1 s of CPU to start (Python, Ray's core worker,
    the reading modules), taken from the scoring workers' cores while they score: one per
    PATH cost more than the reading itself on a run of 10,000 e-mails in four folders.
    Ray does not reliably hand a finished reader's process the next PATH (the next task's
    lease is requested before the previous one is released), hence one task per share."""
    return max(1, -(-workers // WORKERS_PER_READER))


QUIET_RAY_ENV = {"RAY_USAGE_STATS_ENABLED": "0"}
"""Set (unless already set) before a local Ray starts: no usage-statistics reporter."""

LOCAL_RAY_CONFIG: dict[str, object] = {"enable_metrics_collection": False, "worker_niceness": 0}
"""A local Ray collects no metrics (nothing exports them without the dashboard), and its
workers run at the niceness of the command that started them. Ray's default renices every
worker by +15 so that its raylet and GCS win on a crowded cluster node; on this machine the
workers are the user's job, and at +15 any other process of their scheduling group (even
one niced to 10) takes the cores from them, while the in-process scorer and the server's
scoring processes run at the user's priority. Run `nice -n 10 sealdog bulk score ...` to
have the whole run yield."""


class RayNotInstalledError(SealdogError):
    """Bulk scoring needs the optional Ray extra."""


@dataclass(frozen=True)
class BulkOptions:
    """What to score and how; `address` None starts Ray locally with `num_cpus` CPUs."""

    paths: tuple[str, ...]
    out: Path
    address: str | None = None
    num_cpus: int | None = None
    block_messages: int = DEFAULT_BLOCK_MESSAGES
    max_email_bytes: int = DEFAULT_MAX_EMAIL_BYTES
    insecure: bool = False
    flush_seconds: float = 10.0


@dataclass
class BulkSummary:
    """What a run did: `scored` new verdicts, `already_done` skipped as scored before.

    Times: `seconds` from the start of `run_bulk` (Ray started or joined, archive opened) to
    the last part written; `scoring_seconds` from the first block an actor started to the
    last one it finished (wall clock of the actors' machine), so start-up (Ray, worker
    processes, model loading) is outside it and everything a long run repeats is inside.
    """

    scored: int = 0
    already_done: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    parts: int = 0
    workers: int = 0
    seconds: float = 0.0
    ray_start_seconds: float = 0.0
    """`ray.init` (start or join) within `seconds`."""
    scoring_seconds: float = 0.0
    first_started: float | None = None
    last_finished: float | None = None
    worker_ready: list[float] = field(default_factory=list)
    """Seconds from `run_bulk`'s start until each actor had loaded the model."""
    blocks: list[BlockTiming] = field(default_factory=list)
    worker_cpu: dict[int, tuple[float, float]] = field(default_factory=dict)
    """Per actor process id: (CPU seconds when its model was loaded, at its last block)."""

    @property
    def emails_per_second(self) -> float:
        """Over the whole run, start-up included."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    @property
    def scoring_emails_per_second(self) -> float:
        """From the first block started to the last finished: what a long run converges to."""
        return self.scored / self.scoring_seconds if self.scoring_seconds > 0 else 0.0


@dataclass(frozen=True)
class BlockTiming:
    """One scored block: which actor process, how many e-mails, when (wall clock)."""

    pid: int
    scored: int
    started: float
    finished: float


@dataclass(frozen=True)
class _Scored:
    """One block back from an actor (plain data: it crosses the object store)."""

    ids: list[str]
    verdicts: bytes | None
    skipped_ids: list[str]
    skipped_reasons: list[str]
    done: int
    pid: int
    started: float
    finished: float
    cpu: float
    """CPU seconds the actor's process had used when it finished this block."""


def _ray() -> Any:
    try:
        import ray
    except ImportError:
        raise RayNotInstalledError(
            "bulk scoring runs on Ray, which is not installed: pip install 'sealdog[ray]'"
        ) from None
    return ray


def _start_ray(ray: Any, options: BulkOptions) -> int:
    """Join or start Ray; the number of scoring workers (CPUs) it offers."""
    if not ray.is_initialized():
        common = {"logging_level": logging.WARNING, "log_to_driver": False}
        if options.address is None:
            for name, value in QUIET_RAY_ENV.items():
                os.environ.setdefault(name, value)
            cpus = options.num_cpus or os.cpu_count() or 1
            ray.init(
                num_cpus=cpus,
                include_dashboard=False,
                object_store_memory=OBJECT_STORE_BYTES,
                _system_config=LOCAL_RAY_CONFIG,
                **common,
            )
        else:
            ray.init(address=options.address, **common)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(cpus, options.num_cpus or cpus))


class _ScoringActor:
    """A Ray actor of the scoring pool: the model loaded once, one block per call."""

    def __init__(self, model_bytes: bytes, max_email_bytes: int) -> None:
        self.model = load_validated(model_bytes)  # the driver validated these very bytes
        self.max_email_bytes = max_email_bytes
        self.ready_at = (os.getpid(), time.time(), time.process_time())

    def ready(self) -> tuple[int, float, float]:
        """(process id, wall clock, CPU seconds) when the model was loaded."""
        return self.ready_at

    def score(self, block: Block) -> _Scored:
        started = time.time()
        result = score_block(
            self.model, block.ids, block.raws, max_email_bytes=self.max_email_bytes
        )
        verdicts = None
        if result.verdicts is not None:  # the compact binary frame, not the JSON form
            import json

            verdicts = EncryptedVerdicts.from_json(json.loads(result.verdicts)).to_bytes()
        return _Scored(
            result.ids,
            verdicts,
            block.skipped_ids + result.skipped_ids,
            block.skipped_reasons + result.skipped_reasons,
            block.already_done,
            os.getpid(),
            started,
            time.time(),
            time.process_time(),
        )


def run_bulk(
    model_bytes: bytes,
    options: BulkOptions,
    *,
    progress: Callable[[int], None] | None = None,
) -> BulkSummary:
    """Score every message under `options.paths` into `options.out` (see module doc)."""
    ray = _ray()
    model, _ = load_for_bulk(model_bytes, insecure=options.insecure)
    manifest = ArchiveManifest(model.digest, model.key_fingerprint)
    summary = BulkSummary()
    with ArchiveWriter(options.out, manifest) as writer:
        done = done_ids(options.out)
        started = time.perf_counter()
        wall_started = time.time()
        summary.workers = _start_ray(ray, options)
        summary.ray_start_seconds = time.perf_counter() - started
        pending: list[ArchiveRow] = []
        last_flush = started

        def flush() -> None:
            nonlocal last_flush
            if writer.write(pending) is not None:
                summary.parts += 1
            pending.clear()
            last_flush = time.perf_counter()

        try:
            for block in _scored_blocks(ray, model_bytes, done, options, summary, wall_started):
                if block.ids or block.skipped_ids:  # a block of already-scored mail: none
                    pending.append(
                        ArchiveRow(
                            tuple(block.ids),
                            block.verdicts,
                            tuple(block.skipped_ids),
                            tuple(block.skipped_reasons),
                        )
                    )
                summary.scored += len(block.ids)
                summary.skipped += len(block.skipped_ids)
                summary.skip_reasons.update(r.split(":", 1)[0] for r in block.skipped_reasons)
                summary.already_done += block.done
                summary.blocks.append(
                    BlockTiming(block.pid, len(block.ids), block.started, block.finished)
                )
                at_ready = summary.worker_cpu.get(block.pid, (0.0, 0.0))[0]
                summary.worker_cpu[block.pid] = (at_ready, block.cpu)
                if summary.first_started is None or block.started < summary.first_started:
                    summary.first_started = block.started
                if summary.last_finished is None or block.finished > summary.last_finished:
                    summary.last_finished = block.finished
                if progress is not None:
                    progress(len(block.ids) + len(block.skipped_ids) + block.done)
                if time.perf_counter() - last_flush >= options.flush_seconds:
                    flush()
        finally:
            flush()  # whatever was scored is kept, also on Ctrl-C or a failed reader
            summary.seconds = time.perf_counter() - started
            if summary.first_started is not None and summary.last_finished is not None:
                summary.scoring_seconds = summary.last_finished - summary.first_started
    return summary


def _scored_blocks(
    ray: Any,
    model_bytes: bytes,
    done: set[str],
    options: BulkOptions,
    summary: BulkSummary,
    wall_started: float,
) -> Iterator[_Scored]:
    """Readers -> actor pool -> scored blocks, as they finish (see module doc)."""
    workers = summary.workers
    done_ref = ray.put(frozenset(done))
    model_ref = ray.put(model_bytes)
    # a reader's worker imports `reading` only (not pyarrow, not the scorer), and runs at
    # most READ_AHEAD_BLOCKS ahead of the driver
    reader = ray.remote(num_cpus=0)(read_paths).options(
        _generator_backpressure_num_objects=READ_AHEAD_BLOCKS
    )
    actor_class = ray.remote(num_cpus=1)(_ScoringActor)
    actors = [actor_class.remote(model_ref, options.max_email_bytes) for _ in range(workers)]
    n_readers = min(len(options.paths), readers_for(workers))
    live = [
        reader.remote(
            options.paths[k::n_readers],
            done=done_ref,
            max_bytes=options.max_email_bytes,
            block_messages=options.block_messages,
        )
        for k in range(n_readers)
    ]
    ready_refs = {actor.ready.remote(): actor for actor in actors}
    queued: deque[Any] = deque()  # block refs read, not yet handed to an actor
    load = {actor: 0 for actor in actors}
    in_flight: dict[Any, Any] = {}  # result ref -> actor
    try:
        while live or queued or in_flight:
            # Once the readers are done, blocks go only to idle actors: the last blocks end
            # up spread over the pool instead of queued behind one busy actor.
            capacity = IN_FLIGHT_PER_WORKER if live else 1
            while queued:
                actor = min(load, key=load.__getitem__)  # the least busy actor
                if load[actor] >= capacity:
                    break
                in_flight[actor.score.remote(queued.popleft())] = actor
                load[actor] += 1
            hungry = len(queued) < workers  # pull from readers only as the actors need it
            waitables = [*in_flight, *ready_refs, *(live if hungry else ())]
            ready, _ = ray.wait(waitables, num_returns=1)
            for item in ready:
                if item in ready_refs:
                    del ready_refs[item]
                    pid, wall, cpu = ray.get(item)
                    summary.worker_ready.append(wall - wall_started)
                    summary.worker_cpu[pid] = (cpu, summary.worker_cpu.get(pid, (cpu, cpu))[1])
                elif item in in_flight:
                    load[in_flight.pop(item)] -= 1
                    yield ray.get(item)
                else:
                    try:
                        queued.append(next(item))
                    except StopIteration:
                        live.remove(item)
    finally:
        for actor in actors:
            ray.kill(actor)
        for gen in live:  # a reader still running (the run failed or was interrupted)
            try:
                ray.cancel(gen, force=True)
            except Exception:  # already finished or gone: nothing to stop
                log.debug("reader already stopped", exc_info=True)
