"""Counts raise weight ciphertexts by squarings and products: the same integers as powmod."""

from __future__ import annotations

import gmpy2
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import generate_keypair
from sealdog.crypto.paillier.small_powers import small_power

PK, _ = generate_keypair(256, insecure=True)
NSQ = PK.nsquare


@settings(max_examples=300, deadline=None)
@given(st.integers(1, int(NSQ) - 1), st.integers(1, 300))
def test_small_power_is_powmod(c: int, x: int) -> None:
    assert small_power(mpz(c), x, NSQ) == gmpy2.powmod(c, x, NSQ)


def test_count_one_is_the_ciphertext_itself_and_zero_is_refused() -> None:
    c = mpz(123456789)
    assert small_power(c, 1, NSQ) is c
    with pytest.raises(ValueError):
        small_power(c, 0, NSQ)
