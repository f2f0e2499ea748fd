"""Term families of featuriser spec version 2: what headers and MIME structure say.

Each family is a function `ParsedEmail -> list of terms`; `sealdog.mail.featuriser`
documents every term (and what it reveals in vocabulary mode) and calls them. Every term
starts with its family's prefix and a dot (``from.``, ``url.``, ``mime.``, ``enc.``,
``subj.``, ``hdr.``), so no family term can equal a version-1 term (``s:``, ``w:``, ``b:``,
``n:``). Terms are bounded: counts become classes (``bit_length`` of the count, capped),
and the only sender-chosen strings that can appear are domain names and attachment
extensions, lower-cased and length-checked; every other header value is mapped onto a
fixed list here before it becomes a term.

Registered domain (`registered_domain`), without the Public Suffix List (no download, no
dependency): the last two labels of the host name, or the last three when the last label
is a two-letter country code and the second-to-last is one of `SECOND_LEVEL_LABELS` (the
generic second levels that countries use: ``co.uk``, ``com.au``, ``ne.jp``, ...). So
``a.b.example.co.uk`` -> ``example.co.uk``, ``mail.example.com`` -> ``example.com``. It is
wrong for private suffixes (``blogspot.com``, ``github.io``) and rarer public ones, where it
groups all sites under the suffix; the host-name term still tells them apart. (On PyPI,
``tldextract`` and ``publicsuffixlist`` do this exactly from a bundled copy of the list and
can work offline, but a copy goes stale and a version change would change features, so
the spec would have to pin it; the simple rule is enough for a count feature.)
"""

from __future__ import annotations

import codecs
import email.utils
import re
from collections.abc import Callable
from urllib.parse import unquote

from sealdog.mail.message import ParsedEmail

SECOND_LEVEL_LABELS = frozenset(
    "ac co com edu gov net org mil nom sch ltd plc ne or go gob gv info biz".split()  # noqa: SIM905
)
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9-]{0,62})(?:\.[a-z0-9](?:[a-z0-9-]{0,62}))*")
_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")
_URL = re.compile(
    r"(?i)(?:\b(?:https?|ftp)://([^\s/?#\"'<>\\()]{1,300})|\bwww\.([a-z0-9.-]{1,250}))"
)
_ENCODED_WORD = re.compile(r"=\?[^?\s]{1,40}\?([bBqQ])\?")
_EXTENSION = re.compile(r"[a-z0-9]{1,8}")
_MIME_TOKEN = re.compile(r"[a-z0-9][a-z0-9.+-]{0,39}")
_MAINTYPES = frozenset(
    ("text", "image", "audio", "video", "application", "message", "multipart", "font", "model")
)
_TRANSFER_ENCODINGS = frozenset(("7bit", "8bit", "binary", "base64", "quoted-printable"))
_MAX_CLASS = 8

MAILER_FAMILIES: tuple[tuple[str, str], ...] = (
    ("outlook express", "outlook-express"),
    ("outlook", "outlook"),
    ("microsoft", "microsoft"),
    ("thunderbird", "mozilla"),
    ("mozilla", "mozilla"),
    ("netscape", "mozilla"),
    ("apple mail", "apple"),
    ("iphone mail", "apple"),
    ("mutt", "mutt"),
    ("alpine", "pine"),
    ("pine", "pine"),
    ("evolution", "evolution"),
    ("kmail", "kmail"),
    ("eudora", "eudora"),
    ("lotus notes", "lotus"),
    ("pegasus", "pegasus"),
    ("the bat", "the-bat"),
    ("sylpheed", "sylpheed"),
    ("gnus", "gnus"),
    ("exmh", "exmh"),
    ("squirrelmail", "webmail"),
    ("horde", "webmail"),
    ("roundcube", "webmail"),
    ("yahoo", "yahoo"),
    ("hotmail", "hotmail"),
    ("aol", "aol"),
    ("php", "script"),
    ("perl", "script"),
    ("python", "script"),
    ("java", "script"),
)
"""X-Mailer / User-Agent value (lower-cased) contains the first string -> family; no
match is ``other``, no header is ``none``. The only values ``hdr.mailer:`` can take."""

PRESENCE_HEADERS: tuple[str, ...] = (
    "list-id",
    "list-unsubscribe",
    "in-reply-to",
    "references",
    "organization",
    "mime-version",
    "x-originating-ip",
    "x-mailing-list",
    "dkim-signature",
    "disposition-notification-to",
    "errors-to",
    "x-beenthere",
)
"""Headers whose presence is a term (``hdr.has:<name>``); their values are never read."""
REQUIRED_HEADERS: tuple[str, ...] = ("date", "message-id", "to", "subject")
"""Headers whose absence is a term (``hdr.no:<name>``)."""


def count_class(n: int, cap: int = _MAX_CLASS) -> int:
    """``bit_length`` of a count, capped: 0 -> 0, 1 -> 1, 2-3 -> 2, 4-7 -> 3, ..."""
    return min(max(n, 0).bit_length(), cap)


def clean_host(value: str) -> str | None:
    """A lower-case host name, or None if `value` is not one (IP literals included)."""
    host = value.strip().strip(".").lower()
    if len(host) > 253 or not _HOST.fullmatch(host) or "." not in host:
        return None
    return host


def registered_domain(host: str) -> str:
    """The registered domain of a clean host name by the simple rule of the module doc."""
    labels = host.split(".")
    if len(labels) >= 3 and len(labels[-1]) == 2 and labels[-2] in SECOND_LEVEL_LABELS:
        return ".".join(labels[-3:])
    return ".".join(labels[-2:])


_MAX_COMMENT_NESTING = 32


def _too_nested(value: str) -> bool:
    """True if `value` nests parentheses deeper than `_MAX_COMMENT_NESTING`: the standard
    library's address parser recurses once per level (``From: (((...`` x 4000 raised
    RecursionError), and where it would give up depends on the caller's stack, so such a
    value is treated as no address at all, the same on every machine."""
    depth = 0
    for char in value:
        if char == "(":
            depth += 1
            if depth > _MAX_COMMENT_NESTING:
                return True
        elif char == ")" and depth:
            depth -= 1
    return False


def _parseaddr(value: str) -> tuple[str, str]:
    return ("", "") if _too_nested(value) else email.utils.parseaddr(value)


def _address_domain(value: str | None) -> str | None:
    if not value:
        return None
    _, address = _parseaddr(value)
    if "@" not in address:
        return None
    return clean_host(address.rpartition("@")[2].strip("<>[] "))


_MAX_RECIPIENT_CHARS = 16 * 1024


def _addresses(values: list[str]) -> int:
    """Addresses in To/Cc values, read from the first 16 KiB of them (whole values only):
    the count becomes a class that is the same for every count >= 32, and the parser is
    slow on crafted values (``<`` x 256 KiB took 0.7 s)."""
    kept: list[str] = []
    total = 0
    for value in values:
        total += len(value)
        if kept and total > _MAX_RECIPIENT_CHARS:
            break
        if not _too_nested(value):
            kept.append(value)
    return sum(1 for _, addr in email.utils.getaddresses(kept) if "@" in addr)


def sender_terms(parsed: ParsedEmail) -> list[str]:
    """``from.*`` (sender and reply-to domains, recipients, mismatches); see featuriser doc."""
    out: list[str] = []
    from_value = parsed.header("from")
    from_domain = _address_domain(from_value)
    from_reg = registered_domain(from_domain) if from_domain else None
    if from_domain and from_reg:
        out += [f"from.domain:{from_domain}", f"from.reg:{from_reg}"]
    else:
        out.append("from.none")
    if from_value:
        display, address = _parseaddr(from_value)
        if "@" in display and address.lower() not in display.lower():
            out.append("from.mismatch:display-name")
    reply_domain = _address_domain(parsed.header("reply-to"))
    if reply_domain:
        reply_reg = registered_domain(reply_domain)
        out += [f"from.reply-to-domain:{reply_domain}", f"from.reply-to-reg:{reply_reg}"]
        if from_reg and reply_reg != from_reg:
            out.append("from.mismatch:reply-to")
    return_domain = _address_domain(parsed.header("return-path"))
    if return_domain and from_reg and registered_domain(return_domain) != from_reg:
        out.append("from.mismatch:return-path")
    recipients = _addresses(parsed.header_values("to") + parsed.header_values("cc"))
    out.append(f"from.recipients:{count_class(recipients, 6)}")
    return out


def url_terms(parsed: ParsedEmail) -> list[str]:
    """``url.*`` (link hosts, registered domains, IP links, link count class)."""
    hosts: set[str] = set()
    urls: set[str] = set()
    ip_links = False
    for text in parsed.texts:
        for match in _URL.finditer(text):
            urls.add(match.group(0).lower())
            if match.group(1) is not None:
                host = unquote(match.group(1)).rpartition("@")[2].partition(":")[0]
            else:
                host = "www." + match.group(2)
            if _IPV4.fullmatch(host.strip(".")):
                ip_links = True
                continue
            cleaned = clean_host(host)
            if cleaned:
                hosts.add(cleaned)
    out = [f"url.links:{count_class(len(urls))}"]
    for host in sorted(hosts):
        out.append(f"url.host:{host}")
    out.extend(f"url.reg:{reg}" for reg in sorted({registered_domain(h) for h in hosts}))
    if ip_links:
        out.append("url.ip")
    return out


def _mime_type(content_type: str) -> str:
    maintype, _, subtype = content_type.partition("/")
    if maintype in _MAINTYPES and _MIME_TOKEN.fullmatch(subtype):
        return content_type
    return "other"


def mime_terms(parsed: ParsedEmail) -> list[str]:
    """``mime.*`` (content types, plain/HTML, attachment types, part count, tag ratio)."""
    inline = [p for p in parsed.parts if not p.is_attachment]
    has_plain = any(p.content_type == "text/plain" for p in inline)
    has_html = any(p.content_type == "text/html" for p in inline)
    body = {
        (True, True): "both",
        (True, False): "plain",
        (False, True): "html-only",
        (False, False): "none",
    }
    out = [f"mime.body:{body[(has_plain, has_html)]}", f"mime.parts:{count_class(parsed.n_parts)}"]
    out.extend(f"mime.type:{t}" for t in sorted({_mime_type(p.content_type) for p in parsed.parts}))
    attachments = [p for p in parsed.parts if p.is_attachment]
    if attachments:
        out.append(f"mime.attachments:{count_class(len(attachments), 4)}")
        kinds = set()
        for part in attachments:
            ext = (
                (part.filename or "").rpartition(".")[2].lower()
                if "." in (part.filename or "")
                else ""
            )
            kinds.add(ext if _EXTENSION.fullmatch(ext) else "noext")
        out.extend(f"mime.attachment:{k}" for k in sorted(kinds))
    if has_html:
        ratio = (4 * parsed.html_tags) // (parsed.html_words + 1)
        out.append(f"mime.html-tag-ratio:{count_class(ratio)}")
    return out


def _charset_name(charset: str) -> str:
    try:
        return codecs.lookup(charset).name
    except LookupError:
        return "unknown"


def encoding_terms(parsed: ParsedEmail) -> list[str]:
    """``enc.*`` (charsets, transfer encodings, 8-bit and encoded-word oddities)."""
    out: set[str] = set()
    for part in parsed.parts:
        if part.charset:
            out.add(f"enc.charset:{_charset_name(part.charset)}")
            if not part.charset_ok:
                out.add("enc.bad-charset")
        elif part.has_8bit and part.content_type.startswith("text/"):
            out.add("enc.undeclared-8bit")
        cte = part.transfer_encoding
        out.add(f"enc.cte:{cte if cte in _TRANSFER_ENCODINGS else 'other'}")
        if cte == "base64" and part.content_type.startswith("text/") and not part.is_attachment:
            out.add("enc.text-base64")
    if parsed.header_8bit:
        out.add("enc.8bit-headers")
    for name in ("subject", "from"):
        for kind in {m.group(1).lower() for m in _ENCODED_WORD.finditer(parsed.header(name) or "")}:
            out.add(f"enc.encoded-{name}:{kind}")
    if not parsed.parsed:
        out.add("enc.unparsable")
    return sorted(out)


def subject_terms(parsed: ParsedEmail) -> list[str]:
    """``subj.*`` (capitals, punctuation, reply/forward prefix, empty subject)."""
    subject = parsed.text.subject
    if not subject.strip():
        return ["subj.empty"]
    out: list[str] = []
    letters = [c for c in subject if c.isalpha()]
    if len(letters) < 4:
        out.append("subj.caps:short")
    else:
        upper = sum(1 for c in letters if c.isupper()) / len(letters)
        caps = (
            "all" if upper >= 0.9 else "most" if upper >= 0.5 else "some" if upper >= 0.2 else "few"
        )
        out.append(f"subj.caps:{caps}")
    bangs = subject.count("!") + subject.count("?")
    out.append(f"subj.punct:{count_class(bangs, 3)}")
    if "$" in subject or "%" in subject:
        out.append("subj.money")
    head = subject.lstrip().lower()
    if head.startswith(("re:", "re :", "aw:", "sv:")):
        out.append("subj.prefix:re")
    elif head.startswith(("fwd:", "fw:", "wg:")):
        out.append("subj.prefix:fwd")
    return out


def _mailer_family(value: str | None) -> str:
    if value is None:
        return "none"
    low = value.lower()
    for needle, family in MAILER_FAMILIES:
        if needle in low:
            return family
    return "other"


def header_terms(parsed: ParsedEmail) -> list[str]:
    """``hdr.*`` (mailer family, presence/absence of listed headers, priority, hops)."""
    names = {name.lower() for name, _ in parsed.headers}
    mailer = parsed.header("x-mailer") or parsed.header("user-agent")
    out = [f"hdr.mailer:{_mailer_family(mailer)}"]
    out.extend(f"hdr.has:{name}" for name in PRESENCE_HEADERS if name in names)
    out.extend(f"hdr.no:{name}" for name in REQUIRED_HEADERS if name not in names)
    priority = (parsed.header("x-priority") or "").strip()[:1]
    ms_priority = (parsed.header("x-msmail-priority") or "").strip().lower()
    if priority in ("1", "2") or ms_priority.startswith("high"):
        out.append("hdr.priority:high")
    precedence = (parsed.header("precedence") or "").strip().lower()
    if precedence:
        out.append(
            f"hdr.precedence:{precedence if precedence in ('bulk', 'list', 'junk') else 'other'}"
        )
    out.append(f"hdr.received:{count_class(len(parsed.header_values('received')), 5)}")
    from_domain = _address_domain(parsed.header("from"))
    message_id = parsed.header("message-id") or ""
    id_domain = (
        clean_host(message_id.strip().strip("<>").rpartition("@")[2]) if "@" in message_id else None
    )
    if from_domain and id_domain:
        same = registered_domain(id_domain) == registered_domain(from_domain)
        out.append(f"hdr.message-id-domain:{'from' if same else 'other'}")
    return out


FAMILY_TERMS: dict[str, Callable[[ParsedEmail], list[str]]] = {
    "sender": sender_terms,
    "urls": url_terms,
    "mime": mime_terms,
    "encoding": encoding_terms,
    "subject": subject_terms,
    "headers": header_terms,
}
"""Family name -> term function, in the order their terms are appended."""
