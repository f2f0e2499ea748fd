"""Sealed-model blobs: the store protocol every backend keeps, and the filesystem store.

An upload is streamed into a temp file (fsync'd), validated there, and only then committed
under its model id; a failure at any step unlinks the temp file, so a half-finished upload
leaves nothing behind. A reader sees a complete blob or none. Scoring processes read a
local file, so every store hands out a complete local path (`local_path`); the filesystem
store's files are that path already (a shared volume makes them visible to every
replica), the database store (`db_blobs`) materialises one per replica.

Orphans (a committed blob whose row never came: a crash between the two) are removed only
by `sweep_orphans`, which `sealdog server run` calls before any worker starts, and only when
they are older than a threshold, so another replica's upload in flight is never touched.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Protocol

_MODEL_ID = re.compile(r"^[0-9a-f]{32}$")
TEMP_PREFIX = ".upload-"
TEMP_SUFFIX = ".tmp"


class BlobTooLargeError(Exception):
    """The upload exceeded the configured size cap."""


def check_model_id(model_id: str) -> str:
    if not _MODEL_ID.match(model_id):
        raise ValueError(f"not a model id: {model_id!r}")
    return model_id


class StagedBlob:
    """A fully written, fsync'd temp file waiting to be committed under a model id (by the
    store's `publish`) or discarded."""

    def __init__(self, path: Path, size: int, publish: Callable[[Path, str], None]) -> None:
        self.path = path
        self.size = size
        self._publish = publish
        self._done = False

    def commit(self, model_id: str) -> None:
        self._publish(self.path, check_model_id(model_id))
        self._done = True

    def discard(self) -> None:
        if not self._done:
            self.path.unlink(missing_ok=True)
            self._done = True


class BlobStore(Protocol):
    """What the server needs of a blob store (filesystem or database)."""

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob: ...

    def exists(self, model_id: str) -> bool: ...

    def local_path(self, model_id: str) -> Path | None:
        """A complete local copy of the blob, or None when the store has no such blob."""
        ...

    def delete(self, model_id: str) -> None: ...

    def missing(self, model_ids: Iterable[str]) -> list[str]: ...

    def sweep_orphans(self, known: set[str], *, older_than: float) -> int:
        """Remove temp files and blobs whose id is not in `known`, last written before
        `older_than` (a time.time() value); returns how many."""
        ...


async def spool(
    directory: Path, chunks: AsyncIterator[bytes], *, max_bytes: int
) -> tuple[Path, int]:
    """Stream `chunks` into an fsync'd temp file in `directory`; BlobTooLargeError past
    `max_bytes` (the temp file is gone then)."""
    fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=directory)
    path = Path(name)
    size = 0
    try:
        with os.fdopen(fd, "wb") as handle:
            async for chunk in chunks:
                size += len(chunk)
                if size > max_bytes:
                    raise BlobTooLargeError(size)
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return path, size


def mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return float("inf")


def remove_stale_temp_files(directory: Path, *, older_than: float) -> int:
    removed = 0
    for path in directory.glob(f"{TEMP_PREFIX}*{TEMP_SUFFIX}"):
        if mtime(path) < older_than:
            path.unlink(missing_ok=True)
            removed += 1
    return removed


def fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class FileBlobStore:
    """One file per model under `root` (`<id>.sealed`); temp files start with a dot."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, model_id: str) -> Path:
        return self.root / f"{check_model_id(model_id)}.sealed"

    def exists(self, model_id: str) -> bool:
        return self.path_for(model_id).is_file()

    def local_path(self, model_id: str) -> Path | None:
        path = self.path_for(model_id)
        return path if path.is_file() else None

    def read(self, model_id: str) -> bytes:
        return self.path_for(model_id).read_bytes()

    def delete(self, model_id: str) -> None:
        self.path_for(model_id).unlink(missing_ok=True)
        self.fsync_dir()

    def fsync_dir(self) -> None:
        fsync_dir(self.root)

    def remove_stale_temp_files(self, *, older_than: float) -> int:
        """Delete temp files left by a crash mid-upload, last modified before `older_than`
        (a time.time() value); returns how many."""
        return remove_stale_temp_files(self.root, older_than=older_than)

    def sweep_orphans(self, known: set[str], *, older_than: float) -> int:
        removed = self.remove_stale_temp_files(older_than=older_than)
        for path in self.root.glob("*.sealed"):
            if path.stem not in known and mtime(path) < older_than:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def missing(self, model_ids: Iterable[str]) -> list[str]:
        """The ids among `model_ids` whose blob file is not there."""
        return [model_id for model_id in model_ids if not self.exists(model_id)]

    def _publish(self, staged: Path, model_id: str) -> None:
        os.replace(staged, self.path_for(model_id))
        self.fsync_dir()

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob:
        """Stream `chunks` into a temp file; raise BlobTooLargeError past `max_bytes`."""
        path, size = await spool(self.root, chunks, max_bytes=max_bytes)
        return StagedBlob(path, size, self._publish)
