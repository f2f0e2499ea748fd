"""Sealed-model blobs in the database (chunked bytea), for replicas that share nothing
but PostgreSQL.

Layout: one `sealed_blobs` row per model (size, chunk size, when it was written) and its
bytes in `sealed_blob_chunks` rows of CHUNK_BYTES each. Both are inserted in one
transaction, so another replica sees a complete blob or none.

Streaming invariant: a blob never sits whole in one Python bytes object on this side. An
upload is spooled to a temp file (as in the filesystem store), validated there, and
written chunk by chunk; a reader copies it chunk by chunk (server-side cursor) into a local
file under `cache_dir` (temp name, then rename), which the scoring processes read (their
one whole copy) and the download endpoint streams. Local copies are a cache: blobs are
immutable and model ids never reused, so a copy is valid as long as the row exists; the
scoring process checks the digest on load anyway.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import AsyncIterator, Iterable
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine, delete, func, insert, select

from sealdog.server.storage.blobs import (
    TEMP_PREFIX,
    TEMP_SUFFIX,
    StagedBlob,
    check_model_id,
    mtime,
    remove_stale_temp_files,
    spool,
)
from sealdog.server.storage.tables import BlobChunkRow, BlobRow

CHUNK_BYTES = 1024 * 1024


class BlobCorruptError(Exception):
    """A stored blob's chunks do not add up to its recorded size."""


class DatabaseBlobStore:
    """Blobs in `sealed_blobs`/`sealed_blob_chunks`; local copies under `cache_dir`."""

    def __init__(self, engine: Engine, cache_dir: Path, *, chunk_bytes: int = CHUNK_BYTES) -> None:
        if chunk_bytes <= 0:
            raise ValueError("chunk_bytes must be positive")
        self.engine = engine
        self.cache_dir = cache_dir
        self.chunk_bytes = chunk_bytes
        self.cache_dir.mkdir(parents=True, exist_ok=True)

    def _cached(self, model_id: str) -> Path:
        return self.cache_dir / f"{check_model_id(model_id)}.sealed"

    async def stage(self, chunks: AsyncIterator[bytes], *, max_bytes: int) -> StagedBlob:
        path, size = await spool(self.cache_dir, chunks, max_bytes=max_bytes)
        return StagedBlob(path, size, self._publish)

    def _publish(self, staged: Path, model_id: str) -> None:
        """Write the staged file into the database in one transaction, then keep it as
        this replica's local copy."""
        size = staged.stat().st_size
        with self.engine.begin() as conn, staged.open("rb") as handle:
            conn.execute(
                insert(BlobRow),
                {
                    "model_id": model_id,
                    "size_bytes": size,
                    "chunk_bytes": self.chunk_bytes,
                    "created_at": datetime.now(UTC),
                },
            )
            seq = 0
            while chunk := handle.read(self.chunk_bytes):
                conn.execute(
                    insert(BlobChunkRow), {"model_id": model_id, "seq": seq, "data": chunk}
                )
                seq += 1
        os.replace(staged, self._cached(model_id))

    def exists(self, model_id: str) -> bool:
        with self.engine.connect() as conn:
            found = conn.execute(
                select(BlobRow.model_id).where(BlobRow.model_id == check_model_id(model_id))
            ).first()
        return found is not None

    def local_path(self, model_id: str) -> Path | None:
        """This replica's copy, fetched from the database the first time (chunk by chunk);
        None when the database has no such blob."""
        cached = self._cached(model_id)
        if cached.is_file():
            return cached
        fd, name = tempfile.mkstemp(prefix=TEMP_PREFIX, suffix=TEMP_SUFFIX, dir=self.cache_dir)
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as handle, self.engine.connect() as conn:
                size = conn.execute(
                    select(BlobRow.size_bytes).where(BlobRow.model_id == model_id)
                ).scalar_one_or_none()
                if size is None:
                    return None
                rows = conn.execution_options(stream_results=True, yield_per=4).execute(
                    select(BlobChunkRow.data)
                    .where(BlobChunkRow.model_id == model_id)
                    .order_by(BlobChunkRow.seq)
                )
                written = 0
                for (data,) in rows:
                    handle.write(data)
                    written += len(data)
                if written != size:
                    raise BlobCorruptError(
                        f"blob {model_id}: {written} bytes stored, {size} recorded"
                    )
            os.replace(temp, cached)
        finally:
            temp.unlink(missing_ok=True)
        return cached

    def delete(self, model_id: str) -> None:
        with self.engine.begin() as conn:
            conn.execute(delete(BlobChunkRow).where(BlobChunkRow.model_id == model_id))
            conn.execute(delete(BlobRow).where(BlobRow.model_id == check_model_id(model_id)))
        self._cached(model_id).unlink(missing_ok=True)

    def missing(self, model_ids: Iterable[str]) -> list[str]:
        wanted = list(model_ids)
        if not wanted:
            return []
        with self.engine.connect() as conn:
            present = set(conn.scalars(select(BlobRow.model_id)))
        return [model_id for model_id in wanted if model_id not in present]

    def sweep_orphans(self, known: set[str], *, older_than: float) -> int:
        removed = remove_stale_temp_files(self.cache_dir, older_than=older_than)
        cutoff = datetime.fromtimestamp(older_than, UTC)
        with self.engine.begin() as conn:
            rows = conn.execute(select(BlobRow.model_id, BlobRow.created_at)).all()
            for model_id, created_at in rows:
                stamp = created_at if created_at.tzinfo else created_at.replace(tzinfo=UTC)
                if model_id not in known and stamp < cutoff:
                    conn.execute(delete(BlobChunkRow).where(BlobChunkRow.model_id == model_id))
                    conn.execute(delete(BlobRow).where(BlobRow.model_id == model_id))
                    removed += 1
        for path in self.cache_dir.glob("*.sealed"):
            if path.stem not in known and mtime(path) < older_than:
                path.unlink(missing_ok=True)
        return removed

    def total_bytes(self) -> int:
        with self.engine.connect() as conn:
            return int(conn.scalar(select(func.coalesce(func.sum(BlobRow.size_bytes), 0))) or 0)
