"""Openings and sealed-model checks, against plaintext arithmetic: honest models pass,
every kind of tampering fails (and the exact check names the tampered ciphertext)."""

from __future__ import annotations

import gmpy2
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.client.errors import AuditError
from sealdog.client.openings import (
    ModelOpenings,
    check_with_secret_key,
    decrypt_all,
    expected_plaintexts,
    recover_openings,
    verify_batched,
    verify_exact,
)
from sealdog.crypto.paillier import FixedPoint, generate_keypair
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.sealed_model import SealedModel, seal_model

SPEC = FeaturiserSpec(mode="hashing", n_buckets=16).to_dict()


@pytest.fixture(scope="module")
def keys():  # type: ignore[no-untyped-def]
    return generate_keypair(512, insecure=True)


def _seal(pk, weights, bias=0.25):  # type: ignore[no-untyped-def]
    return seal_model(
        pk, np.asarray(weights, dtype=np.float64), bias, featuriser=SPEC, scale_bits=16
    )


def _with_ciphertext(model: SealedModel, index: int, factor: int) -> SealedModel:
    """A re-digested copy with ciphertext `index` (0 = bias) multiplied by `factor` mod n^2:
    what someone who swaps a weight and recomputes the digest would produce."""
    from sealdog.crypto.paillier.codec import ciphertext_width, encode_ciphertexts

    pk = model.public_key()
    sealed = model.linear()
    cts = [sealed.bias, *sealed.weights]
    cts[index] = cts[index] * factor % pk.nsquare
    manifest = {k: v for k, v in model.manifest.items() if k != "digest"}
    return SealedModel(manifest, encode_ciphertexts(cts, width=ciphertext_width(pk)))


@settings(max_examples=15, deadline=None)
@given(
    st.lists(st.floats(min_value=-8, max_value=8, allow_nan=False), min_size=16, max_size=16),
    st.floats(min_value=-4, max_value=4, allow_nan=False),
)
def test_honest_model_passes_every_check_and_decrypts_exactly(keys, weights, bias) -> None:  # type: ignore[no-untyped-def]
    pk, sk = keys
    model = _seal(pk, weights, bias)
    expected = expected_plaintexts(model, np.asarray(weights), bias)
    fp = FixedPoint(16)
    assert expected == [fp.encode(bias), *[fp.encode(w) for w in weights]]
    assert decrypt_all(sk, model, workers=1) == expected
    openings = recover_openings(sk, model, workers=1)
    n, nsq = pk.n, pk.nsquare
    for c, m, r in zip([model.linear().bias, *model.linear().weights], expected, openings.values):
        assert (1 + (m % n) * n) * gmpy2.powmod(r, n, nsq) % nsq == c  # r really opens c
    assert verify_exact(model, openings, expected, workers=1) == []
    assert verify_batched(model, openings, expected, workers=1)
    assert check_with_secret_key(sk, model, expected, workers=1)


def test_tampered_ciphertext_is_found(keys) -> None:  # type: ignore[no-untyped-def]
    pk, sk = keys
    weights = np.linspace(-2, 2, 16)
    model = _seal(pk, weights)
    expected = expected_plaintexts(model, weights, 0.25)
    # The key holder changed weight 3 (+1 in the plaintext: multiply by g = 1 + n) after opening.
    tampered = _with_ciphertext(model, 4, int(pk.n) + 1)
    assert not check_with_secret_key(sk, tampered, expected, workers=1)
    openings = recover_openings(sk, tampered, workers=1)  # openings of the tampered model itself
    assert verify_exact(tampered, openings, expected, workers=1) == [4]
    assert not verify_batched(tampered, openings, expected, workers=1)


def test_openings_of_another_model_or_key_are_refused(keys) -> None:  # type: ignore[no-untyped-def]
    pk, sk = keys
    weights = np.ones(16)
    model, twin = _seal(pk, weights), _seal(pk, weights)  # same weights, other randomness
    expected = expected_plaintexts(model, weights, 0.25)
    openings = recover_openings(sk, model, workers=1)
    with pytest.raises(AuditError, match="not the one the key holder opened"):
        verify_exact(twin, openings, expected, workers=1)
    # Forged binding: the right digest, but openings of the twin do not open the model.
    forged = ModelOpenings(
        openings.key_fingerprint, model.digest, recover_openings(sk, twin, workers=1).values
    )
    assert verify_exact(model, forged, expected, workers=1) == list(range(17))
    assert not verify_batched(model, forged, expected, workers=1)
    _, other_sk = generate_keypair(512, insecure=True)
    with pytest.raises(AuditError, match="not for this secret key"):
        recover_openings(other_sk, model, workers=1)


def test_plaintext_model_of_the_wrong_size_is_refused(keys) -> None:  # type: ignore[no-untyped-def]
    pk, _ = keys
    model = _seal(pk, np.zeros(16))
    with pytest.raises(AuditError, match="not the same model"):
        expected_plaintexts(model, np.zeros(15), 0.0)


def test_openings_file_round_trip_and_corruption(keys, tmp_path) -> None:  # type: ignore[no-untyped-def]
    from sealdog.client.openings import read_openings, write_openings

    pk, sk = keys
    model = _seal(pk, np.arange(16) / 8)
    openings = recover_openings(sk, model, workers=1)
    write_openings(tmp_path / "o.bin", openings, pk.bits)
    assert read_openings(tmp_path / "o.bin") == openings
    data = (tmp_path / "o.bin").read_bytes()
    (tmp_path / "cut.bin").write_bytes(data[:-5])
    with pytest.raises(AuditError, match="truncated"):
        read_openings(tmp_path / "cut.bin")
    (tmp_path / "bad.bin").write_bytes(b"XXXX" + data[4:])
    with pytest.raises(AuditError, match="bad magic"):
        read_openings(tmp_path / "bad.bin")


def test_an_openings_file_written_before_still_reads_and_rewrites_identically(tmp_path) -> None:  # type: ignore[no-untyped-def]
    """tests/crypto/data/openings_v1.sdop was written by the code before the shared frame
    (commit c01cb52): 512-bit key, values [p, q, 1, n - 1, 123456789]."""
    import json
    from pathlib import Path

    from gmpy2 import mpz

    from sealdog.client.openings import read_openings, write_openings

    data_dir = Path(__file__).parents[1] / "crypto" / "data"
    fixture = json.loads((data_dir / "pre_shape_paillier.json").read_text())
    n, p, q = (mpz(fixture[k], 16) for k in ("n", "p", "q"))
    old = (data_dir / "openings_v1.sdop").read_bytes()
    openings = read_openings(data_dir / "openings_v1.sdop")
    assert openings == ModelOpenings("ab" * 32, "cd" * 32, [p, q, mpz(1), n - 1, mpz(123456789)])
    assert openings.to_bytes(512) == old
    write_openings(tmp_path / "again.sdop", openings, 512)
    assert (tmp_path / "again.sdop").read_bytes() == old
    # the frame's checks, with the openings file's own error type and hint
    for bad, message in (
        (old[:4] + b"\x02" + old[5:], "Unsupported version 2 of a Sealdog openings file"),
        (
            old.replace(b"sealdog-paillier-openings", b"sealdog-paillier-verdicts"),
            "expected format 'sealdog-paillier-openings'",
        ),
    ):
        with pytest.raises(AuditError, match=message) as info:
            ModelOpenings.from_bytes(bad)
        assert "sealdog export-openings" in str(info.value)
