"""DJN short-exponent randomisers and fixed-point encoding, against plain arithmetic."""

from __future__ import annotations

import math

import gmpy2
import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import DJNRandomiser, FixedPoint, generate_keypair
from sealdog.crypto.paillier.randomiser import exponent_bits

PK, SK = generate_keypair(768, insecure=True)
DJN = DJNRandomiser(PK)


def test_exponent_lengths_are_twice_lambda() -> None:
    assert exponent_bits(2048) == 224 and exponent_bits(3072) == 256
    assert DJN.exp_bits == 224


@settings(max_examples=50, deadline=None)
@given(st.integers(min_value=0, max_value=2**224 - 1))
def test_table_power_equals_powmod(a: int) -> None:
    assert DJN.power(a) == gmpy2.powmod(DJN.hs, a, PK.nsquare)


def test_randomisers_are_encryptions_of_zero_and_differ() -> None:
    r1, r2 = DJN.randomiser(), DJN.randomiser()
    assert r1 != r2
    assert SK.decrypt_raw(r1) == 0 and SK.decrypt_raw(r2) == 0
    # base is of the form -x^2 mod n: its Jacobi symbol is that of -1
    assert gmpy2.jacobi(DJN.base, PK.n) == gmpy2.jacobi(PK.n - 1, PK.n)


@settings(max_examples=30, deadline=None)
@given(st.integers(min_value=-(2**200), max_value=2**200))
def test_encrypt_with_decrypts(m: int) -> None:
    c = DJN.encrypt_with(m % PK.n, DJN.random_exponent())
    assert SK.decrypt_signed(c) == m


@settings(max_examples=200, deadline=None)
@given(
    st.floats(min_value=-1e6, max_value=1e6, allow_nan=False),
    st.integers(min_value=0, max_value=40),
)
def test_fixed_point_error_bound(x: float, f: int) -> None:
    fp = FixedPoint(f)
    enc = fp.encode(x)
    assert isinstance(enc, int)
    # exact rational check: |enc/2^f - x| <= 2^-(f+1)
    from fractions import Fraction

    assert abs(Fraction(enc, 2**f) - Fraction(x)) <= Fraction(1, 2 ** (f + 1))
    assert abs(fp.decode(enc) - x) <= fp.error_bound() + abs(x) * 2**-52


def test_fixed_point_arrays_and_errors() -> None:
    fp = FixedPoint(24)
    arr = fp.encode(np.array([0.5, -1.25, 3e-9]))
    assert arr.dtype == object and arr.tolist() == [2**23, -(5 * 2**22), round(3e-9 * 2**24)]
    import pytest

    from sealdog.crypto.paillier import FixedPointError

    with pytest.raises(FixedPointError):
        fp.encode(np.array([1.0, math.nan]))
    with pytest.raises(FixedPointError):
        fp.encode(math.inf)
