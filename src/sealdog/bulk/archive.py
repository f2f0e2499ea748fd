"""The verdict archive: a folder of Parquet parts, written atomically, read for resuming.

Layout of ``OUT`` (by convention named ``verdicts.parquet``; any Parquet reader opens the
folder as one dataset):

- ``_sealdog.json``: format, version, the sealed model's digest and key fingerprint. A run
  into an existing archive must use the same model (else its verdicts would mix two models);
- ``part-NNNNNN.parquet``: one row per scored block, columns
  ``ids`` (list of message ids, in verdict order), ``verdicts`` (the packed verdict
  ciphertexts of those ids, the binary frame of `EncryptedVerdicts`, null when the block
  scored nothing), ``skipped_ids`` and ``skipped_reasons`` (messages set aside, and why).

Invariants: a part appears whole or not at all (written to a temp name, fsynced, renamed);
a crash loses at most the rows not yet in a part, and a re-run re-scores exactly those
(`done_ids` is the set of ids in parts). One run at a time per archive (an exclusive lock
on ``_sealdog.lock``). Set-aside messages are not "done": a re-run (perhaps with a larger
size cap) tries them again, and readers take the latest outcome per id.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from sealdog.errors import CorruptDataError, SealdogError
from sealdog.fileio import atomic_write_text

try:
    import pyarrow as pa
    import pyarrow.parquet as pq
except ImportError:  # pragma: no cover - the message is tested by hand
    raise SealdogError(
        "Verdict archives are Parquet files: install pyarrow (pip install pyarrow, or the "
        "`sealdog[ray]` extra to write them)."
    ) from None

ARCHIVE_FORMAT = "sealdog-verdict-archive"
ARCHIVE_VERSION = 1
MANIFEST = "_sealdog.json"
LOCK = "_sealdog.lock"
_PART = re.compile(r"^part-(\d{6,})\.parquet$")

SCHEMA = pa.schema(
    [
        ("ids", pa.list_(pa.string())),
        ("verdicts", pa.binary()),
        ("skipped_ids", pa.list_(pa.string())),
        ("skipped_reasons", pa.list_(pa.string())),
    ]
)


class ArchiveError(SealdogError):
    """The output folder is not a verdict archive of this model, or is in use."""


@dataclass(frozen=True)
class ArchiveRow:
    """One scored block as stored: `verdicts` holds len(ids) packed verdicts, in order."""

    ids: tuple[str, ...]
    verdicts: bytes | None
    skipped_ids: tuple[str, ...] = ()
    skipped_reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class ArchiveManifest:
    model_digest: str
    key_fingerprint: str

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ARCHIVE_FORMAT,
            "version": ARCHIVE_VERSION,
            "model_digest": self.model_digest,
            "key_fingerprint": self.key_fingerprint,
        }

    @classmethod
    def read(cls, folder: Path) -> ArchiveManifest:
        try:
            data = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise ArchiveError(f"{folder} is not a Sealdog verdict archive: {exc}") from None
        if (
            not isinstance(data, dict)
            or data.get("format") != ARCHIVE_FORMAT
            or data.get("version") != ARCHIVE_VERSION
            or not isinstance(data.get("model_digest"), str)
            or not isinstance(data.get("key_fingerprint"), str)
        ):
            raise ArchiveError(
                f"{folder / MANIFEST} is not a version-{ARCHIVE_VERSION} verdict archive manifest"
            )
        return cls(data["model_digest"], data["key_fingerprint"])


def _number(part: Path) -> int:
    found = _PART.match(part.name)
    assert found is not None  # only called on names `_parts` matched
    return int(found.group(1))


def _parts(folder: Path) -> list[Path]:
    """The finished parts, in write order (temp files of an interrupted write are ignored)."""
    if not folder.is_dir():
        return []
    return sorted((p for p in folder.iterdir() if _PART.match(p.name)), key=_number)


def read_rows(folder: str | os.PathLike[str]) -> Iterator[ArchiveRow]:
    """Every stored row, part by part in write order."""
    root = Path(folder)
    ArchiveManifest.read(root)
    for part in _parts(root):
        try:
            table = pq.read_table(part, schema=SCHEMA)
        except (OSError, pa.ArrowException) as exc:
            raise CorruptDataError(f"Cannot read archive part {part}: {exc}") from None
        for row in table.to_pylist():
            yield ArchiveRow(
                tuple(row["ids"] or ()),
                row["verdicts"],
                tuple(row["skipped_ids"] or ()),
                tuple(row["skipped_reasons"] or ()),
            )


def done_ids(folder: str | os.PathLike[str]) -> set[str]:
    """Ids already scored into the archive (only the ``ids`` column is read)."""
    root = Path(folder)
    out: set[str] = set()
    for part in _parts(root):
        for ids in pq.read_table(part, columns=["ids"]).column("ids").to_pylist():
            out.update(ids or ())
    return out


def stored_ids(folder: str | os.PathLike[str]) -> int:
    """How many scored ids the archive holds (only the ``ids`` column is read)."""
    return len(done_ids(folder))


class ArchiveWriter:
    """Appends parts to an archive (new or resumed) under an exclusive lock; a context manager."""

    def __init__(self, folder: str | os.PathLike[str], manifest: ArchiveManifest) -> None:
        self.folder = Path(folder)
        self.manifest = manifest
        self._lock: IO[bytes] | None = None
        self._next = 0

    def __enter__(self) -> Self:
        if self.folder.exists() and not self.folder.is_dir():
            raise ArchiveError(f"{self.folder} exists and is not a folder")
        self.folder.mkdir(parents=True, exist_ok=True)
        lock = (self.folder / LOCK).open("ab")
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            raise ArchiveError(f"{self.folder} is being written by another run") from None
        self._lock = lock
        try:
            self._open()
        except BaseException:
            self._release()
            raise
        return self

    def _open(self) -> None:
        if (self.folder / MANIFEST).exists():
            found = ArchiveManifest.read(self.folder)
            if found != self.manifest:
                raise ArchiveError(
                    f"{self.folder} holds verdicts of model {found.model_digest[:16]}..., not of "
                    f"this model ({self.manifest.model_digest[:16]}...): write to another folder"
                )
        elif _others(self.folder):
            raise ArchiveError(f"{self.folder} is not empty and is not a verdict archive")
        else:
            atomic_write_text(self.folder / MANIFEST, json.dumps(self.manifest.to_json()) + "\n")
        for stale in self.folder.glob(".part-*.tmp"):  # an interrupted write; we hold the lock
            stale.unlink(missing_ok=True)
        self._next = max((_number(p) for p in _parts(self.folder)), default=0) + 1

    def write(self, rows: Sequence[ArchiveRow]) -> Path | None:
        """One part holding `rows`, visible only once complete; None when `rows` is empty."""
        if not rows:
            return None
        table = pa.Table.from_pylist(
            [
                {
                    "ids": list(r.ids),
                    "verdicts": r.verdicts,
                    "skipped_ids": list(r.skipped_ids),
                    "skipped_reasons": list(r.skipped_reasons),
                }
                for r in rows
            ],
            schema=SCHEMA,
        )
        target = self.folder / f"part-{self._next:06d}.parquet"
        tmp = self.folder / f".{target.name}.tmp"
        try:
            with tmp.open("wb") as handle:
                pq.write_table(table, handle, compression="zstd")
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(tmp, target)
        except BaseException:
            tmp.unlink(missing_ok=True)
            raise
        dir_fd = os.open(self.folder, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._next += 1
        return target

    def _release(self) -> None:
        if self._lock is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()


def _others(folder: Path) -> list[Path]:
    return [p for p in folder.iterdir() if p.name != LOCK]
