"""Featuriser spec version 2: header and structure term families, switchable and bounded."""

from __future__ import annotations

import base64
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail.featuriser import (
    FAMILIES,
    HEADER_SPEC_VERSION,
    Featuriser,
    FeaturiserSpec,
    FeaturiserSpecError,
)
from sealdog.mail.header_terms import clean_host, count_class, registered_domain
from sealdog.mail.message import EmailText, EmailTooLargeError, email_parts, parse_email

PREFIX = {
    "sender": "from.",
    "urls": "url.",
    "mime": "mime.",
    "encoding": "enc.",
    "subject": "subj.",
    "headers": "hdr.",
}

SPAM = (
    b"""Return-Path: <bounce@bulk-sender.example.net>
Received: from a by b
Received: from c by d
From: "PayPal Security <security@paypal.com>" <promo@deals.example.biz>
Reply-To: claims@other.example.co.uk
To: a@example.org, b@example.org, c@example.org, d@example.org
Subject: =?utf-8?b?RlJFRSBNT05FWSEhIQ==?=
X-Mailer: SecretCorp Bulk Mailer 9.1 build 4711
X-Priority: 1
Precedence: bulk
MIME-Version: 1.0
Content-Type: multipart/mixed; boundary=OUT

--OUT
Content-Type: text/html; charset=utf-8
Content-Transfer-Encoding: base64

"""
    + base64.encodebytes(
        b'<html><body><p><b><a href="http://login.paypal.example.com.ru/x">Click</a>'
        b'<a href="http://10.1.2.3/y">here</a><img src="https://cdn.tracker.example.net/p.gif">'
        b"</p></body></html>"
    )
    + b"""
--OUT
Content-Type: application/octet-stream; name="invoice.PDF.exe"
Content-Disposition: attachment; filename="invoice.PDF.exe"
Content-Transfer-Encoding: base64

AAAA
--OUT--
"""
)

HAM = b"""From: Alice <alice@mail.example.com>
To: bob@example.org
Cc: carol@example.org
Date: Mon, 1 Jan 2001 00:00:00 +0000
Message-ID: <123@example.com>
In-Reply-To: <122@example.com>
Subject: Re: lunch on Friday?
User-Agent: Mutt/1.4i
Content-Type: text/plain; charset=iso-8859-1

Yes, see https://www.example.com/menu and www.other.example.org/x, Alice.
"""


def _family_terms(spec: FeaturiserSpec, raw: bytes) -> list[str]:
    return [t for t in Featuriser(spec).email_terms(raw) if t[:2] not in ("s:", "w:", "b:", "n:")]


def test_version_2_keeps_the_version_1_text_terms_and_adds_family_terms() -> None:
    v1 = Featuriser(FeaturiserSpec(ngram_max=2, length_terms=True))
    v2 = Featuriser(FeaturiserSpec.header_aware(ngram_max=2, length_terms=True))
    for raw in (SPAM, HAM):
        terms_v1 = v1.email_terms(raw)
        terms_v2 = v2.email_terms(raw)
        assert terms_v2[: len(terms_v1)] == terms_v1
        extra = terms_v2[len(terms_v1) :]
        assert extra and all(t.startswith(tuple(PREFIX.values())) for t in extra)
    # A version-2 spec without families is version 1 on the wire-format features.
    plain_v2 = Featuriser(FeaturiserSpec(version=HEADER_SPEC_VERSION))
    assert plain_v2.email_terms(HAM) == Featuriser(FeaturiserSpec()).email_terms(HAM)


@pytest.mark.parametrize("family", FAMILIES)
def test_each_family_is_switchable_on_its_own(family: str) -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=[family]), SPAM)
    assert terms and all(t.startswith(PREFIX[family]) for t in terms)


def test_sender_family() -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=["sender"]), SPAM)
    assert terms == [
        "from.domain:deals.example.biz",
        "from.reg:example.biz",
        "from.mismatch:display-name",
        "from.reply-to-domain:other.example.co.uk",
        "from.reply-to-reg:example.co.uk",
        "from.mismatch:reply-to",
        "from.mismatch:return-path",
        "from.recipients:3",
    ]
    ham = _family_terms(FeaturiserSpec.header_aware(families=["sender"]), HAM)
    assert ham == ["from.domain:mail.example.com", "from.reg:example.com", "from.recipients:2"]
    assert _family_terms(FeaturiserSpec.header_aware(families=["sender"]), b"Subject: x\n\nhi") == [
        "from.none",
        "from.recipients:0",
    ]


def test_url_family_counts_hosts_not_whole_urls() -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=["urls"]), SPAM)
    assert terms == [
        "url.links:2",
        "url.host:cdn.tracker.example.net",
        "url.host:login.paypal.example.com.ru",
        "url.reg:example.com.ru",
        "url.reg:example.net",
        "url.ip",
    ]
    ham = _family_terms(FeaturiserSpec.header_aware(families=["urls"]), HAM)
    assert ham == [
        "url.links:2",
        "url.host:www.example.com",
        "url.host:www.other.example.org",
        "url.reg:example.com",
        "url.reg:example.org",
    ]
    assert not any("/menu" in t or "/x" in t for t in ham)


def test_registered_domain_rule_and_host_cleaning() -> None:
    assert registered_domain("a.b.example.co.uk") == "example.co.uk"
    assert registered_domain("mail.example.com") == "example.com"
    assert registered_domain("example.com") == "example.com"
    assert registered_domain("www.example.de") == "example.de"
    assert registered_domain("x.example.com.au") == "example.com.au"
    assert clean_host("WWW.Example.COM.") == "www.example.com"
    assert clean_host("localhost") is None
    assert clean_host("bad host.com") is None
    assert clean_host("a" * 300 + ".com") is None


def test_mime_family() -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=["mime"]), SPAM)
    assert terms == [
        "mime.body:html-only",
        "mime.parts:2",
        "mime.type:application/octet-stream",
        "mime.type:text/html",
        "mime.attachments:1",
        "mime.attachment:exe",
        "mime.html-tag-ratio:5",
    ]
    assert _family_terms(FeaturiserSpec.header_aware(families=["mime"]), HAM) == [
        "mime.body:plain",
        "mime.parts:1",
        "mime.type:text/plain",
    ]


def test_encoding_family() -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=["encoding"]), SPAM)
    assert terms == [
        "enc.charset:utf-8",
        "enc.cte:base64",
        "enc.encoded-subject:b",
        "enc.text-base64",
    ]
    odd = b"Subject: caf\xe9\nContent-Type: text/plain; charset=x-nonsense\n\nhello\n"
    assert _family_terms(FeaturiserSpec.header_aware(families=["encoding"]), odd) == [
        "enc.8bit-headers",
        "enc.bad-charset",
        "enc.charset:unknown",
        "enc.cte:7bit",
    ]
    wrong = b"Subject: x\nContent-Type: text/plain; charset=us-ascii\n\ncaf\xc3\xa9\n"
    terms = _family_terms(FeaturiserSpec.header_aware(families=["encoding"]), wrong)
    assert "enc.bad-charset" in terms and "enc.charset:ascii" in terms


@pytest.mark.parametrize(
    ("subject", "expected"),
    [
        ("FREE MONEY!!!", ["subj.caps:all", "subj.punct:2"]),
        ("Re: lunch on Friday?", ["subj.caps:few", "subj.punct:1", "subj.prefix:re"]),
        ("Fwd: Save 50% NOW", ["subj.caps:most", "subj.punct:0", "subj.money", "subj.prefix:fwd"]),
        ("ok", ["subj.caps:short", "subj.punct:0"]),
        ("", ["subj.empty"]),
    ],
)
def test_subject_family(subject: str, expected: list[str]) -> None:
    raw = f"From: a@example.com\nSubject: {subject}\n\nbody\n".encode()
    assert _family_terms(FeaturiserSpec.header_aware(families=["subject"]), raw) == expected


def test_headers_family_maps_free_form_values_onto_fixed_lists() -> None:
    terms = _family_terms(FeaturiserSpec.header_aware(families=["headers"]), SPAM)
    assert terms == [
        "hdr.mailer:other",
        "hdr.has:mime-version",
        "hdr.no:date",
        "hdr.no:message-id",
        "hdr.priority:high",
        "hdr.precedence:bulk",
        "hdr.received:2",
    ]
    ham = _family_terms(FeaturiserSpec.header_aware(families=["headers"]), HAM)
    assert ham == [
        "hdr.mailer:mutt",
        "hdr.has:in-reply-to",
        "hdr.received:0",
        "hdr.message-id-domain:from",
    ]
    # No free-form header value reaches a term: the X-Mailer string is nowhere.
    every = Featuriser(FeaturiserSpec.header_aware()).email_terms(SPAM)
    assert not any("secretcorp" in t.lower() or "4711" in t for t in every)


def test_count_classes() -> None:
    assert [count_class(n) for n in (0, 1, 2, 3, 4, 7, 8, 10**9)] == [0, 1, 2, 2, 3, 3, 4, 8]
    assert count_class(100, 3) == 3


def test_version_2_spec_round_trips_and_version_1_dict_is_unchanged() -> None:
    spec = FeaturiserSpec.header_aware(families=["urls", "sender"], n_buckets=4096)
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["version"] == 2 and data["families"] == ["urls", "sender"]
    assert FeaturiserSpec.from_dict(data) == spec
    assert "families" not in FeaturiserSpec().to_dict()
    assert FeaturiserSpec.from_dict(FeaturiserSpec().to_dict()) == FeaturiserSpec()
    vocab = FeaturiserSpec.header_aware(mode="vocabulary", vocabulary=("url.ip", "w:free"))
    assert FeaturiserSpec.from_dict(vocab.to_dict()) == vocab


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"version": 1, "families": ["urls"]}, "need spec version 2"),
        ({"version": 2, "families": ["nope"]}, "unknown term families"),
        ({"version": 2, "families": ["urls", "urls"]}, "duplicates"),
        ({"version": 2, "families": "urls"}, "families must be a list"),
        ({"version": 3}, "version 3 is not supported"),
    ],
)
def test_invalid_version_2_specs_are_refused(fields: dict[str, object], message: str) -> None:
    data = {**FeaturiserSpec().to_dict(), **fields}
    with pytest.raises(FeaturiserSpecError, match=message):
        FeaturiserSpec.from_dict(data)


def test_text_only_entry_points_refuse_a_spec_with_families() -> None:
    featuriser = Featuriser(FeaturiserSpec.header_aware())
    assert featuriser.needs_raw_email
    with pytest.raises(FeaturiserSpecError, match="raw e-mail"):
        featuriser.terms(EmailText("s", "b"))
    with pytest.raises(FeaturiserSpecError, match="raw e-mail"):
        featuriser.featurise("Subject: s\n\nb")
    assert not Featuriser(FeaturiserSpec()).needs_raw_email


def test_hashing_and_vocabulary_modes_index_family_terms() -> None:
    featuriser = Featuriser(FeaturiserSpec.header_aware(n_buckets=512))
    features = featuriser.featurise_email(SPAM)
    assert np.array_equal(
        features.indices, featuriser.index_terms(featuriser.email_terms(SPAM)).indices
    )
    assert features.indices.max() < 512 and features.counts.max() <= 2
    vocab = Featuriser(
        FeaturiserSpec.header_aware(
            mode="vocabulary", vocabulary=("url.ip", "hdr.mailer:mutt", "w:zzz")
        )
    )
    assert vocab.featurise_email(SPAM).indices.tolist() == [0]
    assert vocab.featurise_email(HAM).indices.tolist() == [1]
    with pytest.raises(EmailTooLargeError):
        featuriser.featurise_email(SPAM, max_bytes=100)


def test_parse_email_text_is_email_parts_on_every_sample() -> None:
    for sample in load_samples():
        assert parse_email(sample.raw).text == email_parts(sample.raw), sample.name
    assert parse_email(SPAM).text == email_parts(SPAM)


def test_parse_email_exposes_headers_and_parts() -> None:
    parsed = parse_email(SPAM)
    assert parsed.header("x-priority") == "1"
    assert parsed.header_values("Received") == ["from a by b", "from c by d"]
    assert [(p.content_type, p.is_attachment, p.transfer_encoding) for p in parsed.parts] == [
        ("text/html", False, "base64"),
        ("application/octet-stream", True, "base64"),
    ]
    assert parsed.parts[1].filename == "invoice.PDF.exe"
    assert parsed.n_parts == 2 and parsed.html_tags > 0 and parsed.parsed


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=2000))
def test_any_bytes_give_bounded_terms_and_never_raise(raw: bytes) -> None:
    terms = Featuriser(FeaturiserSpec.header_aware()).email_terms(raw)
    assert all(len(t) <= 300 for t in terms if not t.startswith(("s:", "w:", "b:")))


def test_a_hostile_header_block_stays_bounded() -> None:
    many_to = "To: " + ", ".join(f"u{i}@example.com" for i in range(5000)) + "\n"
    headers = "".join(f"X-H{i}: v\n" for i in range(2000))
    raw = (many_to + headers + "Subject: s\n\nbody http://" + "a." * 200 + "com\n").encode()
    terms = _family_terms(FeaturiserSpec.header_aware(), raw)
    assert "from.recipients:6" in terms
    assert len(terms) < 60
