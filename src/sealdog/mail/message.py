"""Raw e-mail bytes to plain text: the first step of every scoring, on trainer and server alike.

The parser is the standard library's `email` package (`policy.default`); HTML parts go
through `sealdog.mail.html_text` (BeautifulSoup's ``html.parser`` text, in linear time). It
never raises on malformed input: a message the MIME parser cannot make sense of is read as
text, undecodable bytes become U+FFFD. The one error it does raise is `EmailTooLargeError`,
before parsing, above the caller's byte cap.

Bounded work (issue 13): before any parser sees a message, `sealdog.mail.limits.cap_email`
cuts it down to the caps of a `MailLimits` (header sizes and counts, Subject, MIME
parameters, parts, depth); decoded parts and HTML are capped here. A message that hits a
cap is parsed as far as it goes and flagged (`EmailText.caps_hit`, `ParsedEmail.caps_hit`,
``truncated``), never refused; one under every cap gives exactly the text it always did.
`classify_input` tells e-mail from empty or binary input, for a warning.

Output format (`email_to_text`): the first line is ``Subject: <subject>`` (always present,
possibly empty), then an empty line, then the body text. `sealdog.mail.featuriser`
relies on this layout to tell subject words from body words.
"""

from __future__ import annotations

import codecs
import contextlib
import email
import email.header
import email.policy
import re
from dataclasses import dataclass, field, replace
from email.message import Message
from enum import StrEnum
from typing import cast

from sealdog.mail.errors import EmailTooLargeError
from sealdog.mail.html_text import html_to_text
from sealdog.mail.limits import DEFAULT_LIMITS, Cap, MailLimits, cap_email

__all__ = [
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_EMAIL_BYTES",
    "Cap",
    "EmailText",
    "EmailTooLargeError",
    "MailKind",
    "MailLimits",
    "MimePart",
    "ParsedEmail",
    "classify_input",
    "email_parts",
    "email_to_text",
    "html_to_text",
    "looks_like_email",
    "parse_email",
]

DEFAULT_MAX_EMAIL_BYTES: int = 10 * 1024 * 1024
"""Default size cap (10 MiB) on a raw message; callers may pass their own `max_bytes`."""

SUBJECT_PREFIX = "Subject: "
_MAX_MIME_DEPTH = 16
_TEXT_TYPES = ("text/plain", "text/html")
_WHITESPACE_RUN = re.compile(r"[^\S\n]+")


@dataclass(frozen=True)
class EmailText:
    """The two pieces of an e-mail the featuriser uses: its subject and its body text."""

    subject: str
    body: str
    caps_hit: frozenset[Cap] = field(default=frozenset(), compare=False)
    """The caps this e-mail hit (`MailLimits`); empty for ordinary mail."""

    @property
    def truncated(self) -> bool:
        """True if a cap cut something: the text is what was read, not the whole e-mail."""
        return bool(self.caps_hit)

    def as_text(self) -> str:
        """The documented single-string form: ``Subject: ...``, a blank line, the body."""
        return f"{SUBJECT_PREFIX}{self.subject}\n\n{self.body}"

    @classmethod
    def from_text(cls, text: str) -> EmailText:
        """Inverse of `as_text`; text without a leading ``Subject:`` line is all body."""
        if text.startswith(SUBJECT_PREFIX):
            first, _, rest = text.partition("\n")
            return cls(subject=first[len(SUBJECT_PREFIX) :], body=rest.lstrip("\n"))
        return cls(subject="", body=text)


def email_to_text(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES, limits: MailLimits = DEFAULT_LIMITS
) -> str:
    """The subject and the readable text of a raw e-mail, as one string (see module doc)."""
    return email_parts(raw, max_bytes=max_bytes, limits=limits).as_text()


def email_parts(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES, limits: MailLimits = DEFAULT_LIMITS
) -> EmailText:
    """Subject and body text of a raw e-mail, capped by `limits` (flagged in `caps_hit`);
    raises only `EmailTooLargeError` (above `max_bytes`)."""
    raw = _check_size(raw, max_bytes, "email_parts")
    limits = replace(limits, max_part_bytes=limits.part_bytes(max_bytes))
    capped = cap_email(raw, limits)
    hits = set(capped.caps_hit)
    try:
        message = email.message_from_bytes(capped.raw, policy=email.policy.default)
    except Exception:  # malformed input must never raise
        return _unparsed_text(capped.raw, limits, hits)
    return _email_text(message, capped.raw, limits, hits)


def _unparsed_text(raw: bytes, limits: MailLimits, hits: set[Cap]) -> EmailText:
    """A message read as plain text (the parser failed): at most `max_part_bytes` of it."""
    body = _tidy(_decode_bytes(_cap_part(raw, limits, hits), None))
    return EmailText(subject="", body=body, caps_hit=frozenset(hits))


def _cap_part(payload: bytes, limits: MailLimits, hits: set[Cap]) -> bytes:
    """At most `max_part_bytes` of a decoded part, cut before a split UTF-8 sequence."""
    cap = limits.part_bytes(len(payload))
    if len(payload) <= cap:
        return payload
    hits.add(Cap.PART_BYTES)
    cut = payload[:cap]
    for back in range(1, min(4, len(cut)) + 1):
        byte = cut[-back]
        if byte < 0x80:
            break
        if byte >= 0xC0:  # the lead byte of the last sequence: keep it only if complete
            needed = 2 if byte < 0xE0 else 3 if byte < 0xF0 else 4
            return cut if back == needed else cut[:-back]
    return cut


def _check_size(raw: bytes | bytearray | memoryview, max_bytes: int, caller: str) -> bytes:
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"{caller} expects bytes, got {type(raw).__name__}")
    data = bytes(raw)
    if len(data) > max_bytes:
        raise EmailTooLargeError(
            f"e-mail is {len(data):,} bytes, above the {max_bytes:,}-byte cap; "
            "raise the cap (max_bytes / --max-email-bytes) if such messages are expected"
        )
    return data


def _email_text(message: Message, raw: bytes, limits: MailLimits, hits: set[Cap]) -> EmailText:
    """Subject and body of a parsed message, exactly as `email_parts` has always made them."""
    try:
        subject = _subject(message)
        chunks = _part_texts(message, 0, limits, hits)
        body = "\n".join(chunk for chunk in chunks if chunk)
    except Exception:  # malformed input must never raise
        return _unparsed_text(raw, limits, hits)
    return EmailText(
        subject=_tidy(subject).replace("\n", " "), body=_tidy(body), caps_hit=frozenset(hits)
    )


def _subject(message: Message) -> str:
    """The Subject header, decoded (encoded-words, or raw 8-bit bytes in any charset)."""
    raw_value = None
    for name, value in message.raw_items():
        if name.lower() == "subject":
            raw_value = str(value)
            break
    if raw_value is None:
        return ""
    try:
        raw_value.encode("ascii")
    except UnicodeEncodeError:
        # Undeclared 8-bit header bytes (the parser kept them as surrogate escapes).
        data = raw_value.encode("utf-8", "surrogateescape")
        return _decode_bytes(data, None)
    try:
        return str(message.get("Subject", ""))
    except Exception:  # broken encoded-words etc.: decode them leniently
        return _decode_header_leniently(raw_value)


def _decode_header_leniently(raw_value: str) -> str:
    try:
        parts = email.header.decode_header(raw_value)
        return "".join(_decode_bytes(p, c) if isinstance(p, bytes) else p for p, c in parts)
    except Exception:
        return raw_value


def _part_texts(part: Message, depth: int, limits: MailLimits, hits: set[Cap]) -> list[str]:
    """Readable text of one MIME part, recursively; attachments and binary parts yield nothing."""
    if depth > _MAX_MIME_DEPTH:
        return []
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return [_subject(inner[0]), *_part_texts(inner[0], depth + 1, limits, hits)]
        return []
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return []
        if content_type == "multipart/alternative":
            # RFC 2046: alternatives are in increasing order of faithfulness; take the
            # last one that yields text, so the same words are not counted twice.
            for child in reversed(cast(list[Message], children)):
                alternative = _part_texts(child, depth + 1, limits, hits)
                if any(t.strip() for t in alternative):
                    return alternative
            return []
        texts: list[str] = []
        for child in cast(list[Message], children):
            texts.extend(_part_texts(child, depth + 1, limits, hits))
        return texts
    if content_type not in _TEXT_TYPES:
        return []
    if _is_attachment(part):
        return []
    payload = part.get_payload(decode=True)
    if payload is None:
        raw_payload = part.get_payload()
        payload = (
            raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        )
    text = _decode_bytes(_cap_part(cast(bytes, payload), limits, hits), _declared_charset(part))
    if content_type == "text/html":
        if len(text) > limits.max_html_chars:
            hits.add(Cap.HTML_CHARS)
            text = text[: limits.max_html_chars]
        text = html_to_text(text)
    return [text]


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:
        return False


def _declared_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:
        return None


def _decode_bytes(data: bytes, charset: str | None) -> str:
    """Bytes to text: declared charset if it decodes cleanly, else UTF-8, else Windows-1252.

    Windows-1252 (a superset of the printable Latin-1) is the usual undeclared charset of
    old mail; bytes it leaves undefined become U+FFFD, so this never raises.
    """
    if charset:
        try:
            codecs.lookup(charset)
            return data.decode(charset)
        except (LookupError, UnicodeDecodeError, ValueError):
            pass
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        return data.decode("cp1252", errors="replace")


def _tidy(text: str) -> str:
    """Normalise line ends and runs of blanks; keeps the words and their order."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ")
    lines = (_WHITESPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)


# -- headers and structure (featuriser spec version 2) ---------------------------------

MAX_HEADERS = 256
"""Headers kept by `parse_email`; a message with more keeps the first ones."""
MAX_HEADER_CHARS = 4096
"""Each kept header value is cut to this many characters before anything looks at it."""
MAX_PARTS = 256
"""MIME leaf parts summarised by `parse_email`; the rest are counted but not described."""
_FOLDING = re.compile(r"\r?\n(?=[ \t])")
_HTML_TAG = re.compile(r"<[A-Za-z!/]")
_HTML_TAG_SPAN = re.compile(r"<[^<>]*>")


@dataclass(frozen=True)
class MimePart:
    """One leaf MIME part, as the header-aware featuriser sees it (no payload kept)."""

    content_type: str
    charset: str | None
    """The declared charset parameter, lower-cased, or None."""
    transfer_encoding: str
    """Content-Transfer-Encoding, lower-cased; ``7bit`` when absent."""
    is_attachment: bool
    filename: str | None
    charset_ok: bool
    """False if the declared charset is unknown or does not decode the payload."""
    has_8bit: bool
    """The decoded payload holds non-ASCII bytes."""


@dataclass(frozen=True)
class ParsedEmail:
    """An e-mail with its headers and MIME structure, for the header-aware featuriser.

    `text` is exactly what `email_parts` returns for the same bytes, so the subject and
    body words of featuriser spec version 2 are those of version 1. `headers` are the raw
    (undecoded, unfolded, length-capped) header fields in order; `parts` summarises the
    leaf MIME parts; `texts` holds the decoded source of every inline text part (HTML
    unstripped, every alternative), where links are looked for; `html_tags` and
    `html_words` count tags and the words outside tags over the HTML parts (regular
    expressions, linear time; script text counts as words).
    """

    text: EmailText
    headers: tuple[tuple[str, str], ...]
    parts: tuple[MimePart, ...]
    n_parts: int
    texts: tuple[str, ...]
    html_tags: int
    html_words: int
    header_8bit: bool
    parsed: bool
    """False if the MIME parser failed and the message was read as plain text."""
    caps_hit: frozenset[Cap] = field(default=frozenset())
    """The caps this e-mail hit (`MailLimits`); empty for ordinary mail."""

    @property
    def truncated(self) -> bool:
        """True if a cap cut something (report it: the features describe part of the mail)."""
        return bool(self.caps_hit)

    def header(self, name: str) -> str | None:
        """The first value of header `name` (case-insensitive), or None."""
        wanted = name.lower()
        for key, value in self.headers:
            if key.lower() == wanted:
                return value
        return None

    def header_values(self, name: str) -> list[str]:
        wanted = name.lower()
        return [value for key, value in self.headers if key.lower() == wanted]


def parse_email(
    raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES, limits: MailLimits = DEFAULT_LIMITS
) -> ParsedEmail:
    """Headers, MIME structure and text of a raw e-mail, capped by `limits` (flagged in
    `caps_hit`); raises only `EmailTooLargeError` (above `max_bytes`).

    Never raises on malformed input: what cannot be parsed is left out (a message the
    MIME parser rejects has no headers or parts, and its whole bytes are its body).
    """
    raw = _check_size(raw, max_bytes, "parse_email")
    limits = replace(limits, max_part_bytes=limits.part_bytes(max_bytes))
    capped = cap_email(raw, limits)
    raw = capped.raw
    hits = set(capped.caps_hit)
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
    except Exception:  # malformed input must never raise
        text = _unparsed_text(raw, limits, hits)
        caps = frozenset(hits)
        return ParsedEmail(text, (), (), 0, (text.body,), 0, 0, False, False, caps)
    text = _email_text(message, raw, limits, hits)
    headers: list[tuple[str, str]] = []
    header_8bit = False
    for name, value in list(message.raw_items())[:MAX_HEADERS]:
        value = _FOLDING.sub("", str(value))[:MAX_HEADER_CHARS]
        if not value.isascii():
            header_8bit = True
        headers.append((str(name), value))
    parts: list[MimePart] = []
    texts: list[str] = []
    counts = [0, 0, 0]  # leaf parts, html tags, html words
    with contextlib.suppress(Exception):  # a broken structure keeps what was read before it
        _walk_parts(message, 0, parts, texts, counts, limits, hits)
    return ParsedEmail(
        text=text,
        headers=tuple(headers),
        parts=tuple(parts),
        n_parts=counts[0],
        texts=tuple(texts),
        html_tags=counts[1],
        html_words=counts[2],
        header_8bit=header_8bit,
        parsed=True,
        caps_hit=frozenset(hits) | text.caps_hit,
    )


def _walk_parts(
    part: Message,
    depth: int,
    parts: list[MimePart],
    texts: list[str],
    counts: list[int],
    limits: MailLimits,
    hits: set[Cap],
) -> None:
    if depth > _MAX_MIME_DEPTH:
        return
    if part.is_multipart():
        children = part.get_payload()
        if isinstance(children, list):
            for child in children:
                if isinstance(child, Message):
                    _walk_parts(child, depth + 1, parts, texts, counts, limits, hits)
        return
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            _walk_parts(inner[0], depth + 1, parts, texts, counts, limits, hits)
        return
    counts[0] += 1
    if len(parts) >= MAX_PARTS:
        return
    attachment = _is_attachment(part)
    charset = _declared_charset(part)
    try:
        filename = part.get_filename()
    except Exception:
        filename = None
    encoding = str(part.get("Content-Transfer-Encoding", "7bit") or "7bit").strip().lower()
    payload = part.get_payload(decode=True)
    if not isinstance(payload, bytes):
        raw_payload = part.get_payload()
        payload = (
            raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
        )
    payload = _cap_part(payload, limits, hits)
    charset_ok = True
    if charset:
        try:
            codecs.lookup(charset)
            payload.decode(charset)
        except (LookupError, UnicodeDecodeError, ValueError):
            charset_ok = False
    parts.append(
        MimePart(
            content_type=content_type,
            charset=charset.lower() if charset else None,
            transfer_encoding=encoding[:40],
            is_attachment=attachment,
            filename=str(filename)[:255] if filename else None,
            charset_ok=charset_ok,
            has_8bit=not payload.isascii(),
        )
    )
    if content_type in _TEXT_TYPES and not attachment:
        decoded = _decode_bytes(payload, charset)
        texts.append(decoded)
        if content_type == "text/html":
            counts[1] += len(_HTML_TAG.findall(decoded))
            counts[2] += len(_HTML_TAG_SPAN.sub(" ", decoded).split())


# -- what kind of input is this -------------------------------------------------------

_HEADER_LINE = re.compile(rb"[\x21-\x39\x3b-\x7e]+[ \t]*:")
_BINARY_MAGIC = (
    b"\x7fELF",  # executables
    b"MZ",
    b"\xca\xfe\xba\xbe",
    b"\xcf\xfa\xed\xfe",
    b"%PDF-",
    b"PK\x03\x04",  # zip, docx, jar
    b"\x1f\x8b",  # gzip
    b"BZh",
    b"\xfd7zXZ\x00",
    b"7z\xbc\xaf\x27\x1c",
    b"Rar!",
    b"\x89PNG",
    b"GIF8",
    b"\xff\xd8\xff",  # JPEG
    b"SQLite format 3\x00",
)
_CONTROL_BYTES = bytes(b for b in range(32) if b not in b"\t\n\r\x0c\x1b") + b"\x7f"
_SNIFF_BYTES = 4096


class MailKind(StrEnum):
    """What a raw input looks like (`classify_input`); only EMAIL should be scored silently."""

    EMAIL = "email"
    EMPTY = "empty"
    """No bytes, or only whitespace."""
    BINARY = "binary"
    """A known binary file type, NUL bytes or mostly control bytes near the start."""
    NOT_EMAIL = "not-email"
    """Text whose first line is not a header field."""


def looks_like_email(head: bytes) -> bool:
    """True if the first line (after an optional mbox ``From `` line) is a header field."""
    if head.startswith(b"From "):
        _, _, head = head.partition(b"\n")
    return _HEADER_LINE.match(head) is not None


def classify_input(raw: bytes) -> MailKind:
    """EMAIL, EMPTY, BINARY or NOT_EMAIL, from the first 4 KiB only (constant time), so a
    client or server can warn about (and flag) input that is not an e-mail before scoring.
    A verdict on such input still means something only if the model was trained on it."""
    head = bytes(raw[:_SNIFF_BYTES])
    if not head.strip():
        return MailKind.EMPTY
    if head.startswith(_BINARY_MAGIC) or b"\x00" in head:
        return MailKind.BINARY
    if len(head.translate(None, _CONTROL_BYTES)) < 0.9 * len(head):
        return MailKind.BINARY
    return MailKind.EMAIL if looks_like_email(head.lstrip(b"\r\n")) else MailKind.NOT_EMAIL
