"""Labelled e-mail corpora as users keep them: folders, Maildirs, mbox files and archives.

`sources` reads what `sealdog score` sends; this module reads what `sealdog train`/`eval`
learn from (issue 12, section 1). Everything is streamed: one message at a time is in
memory (never a whole mbox or archive), and each message is bounded by `max_bytes`.

A PATH may be:

- a **folder** of one-message files (``.eml``, no extension, anything), each optionally
  starting with an mbox ``From `` line; walked recursively in sorted order, hidden files and
  folders (``.name``) skipped;
- a **Maildir** (a folder with ``cur/`` and/or ``new/``): ``cur/`` then ``new/``, sorted;
  ``tmp/`` (mail being delivered) is skipped. A folder of Maildirs is walked as a folder;
- an **mbox** file: a file whose first line starts with ``From ``; further messages start
  at a line that follows an empty line and looks like an mbox separator
  (``From <sender> <weekday> <month> <day>...``), so a body line such as ``From what I
  heard`` does not split a message. The ``From `` line itself is not part of the message;
- a **.tar.gz/.tgz/.tar/.tar.bz2/.tar.xz** or **.zip** archive of any of the above (folder,
  Maildir, mbox files), read as a stream without unpacking to disk. Zip members are read
  in sorted name order; tar members in archive order (a .tar.gz cannot be read in any other
  order without decompressing it again), which is deterministic for a given archive file.
  Archives inside archives are skipped and reported. Archives found in a folder are read.

Names (stable, used as message ids and in reports): the file path as reached from the
PATH given (``mail/cur/123:2,S``); ``path#k`` (k from 1) for the k-th message of a file
holding more than one message or named ``*.mbox``; ``archive.tar.gz:member`` (and
``archive.tar.gz:member#k``) inside archives.

Nothing is fatal per message: a message above `max_bytes`, a file that is not an e-mail
(its first line is not a header), an unreadable file or a nested archive is skipped and
recorded in the `CorpusReport`; the caller says how many were skipped and why. A PATH that
does not exist, or that holds nothing at all, raises `MailSourceError` (before any message
is read for a missing path).

Labels: `--ham`/`--spam` PATHs (each repeatable; they add up) and a ``--labels`` CSV file
of ``path,label`` rows (label ``ham`` or ``spam``; an optional header row ``path,label``;
relative paths are relative to the CSV file's folder). See `labelled_sources` and
`iter_labelled`. Duplicates are found by `sealdog.mail.duplicates`.
"""

from __future__ import annotations

import csv
import re
import tarfile
import zipfile
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Literal

from sealdog.mail.errors import MailSourceError
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES, looks_like_email

Label = Literal["ham", "spam"]
LABELS: tuple[Label, ...] = ("ham", "spam")

TAR_SUFFIXES = (".tar.gz", ".tgz", ".tar", ".tar.bz2", ".tbz2", ".tar.xz", ".txz")
ZIP_SUFFIXES = (".zip",)
_LINE_CHUNK = 64 * 1024
"""Longest piece read at once: a file without line breaks is read in chunks of this size."""
_MBOX_SEPARATOR = re.compile(
    rb"From \S+ +(?:Mon|Tue|Wed|Thu|Fri|Sat|Sun),? +"
    rb"(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) +\d"
)


@dataclass(frozen=True)
class CorpusMessage:
    """One raw message of a corpus: its stable `name`, the PATH it came from, its label."""

    name: str
    source: str
    raw: bytes
    label: Label | None = None


@dataclass(frozen=True)
class SkippedMessage:
    """A message or file that was not read, and why (``oversize``, ``not-email``, ...)."""

    name: str
    source: str
    reason: str
    detail: str


@dataclass
class SourceCount:
    messages: int = 0
    skipped: int = 0


@dataclass
class CorpusReport:
    """What a read found: messages and skips per PATH, and every skip with its reason."""

    skipped: list[SkippedMessage] = field(default_factory=list)
    per_source: dict[str, SourceCount] = field(default_factory=dict)

    @property
    def n_messages(self) -> int:
        return sum(c.messages for c in self.per_source.values())

    def skip_counts(self) -> dict[str, int]:
        """Skipped messages per reason, e.g. ``{"oversize": 2}``."""
        out: dict[str, int] = {}
        for item in self.skipped:
            out[item.reason] = out.get(item.reason, 0) + 1
        return out

    def _count(self, source: str) -> SourceCount:
        return self.per_source.setdefault(source, SourceCount())

    def _skip(self, name: str, source: str, reason: str, detail: str) -> None:
        self.skipped.append(SkippedMessage(name, source, reason, detail))
        self._count(source).skipped += 1


def is_archive(path: str | Path) -> bool:
    name = str(path).lower()
    return name.endswith(TAR_SUFFIXES) or name.endswith(ZIP_SUFFIXES)


def iter_corpus(
    paths: Sequence[str | Path],
    *,
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
    report: CorpusReport | None = None,
    label: Label | None = None,
) -> Iterator[CorpusMessage]:
    """Every message under every PATH, in order (see module doc); streaming.

    Missing PATHs raise `MailSourceError` here, before the first message is produced;
    skipped messages are recorded in `report` (pass one to see them).
    """
    for path in paths:
        if not Path(path).exists():
            raise MailSourceError(f"No such e-mail file, folder or archive: {path}.")
    return _iter_corpus(
        [str(p) for p in paths], max_bytes, report if report is not None else CorpusReport(), label
    )


def _iter_corpus(
    paths: list[str], max_bytes: int, report: CorpusReport, label: Label | None
) -> Iterator[CorpusMessage]:
    for source in paths:
        count = report._count(source)
        before = (count.messages, count.skipped)
        for name, raw in _read_path(Path(source), source, max_bytes, report):
            count.messages += 1
            yield CorpusMessage(name, source, raw, label)
        if (count.messages, count.skipped) == before:
            raise MailSourceError(f"{source} holds no e-mail.")


def _read_path(
    path: Path, source: str, max_bytes: int, report: CorpusReport
) -> Iterator[tuple[str, bytes]]:
    if path.is_dir():
        yield from _read_folder(path, source, max_bytes, report)
    elif is_archive(path):
        yield from _read_archive(path, source, max_bytes, report)
    else:
        yield from _read_file(path, str(path), source, max_bytes, report)


def _is_maildir(folder: Path) -> bool:
    return (folder / "cur").is_dir() or (folder / "new").is_dir()


def _sorted_entries(folder: Path) -> list[Path]:
    try:
        return sorted(e for e in folder.iterdir() if not e.name.startswith("."))
    except OSError as exc:
        raise MailSourceError(f"Cannot list folder {folder}: {exc.strerror or exc}.") from exc


def _read_folder(
    folder: Path, source: str, max_bytes: int, report: CorpusReport
) -> Iterator[tuple[str, bytes]]:
    if _is_maildir(folder):
        entries = [folder / sub for sub in ("cur", "new") if (folder / sub).is_dir()]
        entries += [e for e in _sorted_entries(folder) if e.name not in ("cur", "new", "tmp")]
    else:
        entries = _sorted_entries(folder)
    for entry in entries:
        if entry.is_dir():
            yield from _read_folder(entry, source, max_bytes, report)
        elif entry.is_file():
            if is_archive(entry):
                yield from _read_archive(entry, source, max_bytes, report)
            else:
                yield from _read_file(entry, str(entry), source, max_bytes, report)


def _read_file(
    path: Path, name: str, source: str, max_bytes: int, report: CorpusReport
) -> Iterator[tuple[str, bytes]]:
    try:
        handle = path.open("rb")
    except OSError as exc:
        report._skip(name, source, "unreadable", str(exc.strerror or exc))
        return
    with handle:
        try:
            yield from split_messages(
                handle,
                name,
                source,
                max_bytes,
                report,
                always_number=name.lower().endswith(".mbox"),
            )
        except OSError as exc:
            report._skip(name, source, "unreadable", str(exc.strerror or exc))


def _read_archive(
    path: Path, source: str, max_bytes: int, report: CorpusReport
) -> Iterator[tuple[str, bytes]]:
    prefix = str(path)
    try:
        if str(path).lower().endswith(ZIP_SUFFIXES):
            with zipfile.ZipFile(path) as archive:
                infos = sorted(archive.infolist(), key=lambda i: i.filename)
                for info in infos:
                    if info.is_dir() or not _wanted_member(info.filename):
                        continue
                    name = f"{prefix}:{info.filename}"
                    if is_archive(info.filename):
                        report._skip(
                            name, source, "nested-archive", "archives in archives are not read"
                        )
                        continue
                    with archive.open(info) as stream:
                        yield from split_messages(
                            stream,
                            name,
                            source,
                            max_bytes,
                            report,
                            always_number=name.lower().endswith(".mbox"),
                        )
        else:
            with tarfile.open(path, "r|*") as archive:
                for member in archive:
                    if not member.isfile() or not _wanted_member(member.name):
                        continue
                    name = f"{prefix}:{member.name}"
                    if is_archive(member.name):
                        report._skip(
                            name, source, "nested-archive", "archives in archives are not read"
                        )
                        continue
                    member_stream = archive.extractfile(member)
                    if member_stream is None:
                        continue
                    with member_stream:
                        yield from split_messages(
                            member_stream,
                            name,
                            source,
                            max_bytes,
                            report,
                            always_number=name.lower().endswith(".mbox"),
                        )
    except (OSError, EOFError, tarfile.TarError, zipfile.BadZipFile) as exc:
        raise MailSourceError(f"Cannot read archive {path}: {exc}.") from exc


def _wanted_member(member: str) -> bool:
    """Archive members to read: no hidden component, not in a Maildir's ``tmp/``."""
    parts = [p for p in member.split("/") if p not in ("", ".")]
    if any(p.startswith(".") for p in parts):
        return False
    return not (len(parts) >= 2 and parts[-2] == "tmp")


def _lines(stream: IO[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Lines of a binary stream, in pieces of at most `_LINE_CHUNK` bytes, flagged True
    when the piece starts a line."""
    at_line_start = True
    while True:
        piece = stream.readline(_LINE_CHUNK)
        if not piece:
            return
        yield piece, at_line_start
        at_line_start = piece.endswith(b"\n")


class _Buffer:
    """The message being collected; stops keeping bytes once it is over the cap."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.pieces: list[bytes] = []
        self.size = 0
        self.oversize = False

    def add(self, piece: bytes) -> None:
        self.size += len(piece)
        if self.oversize:
            return
        if self.size > self.max_bytes:
            self.oversize = True
            self.pieces = []
        else:
            self.pieces.append(piece)


def split_messages(
    stream: IO[bytes],
    name: str,
    source: str,
    max_bytes: int,
    report: CorpusReport,
    *,
    always_number: bool = False,
) -> Iterator[tuple[str, bytes]]:
    """The messages of one file or archive member (one message, or an mbox), as
    ``(name, raw)``; oversize and non-e-mail messages are recorded in `report`.

    One message of lookahead decides the naming: a file holding a single message is
    `name`, else its messages are ``name#1``, ``name#2``, ... (always if `always_number`).
    """
    pending: tuple[int, _Buffer] | None = None
    number = 0

    def finish(k: int, buf: _Buffer, numbered: bool) -> Iterator[tuple[str, bytes]]:
        label = f"{name}#{k}" if numbered else name
        if buf.oversize:
            report._skip(label, source, "oversize", f"{buf.size:,} bytes > cap {max_bytes:,}")
            return
        raw = b"".join(buf.pieces)
        if not looks_like_email(raw[:1024]):
            report._skip(label, source, "not-email", "the first line is not a header field")
            return
        yield label, raw

    current = _Buffer(max_bytes)
    previous_blank = False
    first = True
    separated = False  # the file starts with an mbox ``From `` line
    for piece, line_start in _lines(stream):
        if first:
            first = False
            if piece.startswith(b"From "):
                separated = True
                previous_blank = False
                continue
        elif separated and line_start and previous_blank and _MBOX_SEPARATOR.match(piece):
            _drop_trailing_blank(current)
            number += 1
            if pending is not None:
                yield from finish(pending[0], pending[1], True)
            pending = (number, current)
            current = _Buffer(max_bytes)
            previous_blank = False
            continue
        current.add(piece)
        previous_blank = line_start and piece in (b"\n", b"\r\n")
    if first:
        return  # empty file: nothing to report beyond "holds no e-mail" at the PATH level
    if separated:
        _drop_trailing_blank(current)
    number += 1
    if pending is not None:
        yield from finish(pending[0], pending[1], True)
        yield from finish(number, current, True)
    else:
        yield from finish(number, current, always_number)


def _drop_trailing_blank(buf: _Buffer) -> None:
    """mbox writers end each message with an empty line before the next ``From `` line."""
    if buf.pieces and buf.pieces[-1] in (b"\n", b"\r\n"):
        buf.size -= len(buf.pieces.pop())


# -- labels ----------------------------------------------------------------------------


@dataclass(frozen=True)
class LabelledSource:
    path: str
    label: Label


def parse_label(value: str) -> Label:
    text = value.strip().lower()
    if text == "ham":
        return "ham"
    if text == "spam":
        return "spam"
    raise ValueError(f"label {value!r} is not ham or spam")


def read_labels_csv(path: str | Path) -> list[LabelledSource]:
    """Rows ``path,label`` of a labels file (see module doc), in file order."""
    csv_path = Path(path)
    try:
        text = csv_path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise MailSourceError(f"Cannot read labels file {path}: {exc}.") from exc
    out: list[LabelledSource] = []
    for number, row in enumerate(csv.reader(text.splitlines()), start=1):
        if not row or all(not cell.strip() for cell in row):
            continue
        if number == 1 and [c.strip().lower() for c in row] == ["path", "label"]:
            continue
        if len(row) != 2:
            raise MailSourceError(
                f"{path}, line {number}: expected two columns path,label, got {len(row)}."
            )
        try:
            label = parse_label(row[1])
        except ValueError as exc:
            raise MailSourceError(f"{path}, line {number}: {exc}.") from exc
        entry = Path(row[0].strip())
        if not entry.is_absolute():
            entry = csv_path.parent / entry
        out.append(LabelledSource(str(entry), label))
    if not out:
        raise MailSourceError(f"Labels file {path} has no path,label rows.")
    return out


def labelled_sources(
    ham: Iterable[str | Path] = (),
    spam: Iterable[str | Path] = (),
    labels: str | Path | None = None,
) -> list[LabelledSource]:
    """The ``--ham``, ``--spam`` and ``--labels`` inputs as one list: ham, spam, CSV rows."""
    out = [LabelledSource(str(p), "ham") for p in ham]
    out += [LabelledSource(str(p), "spam") for p in spam]
    if labels is not None:
        out += read_labels_csv(labels)
    if not out:
        raise MailSourceError("No labelled mail given: pass --ham and --spam, or --labels.")
    return out


def iter_labelled(
    sources: Sequence[LabelledSource],
    *,
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
    report: CorpusReport | None = None,
) -> Iterator[CorpusMessage]:
    """Every message of every labelled PATH, labelled, in order; streaming.

    All PATHs are checked for existence first, so a typo fails before any reading.
    """
    for item in sources:
        if not Path(item.path).exists():
            raise MailSourceError(f"No such e-mail file, folder or archive: {item.path}.")
    shared = report if report is not None else CorpusReport()
    return (
        message
        for item in sources
        for message in _iter_corpus([item.path], max_bytes, shared, item.label)
    )
