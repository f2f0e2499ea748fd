"""Duplicate e-mails in a corpus: same Message-ID, or same normalised body.

Mail collections repeat messages (a message in two folders, a list copy and a direct
copy, re-sent spam). A duplicate on both sides of a train/test split makes evaluation look
better than it is, so `DuplicateDetector` puts messages into *groups*: two messages are in
one group if they share a Message-ID or a body key, transitively. A split keeps each group
on one side (or leaves later copies out of the held-out side); `duplicates` lists each
message that repeats an earlier one, with the reason, for the report.

Keys, computed from the raw bytes without a MIME parse (bounded work per message):

- Message-ID: the ``<...>`` of the first Message-ID header, lower-cased (case of the
  right-hand side is not significant in practice; the left-hand side almost never differs
  only in case);
- body key: BLAKE2b of the bytes after the header block, with all whitespace removed and
  ASCII letters lower-cased (re-wrapping and line-end changes do not hide a copy). Bodies
  shorter than `MIN_BODY_BYTES` after normalisation get no body key, so short replies
  such as "thanks!" do not make unrelated messages duplicates.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass

HEADER_SCAN_BYTES = 256 * 1024
"""Only this many leading bytes are searched for the end of the header block."""
MIN_BODY_BYTES = 32
_HEADER_END = re.compile(rb"\r?\n\r?\n")
_MESSAGE_ID = re.compile(rb"(?im)^message-id[ \t]*:[ \t]*((?:.*)(?:\r?\n[ \t].*)*)")
_ANGLE = re.compile(rb"<([^<>\s]+)>")
_WHITESPACE = re.compile(rb"\s+")


def _split(raw: bytes) -> tuple[bytes, bytes]:
    head = raw[:HEADER_SCAN_BYTES]
    start = head.find(b"\n") + 1 if head.startswith(b"From ") else 0
    found = _HEADER_END.search(head, start)
    if found is None:
        return head[start:], b""
    return raw[start : found.start()], raw[found.end() :]


def message_id(raw: bytes) -> str | None:
    """The Message-ID of a raw message (without ``<>``, lower-cased), or None."""
    headers, _ = _split(raw)
    found = _MESSAGE_ID.search(headers)
    if found is None:
        return None
    value = found.group(1)
    angle = _ANGLE.search(value)
    token = angle.group(1) if angle else value.strip()
    if not token:
        return None
    return token.decode("ascii", "replace").lower()


def body_key(raw: bytes) -> str | None:
    """Hash of the normalised body (see module doc), or None for a (near-)empty body."""
    _, body = _split(raw)
    normalised = _WHITESPACE.sub(b"", body).lower()
    if len(normalised) < MIN_BODY_BYTES:
        return None
    return hashlib.blake2b(normalised, digest_size=16).hexdigest()


@dataclass(frozen=True)
class Duplicate:
    """`name` repeats `first` (the first message of its group) because of `reason`."""

    name: str
    first: str
    reason: str  # "message-id" or "body"
    label_conflict: bool = False


class DuplicateDetector:
    """Streaming duplicate finder; feed messages in corpus order with `add`."""

    def __init__(self) -> None:
        self._parent: list[int] = []
        self._names: list[str] = []
        self._labels: list[str | None] = []
        self._by_key: dict[tuple[str, str], int] = {}
        self.duplicates: list[Duplicate] = []

    def _find(self, i: int) -> int:
        while self._parent[i] != i:
            self._parent[i] = self._parent[self._parent[i]]
            i = self._parent[i]
        return i

    def _union(self, a: int, b: int) -> None:
        ra, rb = self._find(a), self._find(b)
        if ra != rb:
            self._parent[max(ra, rb)] = min(ra, rb)

    def add(self, name: str, raw: bytes, label: str | None = None) -> Duplicate | None:
        """Record one message; returns a `Duplicate` if it repeats an earlier message."""
        index = len(self._names)
        self._names.append(name)
        self._parent.append(index)
        self._labels.append(label)
        found: Duplicate | None = None
        keys = [("message-id", message_id(raw)), ("body", body_key(raw))]
        for kind, value in keys:
            if value is None:
                continue
            earlier = self._by_key.setdefault((kind, value), index)
            if earlier == index:
                continue
            if found is None:
                root = self._find(earlier)
                conflict = label is not None and self._labels[earlier] not in (None, label)
                found = Duplicate(name, self._names[root], kind, conflict)
            self._union(earlier, index)
        if found is not None:
            self.duplicates.append(found)
        return found

    def group_ids(self) -> list[int]:
        """Group id of every message, in the order added; a group's id is the index of its
        first message, so duplicates share an id."""
        return [self._find(i) for i in range(len(self._names))]

    def groups(self) -> dict[str, int]:
        """Message name -> group id, for every message added; duplicates share an id."""
        return {name: self._find(i) for i, name in enumerate(self._names)}

    def __len__(self) -> int:
        return len(self._names)
