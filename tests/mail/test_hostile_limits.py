"""The raw-byte caps (`sealdog.mail.limits`): ordinary mail passes untouched (the same
bytes object), each cap cuts only what is over it and says so, nothing raises."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail.limits import Cap, MailLimits, cap_email
from sealdog.mail.message import email_parts, parse_email

NESTED = b"""From: a@example.com
Subject: nested
Content-Type: multipart/mixed; boundary="Outer-B"

--Outer-B
Content-Type: multipart/alternative; boundary=inner

--inner
Content-Type: text/plain

plain words
--inner
Content-Type: text/html

<p>html words</p>
--inner--
--Outer-B
Content-Type: message/rfc822

Subject: forwarded
Content-Type: text/plain

forwarded words
--Outer-B--
"""


def test_every_sample_passes_unchanged() -> None:
    for sample in load_samples():
        capped = cap_email(sample.raw)
        assert capped.raw is sample.raw and not capped.truncated, sample.name


def test_nested_structure_under_the_caps_is_untouched() -> None:
    assert cap_email(NESTED).raw is NESTED
    parts = email_parts(NESTED)
    assert "html words" in parts.body and "forwarded words" in parts.body
    assert not parts.truncated


def test_parts_cap_counts_delimiters_and_cuts_before_the_next_part() -> None:
    capped = cap_email(NESTED, MailLimits(max_parts=3))
    assert capped.caps_hit == {Cap.PARTS}
    assert b"html words" in capped.raw and b"forwarded words" not in capped.raw
    parts = email_parts(NESTED, limits=MailLimits(max_parts=3))
    assert "html words" in parts.body and parts.truncated


def test_depth_cap() -> None:
    capped = cap_email(NESTED, MailLimits(max_depth=1))
    assert capped.caps_hit == {Cap.DEPTH}
    assert b"plain words" not in capped.raw


def test_boundaries_are_case_sensitive_like_the_parser() -> None:
    raw = NESTED.replace(b"--Outer-B\nContent-Type: message", b"--outer-b\nContent-Type: message")
    # "--outer-b" is not a delimiter: no extra part is counted, nothing is cut
    assert cap_email(raw, MailLimits(max_parts=4)).raw is raw


def test_subject_cap_keeps_the_start_of_the_subject() -> None:
    raw = b"Subject: " + b"win " * 1000 + b"\n\nbody\n"
    parts = email_parts(raw)
    assert parts.caps_hit == {Cap.SUBJECT_CHARS}
    assert parts.subject.startswith("win win") and len(parts.subject) < 2048
    assert parts.body == "body"


def test_mime_params_cap_keeps_the_first_parameters() -> None:
    raw = b"Content-Type: text/plain; charset=iso-8859-1; " + b"a=b; " * 40 + b"\n\ncaf\xe9\n"
    parsed = parse_email(raw)
    assert parsed.caps_hit == {Cap.MIME_FIELD}
    assert parsed.parts[0].charset == "iso-8859-1" and parsed.text.body == "caf\u00e9"


def test_header_field_count_and_bytes() -> None:
    raw = b"Subject: s\n" + b"X-A: b\n" * 50 + b"\nbody\n"
    parsed = parse_email(raw, limits=MailLimits(max_header_fields=10))
    assert parsed.caps_hit == {Cap.HEADER_FIELDS} and len(parsed.headers) == 10
    assert parsed.text.body == "body"
    parsed = parse_email(raw, limits=MailLimits(max_header_bytes=100))
    assert parsed.caps_hit == {Cap.HEADER_BYTES} and parsed.text.body == "body"


def test_part_and_html_caps_flag_the_email() -> None:
    raw = b"Subject: s\nContent-Type: text/html\n\n<p>" + "é".encode() * 100 + b"</p>\n"
    parts = email_parts(raw, limits=MailLimits(max_part_bytes=51))
    assert parts.caps_hit == {Cap.PART_BYTES}
    assert parts.body == "é" * 24  # 51 bytes: "<p>" and 24 whole characters
    parts = email_parts(raw, limits=MailLimits(max_part_bytes=52))
    assert parts.body == "é" * 24  # the split 25th is left out: the rest is still UTF-8
    parts = email_parts(raw, limits=MailLimits(max_html_chars=10))
    assert parts.caps_hit == {Cap.HTML_CHARS} and parts.body == "é" * 7


def test_limits_are_validated() -> None:
    with pytest.raises(ValueError, match="max_parts"):
        MailLimits(max_parts=0)
    with pytest.raises(ValueError, match="max_depth"):
        MailLimits(max_depth=True)
    assert MailLimits().part_bytes(123) == 123 and MailLimits(max_part_bytes=7).part_bytes(9) == 7


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=400), st.integers(1, 4))
def test_never_raises_and_never_grows(raw: bytes, cap: int) -> None:
    limits = MailLimits(max_parts=cap, max_depth=cap, max_header_fields=cap, max_mime_params=cap)
    capped = cap_email(raw, limits)
    assert len(capped.raw) <= len(raw) + 2
    if not capped.truncated:
        assert capped.raw is raw
