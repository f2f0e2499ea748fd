"""E-mail parsing on hand-written samples: every shape the issue lists, and no input makes it
raise."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail.errors import MailError
from sealdog.mail.message import (
    DEFAULT_MAX_EMAIL_BYTES,
    EmailText,
    EmailTooLargeError,
    email_parts,
    email_to_text,
)

MULTIPART_ALTERNATIVE = b"""From: a@example.com
To: b@example.com
Subject: Quarterly numbers
MIME-Version: 1.0
Content-Type: multipart/alternative; boundary="XYZ"

--XYZ
Content-Type: text/plain; charset=utf-8

plainversion words here
--XYZ
Content-Type: text/html; charset=utf-8

<html><body><p>htmlversion <b>bold</b>words</p></body></html>
--XYZ--
"""

HTML_ONLY = b"""Subject: Offer
Content-Type: text/html; charset=us-ascii

<html><head><title>t</title><style>p {color: red}</style></head>
<body><script>var hidden = 1;</script><p>Click&nbsp;<a href="http://x">here</a> now</p></body></html>
"""  # noqa: E501 (one HTML line, as sent)

BASE64_BODY = (
    b"Subject: encoded\nContent-Type: text/plain; charset=utf-8\n"
    b"Content-Transfer-Encoding: base64\n\n"
    + base64.encodebytes("Grüße aus Zürich, wire €500 today".encode())
)

LATIN1_NO_CHARSET = (
    b"Subject: caf\xe9 menu\n\nna\xefve r\xe9sum\xe9 for the cr\xe8me br\xfbl\xe9e\n"
)

BROKEN_HEADERS = (
    b"Subject: =?utf-8?q?unterminated\nFrom\nTo: <<<>>>\n"
    b'Content-Type: text/plain; charset="no-such-charset"\n'
    b"Content-Transfer-Encoding: base64\n\nthis is !!! not base64 at all\n"
)

QUOTED_PRINTABLE = (
    b"Subject: qp\nContent-Type: text/plain; charset=iso-8859-1\n"
    b"Content-Transfer-Encoding: quoted-printable\n\nprix sp=E9cial =\nsoft break\n"
)


def test_multipart_alternative_takes_the_richest_part_once() -> None:
    parts = email_parts(MULTIPART_ALTERNATIVE)
    assert parts.subject == "Quarterly numbers"
    assert "htmlversion" in parts.body and "bold" in parts.body
    assert "plainversion" not in parts.body  # the preferred (last) alternative only


def test_html_only_drops_markup_scripts_and_styles() -> None:
    text = email_to_text(HTML_ONLY)
    assert text.startswith("Subject: Offer\n\n")
    assert "Click here now" in text
    assert "hidden" not in text and "color" not in text and "<" not in text


def test_base64_body_is_decoded() -> None:
    assert email_parts(BASE64_BODY).body == "Grüße aus Zürich, wire €500 today"


def test_latin1_without_charset_falls_back_to_cp1252() -> None:
    parts = email_parts(LATIN1_NO_CHARSET)
    assert parts.subject == "café menu"
    assert parts.body == "naïve résumé for the crème brûlée"


def test_quoted_printable_with_declared_charset() -> None:
    assert email_parts(QUOTED_PRINTABLE).body == "prix spécial soft break"


def test_broken_headers_do_not_raise() -> None:
    parts = email_parts(BROKEN_HEADERS)
    assert "unterminated" in parts.subject
    assert isinstance(parts.body, str)


def test_empty_message() -> None:
    assert email_to_text(b"") == "Subject: \n\n"


def test_non_utf8_bytes() -> None:
    parts = email_parts(b"\xff\xfe\x00\x81garbage \x9d\x80 bytes\n\n\xc3\x28 body")
    assert "garbage" in parts.body + parts.subject


def test_enron_style_file_without_mime_headers() -> None:
    parts = email_parts(b"Subject: christmas tree farm pictures\r\nsee attached , thanks\r\n")
    assert parts.subject == "christmas tree farm pictures"
    assert parts.body == "see attached , thanks"


def test_nested_message_and_attachment() -> None:
    raw = b"""Subject: fwd
Content-Type: multipart/mixed; boundary="B"

--B
Content-Type: text/plain

outer words
--B
Content-Type: message/rfc822

Subject: inner subject

inner words
--B
Content-Type: text/plain
Content-Disposition: attachment; filename="log.txt"

attachmentwords
--B
Content-Type: application/octet-stream
Content-Transfer-Encoding: base64

AAECAwQ=
--B--
"""
    body = email_parts(raw).body
    assert "outer words" in body and "inner subject" in body and "inner words" in body
    assert "attachmentwords" not in body


def test_size_cap_on_a_20_mb_message() -> None:
    line = b"lorem ipsum dolor sit amet consectetur adipiscing elit\n"
    raw = b"Subject: big\n\n" + line * (20 * 1024 * 1024 // len(line) + 1)
    assert len(raw) > 20 * 1024 * 1024 > DEFAULT_MAX_EMAIL_BYTES
    with pytest.raises(EmailTooLargeError, match="cap") as info:
        email_parts(raw)
    assert isinstance(info.value, MailError)  # the CLI contract maps it like a SealdogError
    parts = email_parts(raw, max_bytes=32 * 1024 * 1024)  # a raised cap parses it
    assert parts.subject == "big"
    assert parts.body.count("lorem") == 20 * 1024 * 1024 // len(line) + 1


def test_text_round_trip() -> None:
    parts = EmailText(subject="Hello there", body="line one\nline two")
    assert EmailText.from_text(parts.as_text()) == parts
    assert EmailText.from_text("no subject line") == EmailText("", "no subject line")


def test_samples_parse_with_their_subjects() -> None:
    samples = load_samples()
    assert len(samples) == 40 and sum(s.label for s in samples) == 20
    for sample in samples:
        parts = email_parts(sample.raw)
        assert parts.subject and len(parts.body.split()) >= 10, sample.name
        assert "<p>" not in parts.body and "PGh0" not in parts.body


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(raw: bytes) -> None:
    assert isinstance(email_to_text(raw), str)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.sampled_from(
            [
                b"Subject: ",
                b"Content-Type: ",
                b"multipart/mixed; boundary=x",
                b"--x\n",
                b"--x--",
                b"text/html",
                b"Content-Transfer-Encoding: base64",
                b"quoted-printable",
                b"=?utf-8?b?",
                b"charset=",
                b"\n",
                b"\r\n",
                b"<p>",
                b"\xff",
                b"=E9",
                b"message/rfc822",
            ]
        ),
        max_size=60,
    )
)
def test_mime_like_garbage_never_raises(pieces: list[bytes]) -> None:
    assert isinstance(email_to_text(b"".join(pieces)), str)


def test_classify_input_tells_mail_from_junk() -> None:
    from sealdog.mail.message import MailKind, classify_input, looks_like_email

    elf = b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4
    assert classify_input(elf) == MailKind.BINARY
    assert classify_input(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n") == MailKind.BINARY
    assert classify_input(b"Subject: x\n\n\x00\x00") == MailKind.BINARY  # NUL near the start
    assert classify_input(bytes(range(1, 32)) * 20) == MailKind.BINARY
    assert classify_input(b"") == MailKind.EMPTY
    assert classify_input(b" \r\n\t\n") == MailKind.EMPTY
    assert classify_input(b"Hello there, no headers\n") == MailKind.NOT_EMAIL
    assert classify_input(b"\r\nSubject: late\n\nbody\n") == MailKind.EMAIL
    for sample in load_samples():
        assert classify_input(sample.raw) == MailKind.EMAIL, sample.name
    assert looks_like_email(b"From a@b Mon Jan  1 00:00:00 2001\nSubject: x\n")
    assert classify_input(b"x" * 10_000_000 + b"\x00") == MailKind.NOT_EMAIL  # reads 4 KiB


def test_corpora_uses_the_same_looks_like_email() -> None:
    from sealdog.mail import corpora, message

    assert corpora.looks_like_email is message.looks_like_email
