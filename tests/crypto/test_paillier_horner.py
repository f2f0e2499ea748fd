"""The packing's Horner step is exact: acc^(2^slot_bits) * c^(m * 2^u) mod n^2."""

from __future__ import annotations

import gmpy2
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import generate_keypair
from sealdog.crypto.paillier.horner import odd_powers, shift_and_raise, square_times

PK, _ = generate_keypair(256, insecure=True)
NSQ = PK.nsquare
units = st.integers(2, int(NSQ) - 1)


@settings(max_examples=200, deadline=None)
@given(
    acc=st.one_of(st.none(), units),
    c=units,
    mantissa=st.integers(1, 2**70),
    octave=st.integers(0, 20),
    extra=st.integers(0, 40),
    window_bits=st.integers(1, 5),
)
def test_shift_and_raise_is_the_plain_exponentiation(
    acc: int | None, c: int, mantissa: int, octave: int, extra: int, window_bits: int
) -> None:
    slot_bits = mantissa.bit_length() + octave + extra
    got = shift_and_raise(
        None if acc is None else mpz(acc), mpz(c), mantissa, octave, slot_bits, NSQ, window_bits
    )
    expected = gmpy2.powmod(c, mantissa << octave, NSQ)
    if acc is not None:
        expected = gmpy2.powmod(acc, mpz(1) << slot_bits, NSQ) * expected % NSQ
    assert got == expected


@settings(max_examples=50, deadline=None)
@given(c=units, window_bits=st.integers(1, 6))
def test_odd_powers(c: int, window_bits: int) -> None:
    powers = odd_powers(mpz(c), NSQ, window_bits)
    assert len(powers) == 1 << (window_bits - 1)
    assert all(p % NSQ == gmpy2.powmod(c, 2 * i + 1, NSQ) for i, p in enumerate(powers))


def test_square_times() -> None:
    assert square_times(mpz(3), 5, NSQ) == gmpy2.powmod(3, 32, NSQ)


@pytest.mark.parametrize(("mantissa", "octave", "slot_bits"), [(0, 0, 8), (255, 1, 8), (1, -1, 8)])
def test_a_blinding_factor_outside_the_slot_is_refused(
    mantissa: int, octave: int, slot_bits: int
) -> None:
    with pytest.raises(ValueError):
        shift_and_raise(mpz(5), mpz(7), mantissa, octave, slot_bits, NSQ)
