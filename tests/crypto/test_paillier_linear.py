"""Sealed linear scoring, blinding and packing, checked exactly against plaintext arithmetic."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import (
    DEFAULT_SCALE_BITS,
    EncryptedVerdicts,
    FixedPoint,
    InvalidFeatureVectorError,
    KeyMismatchError,
    LinearScorer,
    ScoreOverflowError,
    decrypt_scores,
    decrypt_verdicts,
    generate_keypair,
    seal_linear,
    seal_linear_with_openings,
)
from sealdog.crypto.paillier.verdicts import Mode
from sealdog.errors import SealdogError

PK, SK = generate_keypair(1024, insecure=True)
PK2, SK2 = generate_keypair(1024, insecure=True)


def plain_score(w_ints, b_int, idx, cnt) -> int:
    return int(b_int) + sum(int(w_ints[i]) * int(c) for i, c in zip(idx, cnt))


def vec(indices, counts=None):
    idx = np.asarray(sorted(indices), dtype=np.int64)
    cnt = np.ones_like(idx) if counts is None else np.asarray(counts, dtype=np.int64)
    return idx, cnt


# one integer-weight model (scale 0) lets us hit s = 0, +-1 exactly
INT_W = np.array([1, -1, 2, -2, 3, 0, 5, -7], dtype=np.float64)
INT_SEALED = seal_linear(PK, INT_W, 0.0, scale_bits=0)


@pytest.mark.parametrize("mode", ["verdict", "score"])
def test_boundary_scores_give_exact_verdicts(mode: str) -> None:
    cases = {
        0: [],  # bias only
        1: [0],
        -1: [1],
        2: [2],
        -2: [3],
    }
    extra = [[0, 1], [2, 3], [5], [0, 3], [1, 2], [4, 6, 7], [6, 7], [0, 1, 2, 3, 4, 5, 6, 7]]
    vectors = [vec(ix) for ix in list(cases.values()) + extra]
    expected = [plain_score(INT_W, 0, idx, cnt) for idx, cnt in vectors]
    assert expected[:5] == list(cases.keys())
    assert 0 in expected[5:]  # [0, 1], [2, 3] and [5] score exactly 0
    ev = LinearScorer(INT_SEALED, mode=mode).score_batch(vectors)
    assert decrypt_verdicts(SK, ev) == [s >= 0 for s in expected]
    if mode == "score":
        assert decrypt_scores(SK, ev) == expected


@settings(max_examples=25, deadline=None)
@given(
    st.lists(st.floats(min_value=-8, max_value=8, allow_nan=False), min_size=1, max_size=40),
    st.floats(min_value=-8, max_value=8, allow_nan=False),
    st.data(),
)
def test_encrypted_score_is_exact_fixed_point_score(weights, bias, data) -> None:
    w = np.array(weights)
    sealed = seal_linear(PK, w, bias, scale_bits=20, max_count=3)
    fp = FixedPoint(20)
    w_ints, b_int = fp.encode(w), fp.encode(bias)
    vectors, expected = [], []
    for _ in range(data.draw(st.integers(1, 12))):
        idx = data.draw(st.sets(st.integers(0, len(w) - 1), max_size=len(w)))
        idx = sorted(idx)
        cnt = [data.draw(st.integers(1, 3)) for _ in idx]
        vectors.append(vec(idx, cnt))
        expected.append(plain_score(w_ints, b_int, idx, cnt))
    assert decrypt_scores(SK, LinearScorer(sealed, mode="score").score_batch(vectors)) == expected
    verdicts = decrypt_verdicts(SK, LinearScorer(sealed, blinding_bits=48).score_batch(vectors))
    assert verdicts == [s >= 0 for s in expected]


def test_packing_round_trips_negative_slots_and_partial_last_pack() -> None:
    rng = np.random.default_rng(7)
    w = rng.normal(0, 2, 64)
    sealed = seal_linear(PK, w, -0.5)
    fp = FixedPoint(DEFAULT_SCALE_BITS)
    w_ints, b_int = fp.encode(w), fp.encode(-0.5)
    scorer = LinearScorer(sealed, mode="score")
    k = scorer.layout.slots
    count = 2 * k + 3  # two full packs and a partial one
    vectors = [vec(rng.choice(64, size=rng.integers(0, 20), replace=False)) for _ in range(count)]
    expected = [plain_score(w_ints, b_int, *v) for v in vectors]
    assert any(s < 0 for s in expected) and any(s > 0 for s in expected)
    ev = scorer.score_batch(vectors)
    assert len(ev.ciphertexts) == 3 and ev.count == count
    assert decrypt_scores(SK, ev) == expected
    vscorer = LinearScorer(sealed)
    ev = vscorer.score_batch(vectors)
    assert len(ev.ciphertexts) == -(-count // vscorer.layout.slots)
    assert decrypt_verdicts(SK, ev) == [s >= 0 for s in expected]


def test_verdict_mode_hides_scores() -> None:
    ev = LinearScorer(INT_SEALED).score_batch([vec([0]), vec([6])])
    with pytest.raises(SealdogError, match="blinded"):
        decrypt_scores(SK, ev)
    # the blinded slot values are not the scores (r >= 1 is random over 64 bits)
    from sealdog.crypto.paillier.verdicts import _unpack_slot_values

    slots = _unpack_slot_values(SK, ev)
    assert slots != [1, 5] and all(t >= 0 for t in slots)


def test_same_input_twice_gives_different_ciphertexts() -> None:
    for mode in ("verdict", "score"):
        scorer = LinearScorer(INT_SEALED, mode=mode)
        a = scorer.score_batch([vec([0, 2])])
        b = scorer.score_batch([vec([0, 2])])
        assert a.ciphertexts[0] != b.ciphertexts[0]
        assert decrypt_verdicts(SK, a) == decrypt_verdicts(SK, b) == [True]


def test_output_differs_from_unrandomised_product() -> None:
    scorer = LinearScorer(INT_SEALED, mode="score")
    raw = scorer.encrypted_score([0], None)
    ev = scorer.score_batch([vec([0])])
    assert ev.ciphertexts[0] != raw


def test_strict_rerandomise_still_decrypts() -> None:
    ev = LinearScorer(INT_SEALED, strict_rerandomise=True).score_batch([vec([1]), vec([0])])
    assert decrypt_verdicts(SK, ev) == [False, True]


def test_wrong_key_is_detected() -> None:
    ev = LinearScorer(INT_SEALED).score_batch([vec([0])] * 5)
    with pytest.raises(KeyMismatchError, match="not for this secret key"):
        decrypt_verdicts(SK2, ev)
    # a forged fingerprint still fails: range check, or the slot/high-bit checks after decryption
    forged = EncryptedVerdicts(PK2.fingerprint, ev.mode, ev.count, ev.layout, ev.ciphertexts)
    with pytest.raises(KeyMismatchError, match="wrong key or corrupt"):
        decrypt_verdicts(SK2, forged)
    small = [c % PK2.nsquare for c in ev.ciphertexts]  # in range for key 2: decrypts to garbage
    forged = EncryptedVerdicts(PK2.fingerprint, ev.mode, ev.count, ev.layout, small)
    with pytest.raises(KeyMismatchError, match="wrong key or corrupt"):
        decrypt_verdicts(SK2, forged)


def test_overflow_guard_triggers() -> None:
    with pytest.raises(ScoreOverflowError, match="n/3"):
        seal_linear(PK, np.array([2.0**1023]), 0.0, scale_bits=0)
    with pytest.raises(ScoreOverflowError, match="n/3"):
        # each weight is fine, the sum over max_count = 4 copies of both is not
        seal_linear(PK, np.array([2.0**1020, -(2.0**1020)]), 0.0, scale_bits=0, max_count=4)
    with pytest.raises(ScoreOverflowError, match="slot"):
        # fits n/3 but not one slot with 64 blinding bits
        seal_linear(PK, np.array([2.0**980]), 0.0, scale_bits=0)
    with pytest.raises(ScoreOverflowError):
        seal_linear(PK, np.ones(4), 0.0, scale_bits=24, max_count=0)


def test_bad_inputs_raise_clear_errors() -> None:
    scorer = LinearScorer(INT_SEALED)
    bad = [
        (np.array([0, 8]), np.array([1, 1])),  # out of range
        (np.array([-1]), np.array([1])),
        (np.array([3, 1]), np.array([1, 1])),  # unsorted
        (np.array([1, 1]), np.array([1, 1])),  # duplicate
        (np.array([1]), np.array([2])),  # count > max_count
        (np.array([1]), np.array([0])),
        (np.array([1, 2]), np.array([1])),
        (np.array([1.0]), np.array([1.0])),
    ]
    for idx, cnt in bad:
        with pytest.raises(InvalidFeatureVectorError):
            scorer.score_batch([vec([0]), (idx, cnt)])
    with pytest.raises(SealdogError):
        LinearScorer(INT_SEALED, mode="exact")  # type: ignore[arg-type]


def test_openings_let_an_auditor_reencrypt() -> None:
    w = np.array([0.25, -1.5, 3.0])
    sealed, openings = seal_linear_with_openings(PK, w, 0.125)
    assert openings.verify(sealed, w, 0.125)
    assert not openings.verify(sealed, np.array([0.25, -1.5, 3.5]), 0.125)
    assert not openings.verify(sealed, w, 0.0)


def test_weights_are_randomised_encryptions() -> None:
    sealed = seal_linear(PK, np.zeros(4), 0.0)
    assert len(set(sealed.weights)) == 4
    assert all(SK.decrypt_raw(c) == 0 for c in sealed.weights)


@pytest.fixture(scope="session")
def key2048():
    return generate_keypair(2048)


def test_verdicts_at_2048_bits(key2048) -> None:
    pk, sk = key2048
    rng = np.random.default_rng(3)
    w = rng.normal(0, 1, 200)
    sealed = seal_linear(pk, w, 0.1)
    fp = FixedPoint(DEFAULT_SCALE_BITS)
    w_ints, b_int = fp.encode(w), fp.encode(0.1)
    vectors = [vec(rng.choice(200, size=30, replace=False)) for _ in range(40)]
    expected = [plain_score(w_ints, b_int, *v) for v in vectors]
    scorer = LinearScorer(sealed)
    assert scorer.layout.slots >= 10
    ev = scorer.score_batch(vectors)
    assert decrypt_verdicts(sk, ev) == [s >= 0 for s in expected]
    assert decrypt_scores(sk, LinearScorer(sealed, mode="score").score_batch(vectors)) == expected


# --- log-uniform blinding --------------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=6),
    st.integers(0, 40),
    st.sampled_from([None, 1, 2, 12]),
)
def test_blinded_sign_is_exact_for_tiny_scores(targets, magnitude_bits, blinding_bits) -> None:
    """Scores -3..3 (incl. 0 and +-1) under bounds up to 2^42: verdict exactly s >= 0."""
    big = float(2**magnitude_bits)  # +-big cancel; they only widen the bound (and the blinding)
    w = np.array([1.0, -1.0, big, -big])
    sealed = seal_linear(PK, w, 0.0, scale_bits=0)
    scorer = LinearScorer(sealed, blinding_bits=blinding_bits)
    pick = {-3: None, -2: None, -1: [1, 2, 3], 0: [2, 3], 1: [0, 2, 3], 2: None, 3: None}
    vectors, expected = [], []
    for s in targets:
        idx = pick[s] if pick[s] is not None else [0, 2, 3] if s > 0 else [1, 2, 3]
        vectors.append(vec(idx))
        expected.append(
            plain_score([1, -1, 2**magnitude_bits, -(2**magnitude_bits)], 0, *vectors[-1])
        )
    assert decrypt_verdicts(SK, scorer.score_batch(vectors)) == [s >= 0 for s in expected]
    for bias in (-3.0, -1.0, 0.0, 1.0, 3.0):  # bias-only scores: exactly -3, -1, 0, 1, 3
        ev = LinearScorer(
            seal_linear(PK, w, bias, scale_bits=0), blinding_bits=blinding_bits
        ).score_batch([vec([]), vec([2, 3])])
        assert decrypt_verdicts(SK, ev) == [bias >= 0] * 2


@settings(max_examples=30, deadline=None)
@given(st.integers(-(2**40), 2**40), st.integers(1, 2**40))
def test_blinded_slot_has_the_sign_of_the_score(score, bound_extra) -> None:
    """r*s + r' from BlindingFactor: same sign as s, and |t| < T = (B + 1) * 2^blinding_bits."""
    from sealdog.crypto.paillier import BlindingFactor, PackingLayout, blinding_bits_for

    bound = abs(score) + bound_extra
    layout = PackingLayout.derive(2048, bound, blinding_bits_for(bound))
    blinding = BlindingFactor.for_layout(layout)
    for _ in range(20):
        m, u, r_prime = blinding.sample()
        r = m << u
        assert 1 <= r < 2**layout.blinding_bits and 0 <= r_prime < r
        t = r * score + r_prime
        assert (t >= 0) == (score >= 0) and abs(t) < layout.offset


def test_blinding_factor_is_log_uniform_over_its_window() -> None:
    from sealdog.crypto.paillier import BlindingFactor, PackingLayout, blinding_bits_for

    bound = 2**30
    layout = PackingLayout.derive(2048, bound, blinding_bits_for(bound))
    blinding = BlindingFactor.for_layout(layout)
    assert blinding.mantissa_bits == 31 + 8 + 1 and blinding.octaves == 16
    lengths = [(m << u).bit_length() for m, u, _ in (blinding.sample() for _ in range(3400))]
    counts = np.bincount(lengths, minlength=57)[40:57]
    assert counts.sum() == 3400 and (counts > 100).all()  # every octave used, ~200 each
    # within the mantissa's octave the density is ~1/m: more mass in the lower half
    lows = sum(
        m < 3 << (blinding.mantissa_bits - 2)
        for m, _, _ in (blinding.sample() for _ in range(2000))
    )
    assert 1050 < lows < 1290  # P(m < 1.5 * 2^(M-1)) = log2(1.5) = 0.585


def test_modes_are_the_mode_enum_and_their_wire_strings_are_unchanged() -> None:
    for given_mode, member in (
        ("score", Mode.SCORE),
        (Mode.SCORE, Mode.SCORE),
        ("verdict", Mode.VERDICT),
    ):
        scorer = LinearScorer(INT_SEALED, mode=given_mode)  # type: ignore[arg-type]
        assert scorer.mode is member
        ev = scorer.score_batch([vec([0])])
        assert ev.mode is member
        doc = ev.to_json()
        assert type(doc["mode"]) is str and doc["mode"] == member.value
        assert b'"mode":"%s"' % member.value.encode() in ev.to_bytes()
        assert EncryptedVerdicts.from_json(doc).mode is member
    score_layout = LinearScorer(INT_SEALED, mode=Mode.SCORE).layout
    empty = EncryptedVerdicts(PK.fingerprint, "score", 0, score_layout, [])  # type: ignore[arg-type]
    assert empty.mode is Mode.SCORE
    with pytest.raises(SealdogError, match="Unknown mode 'exact'; expected one of verdict, score"):
        LinearScorer(INT_SEALED, mode="exact")  # type: ignore[arg-type]


def test_seal_linear_returns_only_the_model() -> None:
    sealed = seal_linear(PK, np.array([1.0, 2.0]), 0.5)
    assert not isinstance(sealed, tuple) and sealed.dim == 2
    sealed2, openings = seal_linear_with_openings(PK, np.array([1.0, 2.0]), 0.5)
    assert openings.verify(sealed2, np.array([1.0, 2.0]), 0.5)
    assert not openings.verify(sealed, np.array([1.0, 2.0]), 0.5)  # other randomness


def test_truncated_positions_round_trip_and_are_bounded() -> None:
    """`truncated` (inputs the server read in part) travels in the JSON and the frame, is
    absent when empty (the version-1 document, byte for byte), and a server cannot send
    positions that are out of range, repeated, unordered or more than the count."""
    import dataclasses

    from sealdog.crypto.paillier import generate_keypair
    from sealdog.crypto.paillier.verdicts import EncryptedVerdicts
    from sealdog.errors import CorruptDataError

    pk, _ = generate_keypair(512, insecure=True)
    sealed = seal_linear(pk, np.array([1.0, -1.0]), 0.5, max_count=1)
    vectors = [(np.array([0]), np.array([1])), (np.array([1]), np.array([1]))] * 2
    plain = LinearScorer(sealed).score_batch(vectors[:3])
    assert "truncated" not in plain.to_json()
    cut = dataclasses.replace(plain, truncated=(1,))
    assert EncryptedVerdicts.from_json(cut.to_json()).truncated == (1,)
    assert EncryptedVerdicts.from_bytes(cut.to_bytes()).truncated == (1,)
    for bad in ([3], [-1], [1, 1], [2, 1], [0, 1, 2, 2], ["1"], [True], "1"):
        doc = {**plain.to_json(), "truncated": bad}
        with pytest.raises(CorruptDataError, match="truncated"):
            EncryptedVerdicts.from_json(doc)
