"""Key pairs: size floor, fingerprints, CRT decryption against phe, key files (0600, passphrase)."""

from __future__ import annotations

import json
import os
import stat

import phe
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import (
    CorruptDataError,
    InsecureParametersError,
    PassphraseRequiredError,
    PublicKey,
    SecretKey,
    WrongPassphraseError,
    generate_keypair,
    load_public_key,
    load_secret_key,
    save_public_key,
    save_secret_key,
)

KEY = generate_keypair(768, insecure=True)


def test_small_keys_are_refused_without_insecure_flag() -> None:
    with pytest.raises(InsecureParametersError, match="2048"):
        generate_keypair(1024)
    with pytest.raises(InsecureParametersError):
        PublicKey(KEY[0].n)
    data = KEY[0].to_json()
    del data["insecure"]
    with pytest.raises(InsecureParametersError):
        PublicKey.from_json(data)


@pytest.mark.slow
def test_default_key_is_3072_bits() -> None:
    pk, _ = generate_keypair()
    assert pk.bits == 3072 and not pk.insecure


def test_2048_bit_key_is_accepted_without_flag() -> None:
    pk, sk = generate_keypair(2048)
    assert pk.bits == 2048 and not pk.insecure
    assert "insecure" not in pk.to_json()
    c = pk.to_phe().encrypt(-12345).ciphertext(be_secure=False)
    assert sk.decrypt_signed(c) == -12345


@settings(max_examples=40, deadline=None)
@given(st.integers(min_value=-(2**300), max_value=2**300))
def test_decrypt_matches_phe_encryption(m: int) -> None:
    pk, sk = KEY
    c = pk.to_phe().raw_encrypt(m % int(pk.n))
    assert sk.decrypt_raw(c) == m % pk.n
    assert sk.decrypt_signed(c) == m


def test_decrypt_rejects_out_of_range() -> None:
    pk, sk = KEY
    for bad in (0, pk.nsquare, pk.nsquare + 5, -3):
        with pytest.raises(CorruptDataError):
            sk.decrypt_raw(bad)


def test_fingerprint_stable_across_save_load(tmp_path) -> None:
    pk, _ = KEY
    save_public_key(pk, tmp_path / "pk.json")
    loaded = load_public_key(tmp_path / "pk.json")
    assert loaded == pk and loaded.fingerprint == pk.fingerprint
    assert len(pk.fingerprint) == 64
    other, _ = generate_keypair(768, insecure=True)
    assert other.fingerprint != pk.fingerprint
    # the fingerprint does not depend on JSON key order or whitespace
    text = json.dumps(dict(reversed(list(pk.to_json().items()))), indent=7)
    assert PublicKey.from_json(json.loads(text)).fingerprint == pk.fingerprint


def test_public_key_json_validation() -> None:
    good = KEY[0].to_json()
    for bad in (
        {**good, "format": "x"},
        {**good, "version": 99},
        {**good, "n": "zz"},
        {**good, "n": "10"},
        [],
    ):
        with pytest.raises(CorruptDataError):
            PublicKey.from_json(bad)  # type: ignore[arg-type]


def test_secret_key_file_is_0600_and_round_trips(tmp_path) -> None:
    pk, sk = KEY
    path = tmp_path / "keys" / "sk.json"
    save_secret_key(sk, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    loaded = load_secret_key(path)
    assert loaded.public_key == pk and (loaded.p, loaded.q) == (sk.p, sk.q)
    assert str(sk.p) not in repr(loaded)


def test_passphrase_round_trip_and_errors(tmp_path) -> None:
    _, sk = KEY
    path = tmp_path / "sk.json"
    save_secret_key(sk, path, passphrase="correct horse")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    text = path.read_text()
    assert format(sk.p, "x") not in text and format(sk.q, "x") not in text
    assert load_secret_key(path, passphrase="correct horse").p == sk.p
    with pytest.raises(WrongPassphraseError):
        load_secret_key(path, passphrase="wrong")
    with pytest.raises(PassphraseRequiredError):
        load_secret_key(path)
    tampered = json.loads(text)
    tampered["key_fingerprint"] = "0" * 64  # header is authenticated
    path.write_text(json.dumps(tampered))
    with pytest.raises(WrongPassphraseError):
        load_secret_key(path, passphrase="correct horse")


def test_secret_key_rejects_wrong_factors() -> None:
    pk, sk = KEY
    with pytest.raises(CorruptDataError):
        SecretKey(pk, sk.p, sk.q + 2)


def test_phe_interop_for_other_code() -> None:
    pk, sk = KEY
    enc = pk.to_phe().encrypt(42)
    assert isinstance(enc, phe.EncryptedNumber)
    assert sk.decrypt_signed(enc.ciphertext()) == 42
