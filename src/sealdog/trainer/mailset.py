"""A user's labelled mail, read once: streamed from disk, featurised on up to 2 processes.

`read_labelled` walks the ``--ham``/``--spam``/``--labels`` PATHs
(`sealdog.mail.corpora.iter_labelled`: folders, Maildirs, mbox files, archives), and for
every message keeps only what training and evaluation need: its name, PATH, label, content
key (`splits.content_key`), duplicate group, and its terms under a featuriser spec
(`Featuriser.email_terms`, the server's own entry point), optionally its subject + body
text (for the scikit-learn baseline of `sealdog eval`). Raw bytes are dropped once a chunk
is featurised, and at most a few chunks are in flight, so memory holds terms, not mailboxes.

Chunks are featurised in a process pool while the reader goes on reading, so reading a
compressed archive and parsing overlap. The result does not depend on the number of
workers: chunks are collected in reading order.
"""

from __future__ import annotations

import os
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from sealdog.mail.corpora import CorpusMessage, CorpusReport, LabelledSource, iter_labelled
from sealdog.mail.duplicates import Duplicate, DuplicateDetector
from sealdog.mail.errors import MailSourceError
from sealdog.mail.featuriser import Featuriser, FeaturiserSpec
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES, email_parts
from sealdog.trainer.corpus import default_workers
from sealdog.trainer.splits import content_key

_CHUNK = 100
_IN_FLIGHT_PER_WORKER = 3

ProgressCallback = Callable[[int], None]


@dataclass
class LabelledMail:
    """Messages of labelled PATHs, in reading order (all lists have one entry per message)."""

    names: list[str] = field(default_factory=list)
    sources: list[str] = field(default_factory=list)
    mailboxes: list[str] = field(default_factory=list)
    """The mailbox of each message (`mailbox_of`): what `splits.mailbox_folds` holds out."""
    labels: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)
    terms: list[list[str]] = field(default_factory=list)
    texts: list[str] | None = None
    groups: list[int] = field(default_factory=list)
    duplicates: list[Duplicate] = field(default_factory=list)
    report: CorpusReport = field(default_factory=CorpusReport)

    @property
    def y(self) -> np.ndarray:
        return np.asarray(self.labels, dtype=np.int64)

    def summary(self) -> str:
        """One line: counts per class, duplicates and skipped files, for the CLI."""
        n_spam = sum(self.labels)
        parts = [
            f"{len(self.labels):,} e-mails ({len(self.labels) - n_spam:,} ham, {n_spam:,} spam)"
        ]
        if self.duplicates:
            conflicts = sum(d.label_conflict for d in self.duplicates)
            parts.append(
                f"{len(self.duplicates):,} duplicates kept together in every split"
                + (f" ({conflicts} with the other label)" if conflicts else "")
            )
        skips = self.report.skip_counts()
        if skips:
            parts.append(
                "skipped " + ", ".join(f"{n:,} {reason}" for reason, n in sorted(skips.items()))
            )
        return "; ".join(parts)


def mailbox_of(source: str) -> str:
    """The mailbox a PATH belongs to: the folder holding it (``alice/ham`` and
    ``alice/spam.mbox`` are both ``alice``'s), as an absolute path. A mailbox with ham and
    spam is held out whole by the training folds when there are two or more."""
    return os.path.dirname(os.path.abspath(source))


def _messages(
    sources: Sequence[LabelledSource], max_bytes: int, report: CorpusReport
) -> Iterator[tuple[CorpusMessage, str]]:
    """`iter_labelled` with each message's mailbox (`mailbox_of`), except that a PATH that
    is an Enron-Spam root gives that root's messages of the PATH's label (``--ham enron/`` =
    every enronN/ham e-mail), each Enron-Spam user (enronN) being a mailbox."""
    from sealdog.data.enron import is_enron_root, load_enron

    for item in sources:
        if not Path(item.path).exists():
            raise MailSourceError(f"No such e-mail file, folder or archive: {item.path}.")
    for item in sources:
        if is_enron_root(item.path):
            wanted = 1 if item.label == "spam" else 0
            for e in load_enron(Path(item.path)):
                if e.label == wanted:
                    name = f"{item.path}:{e.folder}/{item.label}/{e.name}"
                    mailbox = f"{os.path.abspath(item.path)}:{e.folder}"
                    yield CorpusMessage(name, item.path, e.raw, item.label), mailbox
        else:
            for message in iter_labelled([item], max_bytes=max_bytes, report=report):
                yield message, mailbox_of(message.source)


def _featurise_chunk(
    args: tuple[dict[str, Any], list[bytes], int, bool],
) -> list[tuple[list[str], str | None]]:
    spec_dict, raws, max_bytes, with_text = args
    featuriser = Featuriser.from_spec(spec_dict)
    out: list[tuple[list[str], str | None]] = []
    for raw in raws:
        terms = featuriser.email_terms(raw, max_bytes=max_bytes)
        text = email_parts(raw, max_bytes=max_bytes).as_text() if with_text else None
        out.append((terms, text))
    return out


def read_labelled(
    sources: Sequence[LabelledSource],
    spec: FeaturiserSpec,
    *,
    workers: int | None = None,
    with_text: bool = False,
    progress: ProgressCallback | None = None,
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
) -> LabelledMail:
    """Read and featurise every message of `sources` (see module doc).

    Only `spec`'s tokeniser settings and families matter (terms, not indices), so one read
    serves any bucket count or vocabulary. Raises `MailSourceError` for a missing PATH
    (before reading) or a PATH that holds no e-mail.
    """
    workers = default_workers() if workers is None else max(1, workers)
    light = FeaturiserSpec(**{**spec.__dict__, "mode": "hashing", "vocabulary": (), "n_buckets": 1})
    spec_dict = light.to_dict()
    mail = LabelledMail(texts=[] if with_text else None)
    detector = DuplicateDetector()
    pending: deque[tuple[int, Future[list[tuple[list[str], str | None]]] | list[Any]]] = deque()

    def collect(item: tuple[int, Any]) -> None:
        size, job = item
        results = job if isinstance(job, list) else job.result()
        for terms, text in results:
            mail.terms.append(terms)
            if mail.texts is not None:
                mail.texts.append(text or "")
        if progress:
            progress(size)

    pool = ProcessPoolExecutor(max_workers=workers) if workers > 1 else None
    try:
        chunk: list[bytes] = []

        def flush() -> None:
            args = (spec_dict, list(chunk), max_bytes, with_text)
            if pool is None:
                pending.append((len(chunk), _featurise_chunk(args)))
            else:
                pending.append((len(chunk), pool.submit(_featurise_chunk, args)))
            chunk.clear()
            while len(pending) > workers * _IN_FLIGHT_PER_WORKER or (pool is None and pending):
                collect(pending.popleft())

        for message, mailbox in _messages(sources, max_bytes, mail.report):
            label = 1 if message.label == "spam" else 0
            mail.names.append(message.name)
            mail.sources.append(message.source)
            mail.mailboxes.append(mailbox)
            mail.labels.append(label)
            mail.keys.append(content_key(message.raw))
            found = detector.add(message.name, message.raw, message.label)
            if found is not None:
                mail.duplicates.append(found)
            chunk.append(message.raw)
            if len(chunk) >= _CHUNK:
                flush()
        if chunk:
            flush()
        while pending:
            collect(pending.popleft())
    finally:
        if pool is not None:
            pool.shutdown(cancel_futures=True)
    mail.groups = detector.group_ids()
    return mail
