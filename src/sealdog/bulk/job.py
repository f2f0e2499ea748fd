"""A bulk scoring run on Ray: archives in, a resumable verdict archive out.

The driver (this process) validates the sealed model as a server would at upload, opens
the output archive (`archive`: same model, one run at a time), and reads the ids already
scored. Ray then runs one reader task per PATH (`reading`: deterministic order, blocks of
raw messages, already-scored ids left out) feeding a pool of scoring actors, one per CPU,
each loading the model once (`scorer`: the server's code). The driver collects the scored
blocks and writes them as Parquet parts every `flush_seconds`, and on any exit, including
Ctrl-C: what was scored is kept, and a re-run scores only the rest.

Without an address Ray starts on this machine with `num_cpus` CPUs (default: all); with
``auto`` or ``ray://host:port`` it joins that cluster and uses all its CPUs. The model
travels to the workers through Ray's object store once; workers need no shared disk.
"""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sealdog.bulk.archive import ArchiveManifest, ArchiveRow, ArchiveWriter, done_ids
from sealdog.bulk.reading import DEFAULT_BLOCK_MESSAGES, read_blocks
from sealdog.bulk.scorer import load_for_bulk, score_block
from sealdog.crypto.paillier import EncryptedVerdicts
from sealdog.errors import SealdogError
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES

log = logging.getLogger("sealdog.bulk")

# Row kinds in a reader block (one row per message).
_SCORE, _SKIPPED, _DONE = 0, 1, 2


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
    """What a run did: `scored` new verdicts, `already_done` skipped as scored before."""

    scored: int = 0
    already_done: int = 0
    skipped: int = 0
    skip_reasons: Counter[str] = field(default_factory=Counter)
    parts: int = 0
    workers: int = 0
    seconds: float = 0.0
    warmup_seconds: float = 0.0
    """Until the first scored block came back: worker start-up and model loading."""
    warmup_scored: int = 0

    @property
    def emails_per_second(self) -> float:
        """Over the whole run, start-up included."""
        return self.scored / self.seconds if self.seconds > 0 else 0.0

    @property
    def steady_emails_per_second(self) -> float:
        """After the first block: the rate a long run converges to (start-up amortised)."""
        span = self.seconds - self.warmup_seconds
        return (self.scored - self.warmup_scored) / span if span > 0 else 0.0


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
            cpus = options.num_cpus or os.cpu_count() or 1
            ray.init(num_cpus=cpus, include_dashboard=False, **common)
        else:
            ray.init(address=options.address, **common)
    from ray.data import DataContext

    context = DataContext.get_current()
    context.enable_progress_bars = False
    context.print_on_execution_start = False
    logging.getLogger("ray.data").setLevel(logging.WARNING)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return max(1, min(cpus, options.num_cpus or cpus))


def _reader_blocks(path: str, done_ref: Any, max_bytes: int, block_messages: int) -> Iterator[Any]:
    """A Ray read task: one PATH as pyarrow tables of (kind, id, raw, reason) rows."""
    import pyarrow as pa
    import ray

    done = ray.get(done_ref[0])
    for block in read_blocks(path, done=done, max_bytes=max_bytes, block_messages=block_messages):
        n_score, n_skip = len(block.ids), len(block.skipped_ids)
        yield pa.table(
            {
                "kind": [_SCORE] * n_score + [_SKIPPED] * n_skip + [_DONE] * block.already_done,
                "id": block.ids + block.skipped_ids + [""] * block.already_done,
                "raw": block.raws + [None] * (n_skip + block.already_done),
                "reason": [None] * n_score + block.skipped_reasons + [None] * block.already_done,
            },
            schema=pa.schema(
                [
                    ("kind", pa.int8()),
                    ("id", pa.string()),
                    ("raw", pa.binary()),
                    ("reason", pa.string()),
                ]
            ),
        )


class _ScoringActor:
    """A Ray actor of the scoring pool: the model loaded once, one block per call."""

    def __init__(self, model_ref: list[Any], insecure: bool, max_email_bytes: int) -> None:
        import ray

        _, self.model = load_for_bulk(ray.get(model_ref[0]), insecure=insecure)
        self.max_email_bytes = max_email_bytes

    def __call__(self, table: Any) -> dict[str, list[Any]]:
        rows = table.to_pydict()
        kinds, ids, raws, reasons = rows["kind"], rows["id"], rows["raw"], rows["reason"]
        to_score = [i for i, k in enumerate(kinds) if k == _SCORE]
        result = score_block(
            self.model,
            [ids[i] for i in to_score],
            [raws[i] for i in to_score],
            max_email_bytes=self.max_email_bytes,
        )
        verdicts = None
        if result.verdicts is not None:  # the compact binary frame, not the JSON form
            import json

            verdicts = EncryptedVerdicts.from_json(json.loads(result.verdicts)).to_bytes()
        skipped = [i for i, k in enumerate(kinds) if k == _SKIPPED]
        return {
            "ids": [result.ids],
            "verdicts": [verdicts],
            "skipped_ids": [[ids[i] for i in skipped] + result.skipped_ids],
            "skipped_reasons": [[reasons[i] for i in skipped] + result.skipped_reasons],
            "done": [sum(1 for k in kinds if k == _DONE)],
        }


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
        summary.workers = _start_ray(ray, options)
        started = time.perf_counter()
        pending: list[ArchiveRow] = []
        last_flush = started

        def flush() -> None:
            nonlocal last_flush
            if writer.write(pending) is not None:
                summary.parts += 1
            pending.clear()
            last_flush = time.perf_counter()

        try:
            for table in _scored_tables(ray, model_bytes, done, options, summary.workers):
                for row in table.to_pylist():
                    if row["ids"] or row["skipped_ids"]:  # a block of already-scored mail: none
                        pending.append(
                            ArchiveRow(
                                tuple(row["ids"]),
                                row["verdicts"],
                                tuple(row["skipped_ids"]),
                                tuple(row["skipped_reasons"]),
                            )
                        )
                    summary.scored += len(row["ids"])
                    summary.skipped += len(row["skipped_ids"])
                    summary.skip_reasons.update(r.split(":", 1)[0] for r in row["skipped_reasons"])
                    summary.already_done += row["done"]
                    if progress is not None:
                        progress(len(row["ids"]) + len(row["skipped_ids"]) + row["done"])
                if not summary.warmup_seconds:
                    summary.warmup_seconds = time.perf_counter() - started
                    summary.warmup_scored = summary.scored
                if time.perf_counter() - last_flush >= options.flush_seconds:
                    flush()
        finally:
            flush()  # whatever was scored is kept, also on Ctrl-C or a failed reader
            summary.seconds = time.perf_counter() - started
    return summary


def _mail_datasource(paths: tuple[str, ...], done_ref: list[Any], options: BulkOptions) -> Any:
    """A Ray datasource with one read task per PATH; each yielded block stays one block, so
    the scoring pool gets work in `block_messages` pieces from the first message on."""
    from ray.data import Datasource, ReadTask
    from ray.data.block import BlockMetadata

    max_bytes, block = options.max_email_bytes, options.block_messages

    def task(path: str) -> Any:
        return ReadTask(
            lambda: _reader_blocks(path, done_ref, max_bytes, block),
            BlockMetadata(num_rows=None, size_bytes=None, input_files=(path,), exec_stats=None),
        )

    class MailDatasource(Datasource):  # type: ignore[misc]
        def estimate_inmemory_data_size(self) -> int | None:
            return None

        def get_read_tasks(self, parallelism: int, **_: Any) -> list[Any]:
            return [task(path) for path in paths]

    return MailDatasource()


def _scored_tables(
    ray: Any, model_bytes: bytes, done: set[str], options: BulkOptions, workers: int
) -> Iterator[Any]:
    from ray.data import ActorPoolStrategy, read_datasource

    done_ref = [ray.put(frozenset(done))]
    model_ref = [ray.put(model_bytes)]
    messages = read_datasource(
        _mail_datasource(options.paths, done_ref, options),
        ray_remote_args={"num_cpus": 0},  # reading is cheap next to scoring: no CPU reserved
        # One task per PATH, and its blocks as they are: left to itself Ray splits blocks
        # to reach ~200 tasks, which would make 5-message work units.
        override_num_blocks=len(options.paths),
    )
    scored = messages.map_batches(
        _ScoringActor,
        batch_size=None,  # one reader block = one call
        batch_format="pyarrow",
        compute=ActorPoolStrategy(size=workers),
        num_cpus=1,
        fn_constructor_kwargs={
            "model_ref": model_ref,
            "insecure": options.insecure,
            "max_email_bytes": options.max_email_bytes,
        },
    )
    yield from scored.iter_batches(batch_size=None, batch_format="pyarrow")
