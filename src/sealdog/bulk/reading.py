"""Mail archives as blocks of named raw messages, the unit of work of a bulk run.

A PATH is anything `sealdog.mail.corpora` reads (folder, Maildir, mbox, .tar.gz/.zip);
one PATH is read by one reader, in its deterministic order, streaming (one block in
memory). Every message gets a stable id: its corpus name (PATH, member, ``#k`` for the
k-th message of an mbox) joined with its Message-ID when it has one, so that a re-run over
the same archive produces the same ids and can skip those already in the output.

Invariant: every message a reader meets ends up in exactly one block row, either with its
raw bytes (to score) or with a skip reason (oversize, not e-mail, unreadable); a message
whose id is in `done` appears in no row and is only counted.
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from sealdog.mail.corpora import CorpusReport, iter_corpus
from sealdog.mail.duplicates import message_id
from sealdog.mail.errors import MailSourceError
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES

DEFAULT_BLOCK_MESSAGES = 256
"""Messages per block: large enough that one block fills several packed ciphertexts and
Ray's per-block overhead is negligible, small enough to keep a few blocks in flight."""


def stable_id(name: str, raw: bytes) -> str:
    """``name`` or ``name <message-id>``: the same message in the same archive always gets
    the same id, and two copies of one Message-ID at different places stay distinct."""
    mid = message_id(raw)
    return f"{name} <{mid}>" if mid else name


@dataclass
class Block:
    """Up to `DEFAULT_BLOCK_MESSAGES` messages of one PATH: ids and raw bytes to score, and
    the messages set aside (id, reason) while reading them."""

    ids: list[str] = field(default_factory=list)
    raws: list[bytes] = field(default_factory=list)
    skipped_ids: list[str] = field(default_factory=list)
    skipped_reasons: list[str] = field(default_factory=list)
    already_done: int = 0

    def __len__(self) -> int:
        return len(self.ids) + len(self.skipped_ids) + self.already_done


def read_blocks(
    path: str,
    *,
    done: Collection[str] = frozenset(),
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
    block_messages: int = DEFAULT_BLOCK_MESSAGES,
) -> Iterator[Block]:
    """The messages under one PATH, in blocks; ids in `done` are counted, not read again."""
    report = CorpusReport()
    block = Block()
    reported = 0
    for message in iter_corpus([path], max_bytes=max_bytes, report=report):
        for skip in report.skipped[reported:]:  # skips met while reaching this message
            block.skipped_ids.append(skip.name)
            block.skipped_reasons.append(f"{skip.reason}: {skip.detail}")
        reported = len(report.skipped)
        key = stable_id(message.name, message.raw)
        if key in done:
            block.already_done += 1
        else:
            block.ids.append(key)
            block.raws.append(message.raw)
        if len(block) >= block_messages:
            yield block
            block = Block()
    for skip in report.skipped[reported:]:
        block.skipped_ids.append(skip.name)
        block.skipped_reasons.append(f"{skip.reason}: {skip.detail}")
    if len(block):
        yield block


def read_paths(
    paths: Sequence[str],
    *,
    done: Collection[str] = frozenset(),
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
    block_messages: int = DEFAULT_BLOCK_MESSAGES,
) -> Iterator[Block]:
    """`read_blocks` of each PATH in turn (a block never mixes two PATHs): one bulk reader
    task; it lives here so that its Ray worker imports only the reading modules.

    A missing PATH raises `MailSourceError` before the first block, as `iter_corpus` does
    for its PATHs, not after the PATHs before it were read."""
    for path in paths:
        if not Path(path).exists():
            raise MailSourceError(f"No such e-mail file, folder or archive: {path}.")
    for path in paths:
        yield from read_blocks(path, done=done, max_bytes=max_bytes, block_messages=block_messages)
