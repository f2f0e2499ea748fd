"""The one binary frame of Sealdog's own files, and the one format/version check of every document.

Frame (big-endian):  magic (4 bytes) | version u8 | header length u32 | header | body.
The header is the canonical JSON (`canonical_json`) of an object whose "format" names the
document; the body is opaque here. Encrypted verdicts (b"SDEV") and audit openings (b"SDOP")
are frames. Invariants: `Frame.write` is a pure function of (header, body), so equal inputs
give equal bytes; `Frame.read` returns a header only after checking, in this order, magic,
version byte, header length, that the header is a JSON object and its "format"; anything else
raises `CorruptDataError` with one of the messages below, whatever the document.

JSON documents (keys, base64 ciphertext vectors, headers) name themselves with "format" and a
version field; `check_format` is their one check.
"""

from __future__ import annotations

import json
import struct
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sealdog.errors import CorruptDataError

_PREFIX = struct.Struct(">4sBI")  # magic, version, header length


def canonical_json(data: Any) -> bytes:
    """The one byte encoding used for hashing and headers: sorted keys, no spaces, UTF-8."""
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def check_version(found: object, version: int, what: str) -> None:
    """Raise unless `found` is `version`. `what` names the document: "a Sealdog openings file"."""
    if found != version or isinstance(found, bool):
        raise CorruptDataError(
            f"Unsupported version {found!r} of {what}; this Sealdog reads version {version}."
        )


def check_format(
    data: object, *, format: str, version: int | None, what: str, version_key: str = "version"
) -> dict[str, Any]:
    """`data` as a JSON object, once its "format" is `format` and its `version_key` is `version`.

    `version` None: the document carries no version field of its own (a frame header whose
    version is the frame's).
    """
    if not isinstance(data, dict) or data.get("format") != format:
        raise CorruptDataError(f"Not {what} (expected format {format!r}).")
    if version is not None:
        check_version(data.get(version_key), version, what)
    return data


@dataclass(frozen=True)
class Frame:
    """One kind of framed document: its magic, version, header format and name for messages."""

    magic: bytes
    version: int
    format: str
    what: str

    def __post_init__(self) -> None:
        if len(self.magic) != 4 or not 0 <= self.version <= 255:
            raise ValueError("A frame needs a 4-byte magic and a version in 0..255.")

    def write(self, header: Mapping[str, Any], body: bytes = b"") -> bytes:
        """magic | version | len(header) | canonical JSON header | body. The header's "format"
        must be this frame's (callers pass it explicitly: it is part of their wire format)."""
        if header.get("format") != self.format:
            raise ValueError(f"Frame header must carry format {self.format!r}.")
        head = canonical_json(dict(header))
        return _PREFIX.pack(self.magic, self.version, len(head)) + head + body

    def read(self, data: bytes) -> tuple[dict[str, Any], memoryview]:
        """(header, body) of a frame, checked (see module doc); the body is a view into data."""
        if len(data) < _PREFIX.size or data[:4] != self.magic:
            raise CorruptDataError(f"Not {self.what} (bad magic or truncated).")
        _, version, head_len = _PREFIX.unpack_from(data)
        check_version(version, self.version, self.what)
        end = _PREFIX.size + head_len
        if len(data) < end:
            raise CorruptDataError(f"Not {self.what} (truncated header).")
        try:
            header = json.loads(bytes(data[_PREFIX.size : end]))
        except ValueError as exc:
            raise CorruptDataError(f"Not {self.what} (header is not valid JSON).") from exc
        header = check_format(header, format=self.format, version=None, what=self.what)
        return header, memoryview(data)[end:]
