"""The binary frame and the format/version check: exact layout, every refusal, one message."""

from __future__ import annotations

import struct

import pytest

from sealdog.crypto.frame import Frame, canonical_json, check_format, check_version
from sealdog.crypto.paillier import PublicKey, SecretKey, generate_keypair
from sealdog.crypto.paillier.codec import ciphertexts_from_json
from sealdog.crypto.paillier.verdicts import VERDICTS_FRAME
from sealdog.errors import CorruptDataError

FRAME = Frame(b"TEST", 3, "sealdog-test-doc", "a Sealdog test document")
HEADER = {"format": "sealdog-test-doc", "count": 2, "name": "é"}


def test_layout_is_magic_version_length_canonical_header_body() -> None:
    data = FRAME.write(HEADER, b"\x01\x02body")
    head = canonical_json(HEADER)
    assert head == '{"count":2,"format":"sealdog-test-doc","name":"é"}'.encode()
    assert data == b"TEST" + bytes([3]) + struct.pack(">I", len(head)) + head + b"\x01\x02body"
    header, body = FRAME.read(data)
    assert header == HEADER and bytes(body) == b"\x01\x02body"
    # key order does not matter: equal headers give equal bytes
    assert FRAME.write(dict(reversed(list(HEADER.items()))), b"\x01\x02body") == data
    assert bytes(FRAME.read(FRAME.write(HEADER))[1]) == b""


def _refusal(data: bytes) -> str:
    with pytest.raises(CorruptDataError) as info:
        FRAME.read(data)
    return str(info.value)


def test_every_malformed_frame_is_refused_with_a_message_naming_it() -> None:
    good = FRAME.write(HEADER, b"xyz")
    head_len = len(canonical_json(HEADER))
    assert _refusal(b"") == "Not a Sealdog test document (bad magic or truncated)."
    assert _refusal(good[:8]) == "Not a Sealdog test document (bad magic or truncated)."
    assert _refusal(b"NOPE" + good[4:]) == "Not a Sealdog test document (bad magic or truncated)."
    assert _refusal(good[:4] + b"\x04" + good[5:]) == (
        "Unsupported version 4 of a Sealdog test document; this Sealdog reads version 3."
    )
    assert _refusal(good[: 9 + head_len - 1]) == "Not a Sealdog test document (truncated header)."
    bad_json = good[:9] + b"{" * head_len + good[9 + head_len :]
    assert _refusal(bad_json) == "Not a Sealdog test document (header is not valid JSON)."
    not_object = b"TEST\x03" + struct.pack(">I", 2) + b"[]"
    assert _refusal(not_object) == (
        "Not a Sealdog test document (expected format 'sealdog-test-doc')."
    )
    other = Frame(b"TEST", 3, "sealdog-other", "x").write({"format": "sealdog-other"})
    assert "expected format 'sealdog-test-doc'" in _refusal(other)


def test_writer_refuses_a_header_without_its_format() -> None:
    with pytest.raises(ValueError, match="format"):
        FRAME.write({"count": 1})
    with pytest.raises(ValueError):
        Frame(b"TOOLONG", 1, "f", "x")


def test_check_format_and_version() -> None:
    doc = {"format": "f", "version": 2, "x": 1}
    assert check_format(doc, format="f", version=2, what="a thing") is doc
    assert check_format({"format": "f"}, format="f", version=None, what="a thing") == {
        "format": "f"
    }
    with pytest.raises(CorruptDataError, match=r"^Not a thing \(expected format 'f'\)\.$"):
        check_format({**doc, "format": "g"}, format="f", version=2, what="a thing")
    with pytest.raises(CorruptDataError, match="expected format"):
        check_format(["f"], format="f", version=2, what="a thing")
    for found in (1, None, "2", True):
        with pytest.raises(
            CorruptDataError,
            match=r"^Unsupported version .* of a thing; this Sealdog reads version 2",
        ):
            check_format({**doc, "version": found}, format="f", version=2, what="a thing")
    doc_v = {"format": "f", "format_version": 1}
    assert check_format(doc_v, format="f", version=1, what="a thing", version_key="format_version")
    check_version(1, 1, "a thing")
    with pytest.raises(CorruptDataError):
        check_version(True, 1, "a thing")  # True == 1, but it is no version number


def test_every_document_uses_the_same_version_message() -> None:
    """Keys, ciphertext vectors and encrypted verdicts all refuse a future version alike."""
    pk, sk = generate_keypair(256, insecure=True)
    messages = []
    for read, doc in (
        (PublicKey.from_json, {**pk.to_json(), "version": 9}),
        (SecretKey.from_json, {**sk.to_json(), "version": 9}),
        (ciphertexts_from_json, {"format": "sealdog-ciphertexts", "version": 9}),
    ):
        with pytest.raises(CorruptDataError) as info:
            read(doc)  # type: ignore[operator]
        messages.append(str(info.value))
    head = {"format": "sealdog-paillier-verdicts"}
    raw = Frame(b"SDEV", 9, "sealdog-paillier-verdicts", "x").write(head)
    with pytest.raises(CorruptDataError) as info:
        VERDICTS_FRAME.read(raw)
    messages.append(str(info.value))
    names = [
        "a Sealdog Paillier public key",
        "a Sealdog Paillier secret key",
        "a Sealdog ciphertext vector",
        "Sealdog encrypted verdicts",
    ]
    assert messages == [
        f"Unsupported version 9 of {name}; this Sealdog reads version 1." for name in names
    ]
