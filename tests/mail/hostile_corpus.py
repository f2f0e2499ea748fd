"""Hostile e-mails, generated: every construction issue 13 reproduced, at any size.

Shared by tests/mail/test_hostile_mail.py and bench/hostile_mail.py. `build(name, size)`
returns a raw e-mail of about `size` bytes (never less than the construction needs);
`ordinary(size)` is the baseline: a plain multipart/alternative newsletter of that size.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

HEAD = b"From: a@example.com\nTo: b@example.org\nDate: Mon, 1 Jan 2001 00:00:00 +0000\n"


def _fill(unit: bytes, size: int) -> bytes:
    return unit * max(1, size // len(unit))


def _html(body: bytes) -> bytes:
    return HEAD + b"Subject: html\nContent-Type: text/html; charset=utf-8\n\n" + body + b"\n"


def comments(size: int) -> bytes:
    return _html(b"<p>hello</p>" + _fill(b"<!--", size))


def unclosed_tags(size: int) -> bytes:
    return _html(_fill(b"<a x=", size))


def unclosed_quotes(size: int) -> bytes:
    return _html(_fill(b"<a x='<a y=\"", size))


def html_tags(size: int) -> bytes:
    return _html(_fill(b"<b>x</b><i>y</i>", size // 2) + _fill(b"&amp;&#65;&nbsp", size // 2))


def void_elements(size: int) -> bytes:
    return _html(_fill(b"<br>", size // 2) + _fill(b"</b>", size // 2))


def mime_params(size: int) -> bytes:
    return HEAD + b"Subject: p\nContent-Type: text/plain; " + _fill(b"a=b; ", size) + b"\n\nhi\n"


def folded_params(size: int) -> bytes:
    return HEAD + b"Subject: p\nContent-Type: text/plain;\n" + _fill(b" a=b;\n", size) + b"\nhi\n"


def folded_header(size: int) -> bytes:
    return HEAD + b"Subject: x" + _fill(b"\n a", size) + b"\n\nbody words\n"


def long_header(size: int) -> bytes:
    return HEAD + b"Subject: s\nX-Long: " + _fill(b"a", size) + b"\n\nbody words\n"


def header_fields(size: int) -> bytes:
    return HEAD + b"Subject: s\n" + _fill(b"X-A: b\n", size) + b"\nbody words\n"


def encoded_words(size: int) -> bytes:
    return HEAD + b"Subject: " + _fill(b"=?utf-8?q?a?= ", size) + b"\n\nbody words\n"


def many_parts(size: int) -> bytes:
    part = b"--b\nContent-Type: text/plain\n\nx\n"
    return (
        HEAD
        + b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n"
        + _fill(part, size)
        + b"--b--\n"
    )


def deep_nesting(size: int) -> bytes:
    depth = max(1, size // 60)
    opens = b"".join(
        b"--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n" % (i, i + 1) for i in range(depth)
    )
    top = HEAD + b"Subject: s\nContent-Type: multipart/mixed; boundary=b0\n\n"
    return top + opens + b"--b%d\nContent-Type: text/plain\n\ndeep words\n" % depth


def nested_comments(size: int) -> bytes:
    field = b"From: " + b"(" * 4000 + b"\nTo: " + b"(" * 4000 + b"\n"
    return HEAD + b"Subject: s\n" + _fill(field, size) + b"\nbody words\n"


def angle_brackets(size: int) -> bytes:
    return HEAD + b"Subject: s\n" + _fill(b"To: " + b"<" * 4000 + b"\n", size) + b"\nbody\n"


def long_line(size: int) -> bytes:
    return HEAD + b"Subject: s\n\n" + _fill(b"word", size)


def nuls(size: int) -> bytes:
    return HEAD + b"Subject: s\n\n" + b"\x00" * size


def bad_charsets(size: int) -> bytes:
    part = b"--b\nContent-Type: text/plain; charset=x-no-such-%d\n\ncaf\xe9 \xff\xfe\n"
    count = max(1, size // 60)
    body = b"".join(part % i for i in range(count))
    return HEAD + b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n" + body + b"--b--\n"


def big_attachment(size: int) -> bytes:
    data = base64.encodebytes(b"\x89PNG" + b"\x00\x01" * (size * 3 // 8))
    return (
        HEAD
        + b"Subject: s\nContent-Type: multipart/mixed; boundary=b\n\n--b\n"
        + b"Content-Type: text/plain\n\nsee attached\n--b\n"
        + b"Content-Type: image/png; name=a.png\nContent-Transfer-Encoding: base64\n"
        + b"Content-Disposition: attachment; filename=a.png\n\n"
        + data
        + b"--b--\n"
    )


CONSTRUCTIONS: dict[str, Callable[[int], bytes]] = {
    "comments": comments,
    "unclosed_tags": unclosed_tags,
    "unclosed_quotes": unclosed_quotes,
    "html_tags": html_tags,
    "void_elements": void_elements,
    "mime_params": mime_params,
    "folded_params": folded_params,
    "folded_header": folded_header,
    "long_header": long_header,
    "header_fields": header_fields,
    "encoded_words": encoded_words,
    "many_parts": many_parts,
    "deep_nesting": deep_nesting,
    "nested_comments": nested_comments,
    "angle_brackets": angle_brackets,
    "long_line": long_line,
    "nuls": nuls,
    "bad_charsets": bad_charsets,
    "big_attachment": big_attachment,
}


def build(name: str, size: int) -> bytes:
    return CONSTRUCTIONS[name](size)


def ordinary(size: int) -> bytes:
    """A benign newsletter of about `size` bytes: plain and HTML alternatives."""
    para = b"Dear reader, our quarterly numbers are in and the team did great work. "
    html_para = b"<p>Dear reader, <b>our</b> quarterly <a href='http://x.example/'>numbers</a>"
    html_para += b" are in &amp; the team did great work.</p>\n"
    half = max(1, size // 2)
    return (
        HEAD
        + b"Subject: Quarterly newsletter\nMIME-Version: 1.0\n"
        + b"Content-Type: multipart/alternative; boundary=XX\n\n--XX\n"
        + b"Content-Type: text/plain; charset=utf-8\n\n"
        + _fill(para + b"\n", half)
        + b"\n--XX\nContent-Type: text/html; charset=utf-8\n\n<html><body>"
        + _fill(html_para, half)
        + b"</body></html>\n--XX--\n"
    )
