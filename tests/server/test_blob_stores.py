"""Blob stores: the filesystem store and the database store (SQLite here, and marked
`postgres` on a real PostgreSQL server) keep the same contract: a blob is visible complete
or not at all, a refused upload leaves nothing, orphans go only past the age threshold, and
the database store never holds a whole blob in memory."""

from __future__ import annotations

import time
import tracemalloc
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio
import pytest
from pg_testkit import pg_schema_url
from sqlalchemy import Engine, delete, func, select

from sealdog.server.storage.blobs import BlobStore, BlobTooLargeError, FileBlobStore
from sealdog.server.storage.database import make_engine, migrate
from sealdog.server.storage.db_blobs import BlobCorruptError, DatabaseBlobStore
from sealdog.server.storage.tables import BlobChunkRow, BlobRow


async def _chunks(data: bytes, size: int = 65536) -> AsyncIterator[bytes]:
    for pos in range(0, len(data), size):
        yield data[pos : pos + size]


def _put(store: BlobStore, data: bytes, *, max_bytes: int = 1 << 30) -> str:
    model_id = uuid.uuid4().hex

    async def go() -> None:
        staged = await store.stage(_chunks(data), max_bytes=max_bytes)
        try:
            staged.commit(model_id)
        finally:
            staged.discard()

    anyio.run(go)
    return model_id


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def engine(request, tmp_path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'blobs.db'}"
        eng = make_engine(url)
        migrate(eng)
        yield eng
        eng.dispose()
    else:
        for url in pg_schema_url():
            eng = make_engine(url)
            migrate(eng)
            yield eng
            eng.dispose()


@pytest.fixture(params=["fs", "db"])
def store(request, tmp_path, engine) -> BlobStore:
    if request.param == "fs":
        return FileBlobStore(tmp_path / "models")
    return DatabaseBlobStore(engine, tmp_path / "cache", chunk_bytes=4096)


def _leftovers(store: BlobStore) -> list[str]:
    root = store.root if isinstance(store, FileBlobStore) else store.cache_dir
    return sorted(p.name for p in root.iterdir() if p.name.startswith("."))


def test_round_trip_missing_and_delete(store: BlobStore) -> None:
    data = bytes(range(256)) * 97  # not a multiple of the chunk size
    model_id = _put(store, data)
    other = uuid.uuid4().hex
    assert store.exists(model_id) and not store.exists(other)
    path = store.local_path(model_id)
    assert path is not None and path.read_bytes() == data
    assert store.local_path(other) is None
    assert store.missing([model_id, other]) == [other]
    store.delete(model_id)
    assert not store.exists(model_id) and store.local_path(model_id) is None
    assert store.missing([model_id]) == [model_id]
    assert _leftovers(store) == []


def test_too_large_upload_leaves_nothing(store: BlobStore, engine: Engine) -> None:
    with pytest.raises(BlobTooLargeError):
        _put(store, b"x" * 10_000, max_bytes=9_999)
    assert _leftovers(store) == []
    with engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(BlobRow)) == 0


def test_discarded_stage_leaves_nothing(store: BlobStore) -> None:
    async def go() -> None:
        staged = await store.stage(_chunks(b"abc" * 1000), max_bytes=1 << 20)
        assert staged.path.read_bytes() == b"abc" * 1000
        staged.discard()

    anyio.run(go)
    assert _leftovers(store) == []
    assert store.missing(["a" * 32]) == ["a" * 32]


def test_sweep_spares_known_and_recent_blobs(store: BlobStore) -> None:
    known = _put(store, b"k" * 5000)
    orphan = _put(store, b"o" * 5000)
    # Nothing is older than "an hour ago": a recent orphan may be another replica's upload.
    assert store.sweep_orphans({known}, older_than=time.time() - 3600) == 0
    assert store.exists(orphan)
    assert store.sweep_orphans({known}, older_than=time.time() + 1) == 1
    assert store.exists(known) and not store.exists(orphan)


def test_a_second_replica_reads_the_blob_from_the_database(engine: Engine, tmp_path) -> None:
    a = DatabaseBlobStore(engine, tmp_path / "a", chunk_bytes=1000)
    b = DatabaseBlobStore(engine, tmp_path / "b", chunk_bytes=1000)
    data = bytes(range(251)) * 40  # 10,040 bytes: 11 chunks
    model_id = _put(a, data)
    with engine.connect() as conn:
        chunks = conn.scalars(
            select(func.length(BlobChunkRow.data)).where(BlobChunkRow.model_id == model_id)
        ).all()
    assert sorted(chunks) == [40] + [1000] * 10
    assert not (tmp_path / "b" / f"{model_id}.sealed").exists()
    path = b.local_path(model_id)
    assert path == tmp_path / "b" / f"{model_id}.sealed"
    assert path.read_bytes() == data
    a.delete(model_id)
    assert b.missing([model_id]) == [model_id]


def test_a_lost_chunk_is_refused_and_leaves_no_copy(engine: Engine, tmp_path) -> None:
    a = DatabaseBlobStore(engine, tmp_path / "a", chunk_bytes=1000)
    b = DatabaseBlobStore(engine, tmp_path / "b", chunk_bytes=1000)
    model_id = _put(a, b"z" * 5000)
    with engine.begin() as conn:
        conn.execute(
            delete(BlobChunkRow).where(BlobChunkRow.model_id == model_id, BlobChunkRow.seq == 2)
        )
    with pytest.raises(BlobCorruptError):
        b.local_path(model_id)
    assert list((tmp_path / "b").iterdir()) == []


def test_database_store_streams_and_never_holds_a_whole_blob(engine: Engine, tmp_path) -> None:
    """24 MiB in and out with 1 MiB chunks: Python's peak allocation stays far below the blob
    (the weak variant, one bytes object per blob, would peak at >= 24 MiB)."""
    size = 24 * 1024 * 1024
    source = tmp_path / "big.bin"
    with source.open("wb") as handle:
        for i in range(24):
            handle.write(bytes([i]) * (1024 * 1024))
    a = DatabaseBlobStore(engine, tmp_path / "a")
    b = DatabaseBlobStore(engine, tmp_path / "b")

    async def file_chunks() -> AsyncIterator[bytes]:
        with source.open("rb") as handle:
            while chunk := handle.read(256 * 1024):
                yield chunk

    model_id = uuid.uuid4().hex

    async def upload() -> None:
        staged = await a.stage(file_chunks(), max_bytes=size)
        staged.commit(model_id)

    tracemalloc.start()
    try:
        anyio.run(upload)
        _, peak_write = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        path = b.local_path(model_id)
        _, peak_read = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert path is not None and path.stat().st_size == size
    assert _same_file(path, source)
    assert peak_write < 8 * 1024 * 1024, peak_write
    assert peak_read < 8 * 1024 * 1024, peak_read


def _same_file(x: Path, y: Path) -> bool:
    with x.open("rb") as fx, y.open("rb") as fy:
        while True:
            bx, by = fx.read(1 << 20), fy.read(1 << 20)
            if bx != by:
                return False
            if not bx:
                return True


def test_the_postgres_blob_store_is_refused_on_sqlite(tmp_path, monkeypatch) -> None:
    from sealdog.server.app import prepare_storage
    from sealdog.server.problems import ServerError
    from sealdog.server.settings import BlobStoreKind, ServerSettings

    monkeypatch.setenv("SEALDOG_BLOB_STORE", "postgres")
    settings = ServerSettings(data_dir=tmp_path)
    assert settings.blob_store is BlobStoreKind.postgres
    with pytest.raises(ServerError, match="needs a postgresql database URL"):
        prepare_storage(settings)
    assert not (tmp_path / "blob-cache").exists()
