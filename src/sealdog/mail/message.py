"""Raw e-mail bytes to plain text: the first step of every scoring, on trainer and server alike.

The parser is the standard library's `email` package (`policy.default`); HTML parts go
through BeautifulSoup's built-in `html.parser`. It never raises on malformed input: a
message the MIME parser cannot make sense of is read as text, undecodable bytes become
U+FFFD. The one error it does raise is `EmailTooLargeError`, before parsing, so a huge
message cannot eat the server's memory or time.

Output format (`email_to_text`): the first line is ``Subject: <subject>`` (always present,
possibly empty), then an empty line, then the body text. `sealdog.mail.featuriser`
relies on this layout to tell subject words from body words.
"""

from __future__ import annotations

import codecs
import email
import email.header
import email.policy
import re
import warnings
from dataclasses import dataclass
from email.message import Message

from sealdog.mail.errors import EmailTooLargeError

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


def email_to_text(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES) -> str:
    """The subject and the readable text of a raw e-mail, as one string (see module doc)."""
    return email_parts(raw, max_bytes=max_bytes).as_text()


def email_parts(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES) -> EmailText:
    """Subject and body text of a raw e-mail; raises only `EmailTooLargeError`."""
    if not isinstance(raw, (bytes, bytearray, memoryview)):
        raise TypeError(f"email_parts expects bytes, got {type(raw).__name__}")
    raw = bytes(raw)
    if len(raw) > max_bytes:
        raise EmailTooLargeError(
            f"e-mail is {len(raw):,} bytes, above the {max_bytes:,}-byte cap; "
            "raise the cap (max_bytes / --max-email-bytes) if such messages are expected"
        )
    try:
        message = email.message_from_bytes(raw, policy=email.policy.default)
        subject = _subject(message)
        body = "\n".join(chunk for chunk in _part_texts(message, depth=0) if chunk)
    except Exception:  # noqa: BLE001 - malformed input must never raise
        return EmailText(subject="", body=_tidy(_decode_bytes(raw, None)))
    return EmailText(subject=_tidy(subject).replace("\n", " "), body=_tidy(body))


def _subject(message: Message) -> str:
    """The Subject header, decoded (encoded-words, or raw 8-bit bytes in any charset)."""
    raw_value = None
    for name, value in message.raw_items():  # type: ignore[attr-defined]
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
    except Exception:  # noqa: BLE001 - broken encoded-words etc.: decode them leniently
        return _decode_header_leniently(raw_value)


def _decode_header_leniently(raw_value: str) -> str:
    try:
        parts = email.header.decode_header(raw_value)
        return "".join(_decode_bytes(p, c) if isinstance(p, bytes) else p for p, c in parts)
    except Exception:  # noqa: BLE001
        return raw_value


def _part_texts(part: Message, depth: int) -> list[str]:
    """Readable text of one MIME part, recursively; attachments and binary parts yield nothing."""
    if depth > _MAX_MIME_DEPTH:
        return []
    content_type = part.get_content_type()
    if content_type == "message/rfc822":
        inner = part.get_payload()
        if isinstance(inner, list) and inner and isinstance(inner[0], Message):
            return [_subject(inner[0]), *_part_texts(inner[0], depth + 1)]
        return []
    if part.is_multipart():
        children = part.get_payload()
        if not isinstance(children, list):
            return []
        if content_type == "multipart/alternative":
            # RFC 2046: alternatives are in increasing order of faithfulness; take the
            # last one that yields text, so the same words are not counted twice.
            for child in reversed(children):
                texts = _part_texts(child, depth + 1)
                if any(t.strip() for t in texts):
                    return texts
            return []
        texts: list[str] = []
        for child in children:
            texts.extend(_part_texts(child, depth + 1))
        return texts
    if content_type not in _TEXT_TYPES:
        return []
    if _is_attachment(part):
        return []
    payload = part.get_payload(decode=True)
    if payload is None:
        raw_payload = part.get_payload()
        payload = raw_payload.encode("utf-8", "surrogateescape") if isinstance(raw_payload, str) else b""
    text = _decode_bytes(payload, _declared_charset(part))
    if content_type == "text/html":
        text = html_to_text(text)
    return [text]


def _is_attachment(part: Message) -> bool:
    try:
        return part.get_content_disposition() == "attachment"
    except Exception:  # noqa: BLE001
        return False


def _declared_charset(part: Message) -> str | None:
    try:
        return part.get_content_charset()
    except Exception:  # noqa: BLE001
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


def html_to_text(html: str) -> str:
    """Visible text of an HTML document (scripts and styles dropped), words kept apart."""
    from bs4 import BeautifulSoup, MarkupResemblesLocatorWarning

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", MarkupResemblesLocatorWarning)
        soup = BeautifulSoup(html, "html.parser")
    for element in soup(["script", "style", "head"]):
        element.decompose()
    return soup.get_text(" ")


def _tidy(text: str) -> str:
    """Normalise line ends and runs of blanks; keeps the words and their order."""
    text = text.replace("\r\n", "\n").replace("\r", "\n").replace("\x00", " ")
    lines = (_WHITESPACE_RUN.sub(" ", line).strip() for line in text.split("\n"))
    return "\n".join(line for line in lines if line)
