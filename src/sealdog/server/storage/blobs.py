"""Sealed-model files on disk, written atomically.

An upload is streamed into a temp file in the blob folder (fsync'd), validated there, and
only then renamed to its final name; a failure at any step unlinks the temp file, so a
half-finished upload leaves nothing behind. Final names are the model ids, so a reader
sees a complete file or none.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator, Iterable
from pathlib import Path

_MODEL_ID = re.compile(r"^[0-9a-f]{32}$")


class BlobTooLargeError(Exception):
    """The upload exceeded the configured size cap."""


class StagedBlob:
    """A fully written, fsync'd temp file waiting to be committed or discarded."""

    def __init__(self, store: BlobStore, path: Path, size: int) -> None:
        self.store = store
        self.path = path
        self.size = size
        self._done = False

    def commit(self, model_id: str) -> Path:
        final = self.store.path_for(model_id)
        os.replace(self.path, final)
        self.store.fsync_dir()
        self._done = True
        return final

    def discard(self) -> None:
        if not self._done:
            self.path.unlink(missing_ok=True)
            self._done = True


class BlobStore:
    """One file per model under `root`; temp files start with a dot."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)

    def path_for(self, model_id: str) -> Path:
        if not _MODEL_ID.match(model_id):
            raise ValueError(f"not a model id: {model_id!r}")
        return self.root / f"{model_id}.sealed"

    def exists(self, model_id: str) -> bool:
        return self.path_for(model_id).is_file()

    def read(self, model_id: str) -> bytes:
        return self.path_for(model_id).read_bytes()

    def delete(self, model_id: str) -> None:
        self.path_for(model_id).unlink(missing_ok=True)
        self.fsync_dir()

    def fsync_dir(self) -> None:
        fd = os.open(self.root, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def remove_stale_temp_files(self, *, older_than: float) -> int:
        """Delete temp files left by a crash mid-upload, last modified before `older_than`
        (a time.time() value); returns how many."""
        removed = 0
        for path in self.root.glob(".upload-*.tmp"):
            try:
                stale = path.stat().st_mtime < older_than
            except FileNotFoundError:
                continue
            if stale:
                path.unlink(missing_ok=True)
                removed += 1
        return removed

    def missing(self, model_ids: Iterable[str]) -> list[str]:
        """The ids among `model_ids` whose blob file is not there."""
        return [model_id for model_id in model_ids if not self.exists(model_id)]

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob:
        """Stream `chunks` into a temp file; raise BlobTooLargeError past `max_bytes`."""
        fd, name = tempfile.mkstemp(prefix=".upload-", suffix=".tmp", dir=self.root)
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
        return StagedBlob(self, path, size)
