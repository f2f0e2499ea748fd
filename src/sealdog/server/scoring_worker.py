"""Code that runs inside the scoring processes: validate uploads, load and score models.

Every sealed-model file is parsed once (`open_container`, digest checked) and handed to the
kind its manifest names (`kinds.registry`). Every exception that leaves these functions is a
`ModelRejectedError` or a `ScoringInputError` with a message safe to show the caller;
unexpected errors become a generic 500 in the parent (their details go to the log).

Run as `python -m sealdog.server.scoring_worker` it is one slot of the parent's
`ScoringEngine`: it asks the kernel to kill it when the parent dies (PR_SET_PDEATHSIG, so
no scoring process outlives its uvicorn worker), caps its own address space (RLIMIT_AS),
and serves length-prefixed pickled calls on a private copy of stdout (fd 1 itself is
pointed at stderr, so a stray print cannot corrupt the channel). The channel is private to
the parent, which is the only party that can write to it.
"""

from __future__ import annotations

import argparse
import ctypes
import logging
import os
import pickle
import resource
import signal
import struct
import sys
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from sealdog.errors import SealdogError
from sealdog.server.kinds.base import (
    LoadedModel,
    ModelRejectedError,
    ScoreJob,
    ScoringInputError,
    ValidatedModel,
    open_container,
)
from sealdog.server.kinds.registry import kind_for

log = logging.getLogger("sealdog.server")

DEFAULT_CACHE_BYTES = 256 * 1024 * 1024
PR_SET_PDEATHSIG = 1
FRAME_HEADER = struct.Struct(">Q")


class ModelCache:
    """Loaded models by (path, digest), bounded by the sum of their file sizes.

    A loaded model takes about 1.2x its file in memory (measured: 59 MB RSS for a 48 MiB
    file), so the file size is the cost. The model just used is always kept, even when it
    alone is over the budget: scoring it needs it in memory anyway."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._entries: OrderedDict[tuple[str, str], tuple[LoadedModel, int]] = OrderedDict()

    @property
    def total_bytes(self) -> int:
        return sum(size for _, size in self._entries.values())

    def __len__(self) -> int:
        return len(self._entries)

    def get(self, key: tuple[str, str]) -> LoadedModel | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        self._entries.move_to_end(key)
        return entry[0]

    def put(self, key: tuple[str, str], model: LoadedModel, size: int) -> None:
        self._entries[key] = (model, size)
        self._entries.move_to_end(key)
        while len(self._entries) > 1 and self.total_bytes > self.max_bytes:
            self._entries.popitem(last=False)


_cache = ModelCache(DEFAULT_CACHE_BYTES)


def initialise(cache_bytes: int = DEFAULT_CACHE_BYTES) -> None:
    """Worker start-up: ignore Ctrl-C (the parent stops its slots); size the model cache.
    Importing this module imported every kind already."""
    global _cache
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _cache = ModelCache(cache_bytes)


def ping() -> int:
    return os.getpid()


def probe(seconds: float = 0.0, allocate_bytes: int = 0) -> int:
    """A job of a chosen length and memory footprint: how the operator (and the tests) check
    that the wall-clock and address-space limits do kill a scoring process."""
    block = bytearray(allocate_bytes) if allocate_bytes else None
    time.sleep(seconds)
    del block
    return os.getpid()


def validate_file(path: str, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
    data = Path(path).read_bytes()
    try:
        model = open_container(data)
        kind = kind_for(model.kind)
        return kind.validate(model, demo_mode=demo_mode, allow_research=allow_research)
    except ModelRejectedError:
        raise
    except SealdogError as exc:
        raise ModelRejectedError(str(exc)) from None
    except RecursionError:
        raise ModelRejectedError("malformed sealed model (JSON nested too deeply)") from None
    except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as exc:
        raise ModelRejectedError(f"malformed sealed model ({type(exc).__name__}: {exc})") from None


def _loaded(job: ScoreJob) -> LoadedModel:
    key = (job.path, job.digest)
    loaded = _cache.get(key)
    if loaded is not None:
        return loaded
    try:
        data = Path(job.path).read_bytes()
    except FileNotFoundError:
        raise ModelRejectedError("the sealed-model file is missing from the blob store") from None
    model = open_container(data)
    if model.digest != job.digest or model.kind != job.kind:
        raise ModelRejectedError("stored sealed model does not match its registered digest")
    loaded = kind_for(model.kind).load(model)
    _cache.put(key, loaded, len(data))
    return loaded


def score_job(job: ScoreJob) -> dict[str, Any]:
    model = _loaded(job)
    try:
        return model.score(job.batch, job.options)
    except ScoringInputError:
        raise
    except SealdogError as exc:
        log.info("scoring refused: %s", exc)
        raise ScoringInputError(str(exc)) from None


CALLS: dict[str, Callable[..., Any]] = {
    "ping": ping,
    "probe": probe,
    "validate_file": validate_file,
    "score_job": score_job,
}


# --- the slot process ----------------------------------------------------------------------


def die_with_parent(parent_pid: int) -> None:
    """SIGKILL this process when its parent dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:  # the parent died before the prctl took effect
        os._exit(1)


def limit_address_space(max_bytes: int) -> None:
    """Cap this process's virtual memory: past it, allocations fail (MemoryError) instead of
    the machine swapping or the OOM killer picking a victim. 0 means no cap."""
    if max_bytes > 0:
        resource.setrlimit(resource.RLIMIT_AS, (max_bytes, max_bytes))


def lower_priority(increment: int) -> None:
    """Raise this process's nice value by `increment` (heavy lane): on a busy machine the
    kernel then runs the normal lane's short jobs first. 0 leaves it unchanged; a process
    may always lower its own priority, never raise it back."""
    if increment > 0:
        os.nice(increment)


def read_frame(stream: IO[bytes]) -> bytes | None:
    header = stream.read(FRAME_HEADER.size)
    if len(header) < FRAME_HEADER.size:
        return None
    (size,) = FRAME_HEADER.unpack(header)
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(FRAME_HEADER.pack(len(body)) + body)
    stream.flush()


def _answer(name: str, args: tuple[Any, ...]) -> bytes:
    try:
        result = CALLS[name](*args)
        return pickle.dumps(("ok", result), protocol=pickle.HIGHEST_PROTOCOL)
    except MemoryError:
        return pickle.dumps(("memory", None))
    except Exception as exc:  # every error goes back to the parent, which decides
        try:
            return pickle.dumps(("error", exc), protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:
            return pickle.dumps(("error", RuntimeError(f"{type(exc).__name__}: {exc}")))


def serve(requests: IO[bytes], answers: IO[bytes]) -> None:
    """Answer calls until the parent closes the channel."""
    write_frame(answers, pickle.dumps(("ok", os.getpid())))  # ready
    while True:
        frame = read_frame(requests)
        if frame is None:
            return
        name, args = pickle.loads(frame)  # from the parent only: a private pipe
        write_frame(answers, _answer(name, args))


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="One Sealdog scoring process (internal).")
    parser.add_argument("--parent-pid", type=int, required=True)
    parser.add_argument("--address-space-bytes", type=int, default=0)
    parser.add_argument("--cache-bytes", type=int, default=DEFAULT_CACHE_BYTES)
    parser.add_argument("--nice", type=int, default=0)
    args = parser.parse_args(argv)
    die_with_parent(args.parent_pid)
    limit_address_space(args.address_space_bytes)
    lower_priority(args.nice)
    initialise(args.cache_bytes)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    answers = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)
    sys.stdout = sys.stderr
    serve(sys.stdin.buffer, answers)


if __name__ == "__main__":
    main()
