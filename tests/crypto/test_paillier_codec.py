"""Wire formats: ciphertext vectors (binary, base64 JSON) and encrypted verdicts, versioned."""

from __future__ import annotations

import base64

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import (
    CorruptDataError,
    EncryptedVerdicts,
    LinearScorer,
    ciphertext_width,
    ciphertexts_from_json,
    ciphertexts_to_json,
    decode_ciphertexts,
    decrypt_verdicts,
    encode_ciphertexts,
    generate_keypair,
    seal_linear,
)

PK, SK = generate_keypair(768, insecure=True)
OTHER, _ = generate_keypair(512, insecure=True)
W = ciphertext_width(PK)


def units(count: int) -> list:
    sealed = seal_linear(PK, np.arange(count, dtype=float), 0.0, scale_bits=0)
    return sealed.weights


@settings(max_examples=20, deadline=None)
@given(st.integers(min_value=0, max_value=12))
def test_binary_and_json_round_trip(count: int) -> None:
    cts = units(count)
    data = encode_ciphertexts(cts, width=W)
    assert len(data) == 11 + count * W
    assert decode_ciphertexts(data, PK) == cts
    assert ciphertexts_from_json(ciphertexts_to_json(cts, width=W), PK) == cts


def test_corrupt_truncated_and_out_of_range_are_rejected() -> None:
    cts = units(3)
    data = encode_ciphertexts(cts, width=W)
    with pytest.raises(CorruptDataError, match="length"):
        decode_ciphertexts(data[:-1], PK)
    with pytest.raises(CorruptDataError, match="truncated"):
        decode_ciphertexts(data[:5], PK)
    with pytest.raises(CorruptDataError, match="magic"):
        decode_ciphertexts(b"XXXX" + data[4:], PK)
    with pytest.raises(CorruptDataError, match="version"):
        decode_ciphertexts(data[:4] + b"\x09" + data[5:], PK)
    with pytest.raises(CorruptDataError, match="wrong key size"):
        decode_ciphertexts(data, OTHER)
    too_big = encode_ciphertexts([PK.nsquare + 1], width=W)
    with pytest.raises(CorruptDataError, match="not a unit"):
        decode_ciphertexts(too_big, PK)
    not_unit = encode_ciphertexts([PK.n * 7], width=W)
    with pytest.raises(CorruptDataError, match="not a unit"):
        decode_ciphertexts(not_unit, PK)
    zero = data[:11] + bytes(W) + data[11 + W :]
    with pytest.raises(CorruptDataError, match="zero"):
        decode_ciphertexts(zero, PK)
    doc = ciphertexts_to_json(cts, width=W)
    for bad in ({**doc, "data": "!!"}, {**doc, "version": 2}, {**doc, "format": "x"}, None):
        with pytest.raises(CorruptDataError):
            ciphertexts_from_json(bad, PK)  # type: ignore[arg-type]


def _verdicts() -> EncryptedVerdicts:
    sealed = seal_linear(PK, np.array([1.0, -1.0, 0.5]), 0.0)
    vectors = [
        (np.array([0]), np.array([1])),
        (np.array([1]), np.array([1])),
        (np.array([0, 1, 2]), np.array([1, 1, 1])),
    ]
    return LinearScorer(sealed, blinding_bits=32).score_batch(vectors * 5)


def test_encrypted_verdicts_round_trip() -> None:
    ev = _verdicts()
    for copy in (
        EncryptedVerdicts.from_json(ev.to_json()),
        EncryptedVerdicts.from_bytes(ev.to_bytes()),
    ):
        assert copy == ev
        assert decrypt_verdicts(SK, copy) == [True, False, True] * 5
    assert len(ev.to_bytes()) < len(str(ev.to_json()))


def test_encrypted_verdicts_reject_tampering() -> None:
    ev = _verdicts()
    doc = ev.to_json()
    bad_layout = {**doc, "layout": {**doc["layout"], "slots": doc["layout"]["slots"] + 1}}
    bad_count = {**doc, "count": doc["count"] + 10 * ev.layout.slots}
    for bad in (
        bad_layout,
        bad_count,
        {**doc, "mode": "exact"},
        {**doc, "version": 7},
        {**doc, "count": "3"},
    ):
        with pytest.raises(CorruptDataError):
            EncryptedVerdicts.from_json(bad)
    raw = ev.to_bytes()
    for bad in (raw[:-3], b"NOPE" + raw[4:], raw[:9], raw[:5] + b"\xff\xff\xff\xff" + raw[9:]):
        with pytest.raises(CorruptDataError):
            EncryptedVerdicts.from_bytes(bad)
    # a flipped ciphertext bit is caught at decryption (slot/range checks), never silently
    blob = bytearray(base64.b64decode(doc["ciphertexts"]["data"]))
    blob[20] ^= 0x01
    flipped = {
        **doc,
        "ciphertexts": {**doc["ciphertexts"], "data": base64.b64encode(bytes(blob)).decode()},
    }
    from sealdog.errors import KeyMismatchError

    with pytest.raises((CorruptDataError, KeyMismatchError)):
        decrypt_verdicts(SK, EncryptedVerdicts.from_json(flipped))


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(min_value=0, max_value=10**40), max_size=12),
    st.integers(min_value=2, max_value=10**12),
)
def test_all_units_is_one_gcd_per_value(values: list[int], n: int) -> None:
    from gmpy2 import gcd, mpz

    from sealdog.crypto.paillier.codec import all_units

    assert all_units([mpz(v) for v in values], mpz(n)) == all(gcd(v, n) == 1 for v in values)


def test_a_non_unit_is_named_after_the_batched_check() -> None:
    from gmpy2 import mpz

    pk, sk = generate_keypair(256, insecure=True)
    cts = [mpz(5), mpz(7), sk.p * 3, mpz(11)]  # #2 shares the factor p with n
    data = encode_ciphertexts(cts, width=ciphertext_width(pk))
    with pytest.raises(CorruptDataError, match="Ciphertext #2 is not a unit"):
        decode_ciphertexts(data, pk)
    assert decode_ciphertexts(data, pk, validate_units=False) == cts
