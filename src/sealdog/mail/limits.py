"""The caps on a raw e-mail, and the linear pre-scan that applies them before any parser runs.

The standard library's ``email`` parser (``policy.default``) is super-linear on crafted
headers (1 MiB of ``=?utf-8?q?a?=`` in a Subject grew a process to 12.8 GB; 4 KiB of
``a=b;`` MIME parameters take a second) and slow per MIME part. `cap_email` therefore
rewrites the raw bytes first, in one pass of C-speed searches, so that whatever reaches the
parser is small where the parser is slow: every header field, the Subject and the MIME
fields (Content-Type, -Disposition, -Transfer-Encoding) are cut to their caps, MIME fields
keep at most `MailLimits.max_mime_params` parameters, the header blocks of a message (top
level and every part) share one byte and field budget, and the message is cut before the
part that would pass `MailLimits.max_parts` or nest deeper than `MailLimits.max_depth`.
Decoded part size and HTML size are capped where the parts are decoded
(`sealdog.mail.message`).

Invariant: a message under every cap comes back as the same bytes object (``is``), so the
featuriser's output for ordinary mail is exactly what it was before the caps existed; a
capped one comes back shorter, with the caps it hit (`Cap`), never an exception.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

MIB = 1024 * 1024


class Cap(StrEnum):
    """A cap an e-mail hit (the names the server reports next to ``"truncated": true``)."""

    HEADER_BYTES = "header_bytes"
    HEADER_FIELDS = "header_fields"
    FIELD_CHARS = "field_chars"
    SUBJECT_CHARS = "subject_chars"
    MIME_FIELD = "mime_field"
    PARTS = "parts"
    DEPTH = "depth"
    PART_BYTES = "part_bytes"
    HTML_CHARS = "html_chars"


@dataclass(frozen=True)
class MailLimits:
    """Every cap on one e-mail's parsing, in one place; the defaults are documented in
    docs/server.md ("Limits and hostile input" > "Parsing"). All sizes are bytes of the raw
    message except where a name says characters (decoded text)."""

    max_header_bytes: int = 256 * 1024
    """All header blocks of a message (top level and every MIME part) together."""
    max_header_fields: int = 1024
    """Header fields of a message (all blocks together); later fields are dropped."""
    max_field_bytes: int = 64 * 1024
    """One header field, folded lines included (e.g. a long References)."""
    max_subject_bytes: int = 2048
    """The Subject field (the parser's encoded-word decoding is super-linear)."""
    max_mime_field_bytes: int = 1024
    """Content-Type, Content-Disposition and Content-Transfer-Encoding, each."""
    max_mime_params: int = 16
    """Parameters kept in a Content-Type or Content-Disposition field."""
    max_parts: int = 128
    """MIME parts (every delimiter counts); the message is cut before the next one."""
    max_depth: int = 16
    """Nesting of multipart and message/rfc822 parts."""
    max_part_bytes: int | None = None
    """Decoded bytes of one part that are read as text; the rest is not read. None (the
    default): the caller's cap on the whole message (``max_bytes``; the server's is 1 MiB),
    since reading plain text costs time linear in its size and nothing more."""
    max_html_chars: int = 512 * 1024
    """Characters of one HTML part converted to text (the HTML reader costs ~1 us/char)."""

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is None and name == "max_part_bytes":
                continue
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"MailLimits.{name} must be a positive integer, got {value!r}")

    def part_bytes(self, max_bytes: int) -> int:
        """`max_part_bytes`, or `max_bytes` when it is None."""
        return max_bytes if self.max_part_bytes is None else self.max_part_bytes


DEFAULT_LIMITS = MailLimits()


@dataclass(frozen=True)
class CappedEmail:
    """Raw bytes with the caps applied, and which caps were hit (empty: `raw` is the input)."""

    raw: bytes
    caps_hit: frozenset[Cap]

    @property
    def truncated(self) -> bool:
        return bool(self.caps_hit)


_FIELD_END = re.compile(rb"\n(?![ \t])")
_HEADER_START = re.compile(rb"[\041-\071\073-\176]*:|[ \t]")
_BLANK_LINE = re.compile(rb"\n\r?\n")
_BOUNDARY = re.compile(rb'(?i);\s*boundary\s*=\s*(?:"([^"\r\n]{1,200})"|([^\s;"]{1,200}))')
_MIME_FIELDS = (b"content-type", b"content-disposition", b"content-transfer-encoding")


class _Capper:
    """One pass over a raw message; see the module doc. Appends kept slices to `out`."""

    def __init__(self, raw: bytes, limits: MailLimits) -> None:
        self.raw = raw
        self.n = len(raw)
        self.limits = limits
        self.out: list[bytes] = []
        self.hit: set[Cap] = set()
        self.header_bytes = 0
        self.fields = 0
        self.parts = 0
        self._patterns: dict[tuple[bytes, ...], re.Pattern[bytes]] = {}

    def run(self) -> CappedEmail:
        pos, content_type = self._header_block(0, first=True)
        self._body(pos, content_type)
        if not self.hit:
            return CappedEmail(self.raw, frozenset())
        return CappedEmail(b"".join(self.out), frozenset(self.hit))

    # -- headers -------------------------------------------------------------------------

    def _header_block(self, pos: int, *, first: bool = False) -> tuple[int, bytes | None]:
        """Copy one header block from `pos` (capped); return where its body starts and its
        first Content-Type value (unfolded, original case: boundaries are case-sensitive)."""
        raw, n, limits = self.raw, self.n, self.limits
        content_type: bytes | None = None
        if first and raw.startswith(b"From "):  # mbox separator line
            eol = raw.find(b"\n")
            pos = n if eol < 0 else eol + 1
            self.out.append(raw[:pos])
        while pos < n:
            if raw.startswith((b"\n", b"\r\n"), pos):
                eol = pos + (1 if raw[pos] == 10 else 2)
                self.out.append(raw[pos:eol])
                return eol, content_type
            if not _HEADER_START.match(raw, pos):
                return pos, content_type  # the body starts without a blank line
            m = _FIELD_END.search(raw, pos)
            end = n if m is None else m.start() + 1
            field = raw[pos:end]
            if (
                self.fields >= limits.max_header_fields
                or self.header_bytes + len(field) > limits.max_header_bytes
            ):
                self.hit.add(
                    Cap.HEADER_FIELDS
                    if self.fields >= limits.max_header_fields
                    else Cap.HEADER_BYTES
                )
                blank = _BLANK_LINE.search(raw, pos)
                if blank is None:
                    return n, content_type
                self.out.append(b"\n")
                return blank.end(), content_type
            field = self._cap_field(field)
            self.fields += 1
            self.header_bytes += len(field)
            self.out.append(field)
            name = field.partition(b":")[0].strip().lower()
            if name == b"content-type" and content_type is None:
                content_type = b" ".join(field.partition(b":")[2].split())
            pos = end
        return pos, content_type

    def _cap_field(self, field: bytes) -> bytes:
        limits = self.limits
        name = field.partition(b":")[0].strip().lower()
        if name in _MIME_FIELDS:
            cap, which = limits.max_mime_field_bytes, Cap.MIME_FIELD
            if name != b"content-transfer-encoding" and field.count(b";") > limits.max_mime_params:
                pieces = field.split(b";", limits.max_mime_params + 1)
                field = b";".join(pieces[: limits.max_mime_params + 1]).rstrip() + b"\n"
                self.hit.add(Cap.MIME_FIELD)
        elif name == b"subject":
            cap, which = limits.max_subject_bytes, Cap.SUBJECT_CHARS
        else:
            cap, which = limits.max_field_bytes, Cap.FIELD_CHARS
        if len(field) > cap:
            self.hit.add(which)
            field = field[:cap].rstrip(b"\r\n") + b"\n"
        return field

    # -- structure -----------------------------------------------------------------------

    def _body(self, pos: int, content_type: bytes | None) -> None:
        """Copy the rest of the message from `pos`, cutting before the part that would pass
        `max_parts` or `max_depth`. Only delimiter lines of open multiparts are looked at."""
        raw, n = self.raw, self.n
        levels: list[bytes] = []  # open multipart boundaries, _MESSAGE, or _ANY
        while True:
            pos = self._open(pos, content_type, levels)
            if pos < 0:
                return
            while True:
                multiparts = tuple(b for b in levels if b is not _MESSAGE)
                m = self._delimiter(multiparts).search(raw, pos) if multiparts else None
                if m is None:
                    self.out.append(raw[pos:])
                    return
                line_end = raw.find(b"\n", m.end())
                line_end = n if line_end < 0 else line_end + 1
                line = raw[m.start() : line_end].rstrip(b" \t\r\n")
                level, closing = _which(levels, line)
                if closing:
                    del levels[level:]
                    self.out.append(raw[pos:line_end])
                    pos = line_end
                    continue
                del levels[level + 1 :]
                self.parts += 1
                if self.parts > self.limits.max_parts:
                    self.hit.add(Cap.PARTS)
                    self.out.append(raw[pos : m.start()])
                    return
                self.out.append(raw[pos:line_end])
                pos, content_type = self._header_block(line_end)
                break

    def _open(self, pos: int, content_type: bytes | None, levels: list[bytes]) -> int:
        """Enter the levels a part's content type opens; -1 if that passes `max_depth`."""
        while content_type is not None and content_type[:15].lower().startswith(_NESTING_TYPES):
            if len(levels) + 1 > self.limits.max_depth:
                self.hit.add(Cap.DEPTH)
                return -1
            if content_type[:8].lower() == b"message/":
                levels.append(_MESSAGE)
                pos, content_type = self._header_block(pos)
                continue
            m = _BOUNDARY.search(content_type)
            levels.append(_ANY if m is None else (m.group(1) or m.group(2)))
            break
        return pos

    def _delimiter(self, boundaries: tuple[bytes, ...]) -> re.Pattern[bytes]:
        """Lines that are a delimiter of one of `boundaries` (any ``--`` line for _ANY)."""
        pattern = self._patterns.get(boundaries)
        if pattern is None:
            if _ANY in boundaries:
                pattern = re.compile(rb"(?m)^--")
            else:
                names = b"|".join(re.escape(b) for b in boundaries)
                pattern = re.compile(rb"(?m)^--(?:" + names + rb")(?:--)?[ \t]*\r?$")
            self._patterns[boundaries] = pattern
        return pattern


_MESSAGE = b"\x00message"
_ANY = b"\x00any"
_NESTING_TYPES = (b"multipart/", b"message/rfc822")


def _which(levels: list[bytes], line: bytes) -> tuple[int, bool]:
    """(level, closing) of a delimiter line: the innermost open multipart it belongs to."""
    for index in range(len(levels) - 1, -1, -1):
        boundary = levels[index]
        if boundary is _ANY:
            return index, False
        if boundary is _MESSAGE:
            continue
        if line == b"--" + boundary:
            return index, False
        if line == b"--" + boundary + b"--":
            return index, True
    return len(levels) - 1, False  # unreachable: the pattern only finds delimiters


def cap_email(raw: bytes, limits: MailLimits = DEFAULT_LIMITS) -> CappedEmail:
    """`raw` with every cap of `limits` applied (module doc); linear time, never raises."""
    return _Capper(raw, limits).run()
