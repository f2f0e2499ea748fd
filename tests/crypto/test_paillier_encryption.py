"""The one encryption primitive, against phe's arithmetic and exact decryption (small keys)."""

from __future__ import annotations

import gmpy2
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import DJNRandomiser, encrypt, generate_keypair
from sealdog.crypto.paillier.keys import PublicKey, SecretKey

KEYS = [generate_keypair(bits, insecure=True) for bits in (128, 256, 512)]

keys = st.sampled_from(KEYS)
plaintexts = st.integers(min_value=-(2**700), max_value=2**700)


def _unit(pk: PublicKey, seed: int) -> mpz:
    """A unit r of Z_n (the opening), derived from a drawn integer."""
    r = mpz(seed) % pk.n
    while r == 0 or gmpy2.gcd(r, pk.n) != 1:
        r = (r + 1) % pk.n
    return r


@settings(max_examples=150, deadline=None)
@given(keys, plaintexts, st.integers(min_value=1, max_value=2**600))
def test_encrypt_equals_phe_raw_encrypt(
    key: tuple[PublicKey, SecretKey], m: int, seed: int
) -> None:
    pk, _ = key
    r = _unit(pk, seed)
    rho = gmpy2.powmod(r, pk.n, pk.nsquare)
    expected = pk.to_phe().raw_encrypt(m % int(pk.n), r_value=int(r))
    assert encrypt(pk, m, rho) == expected
    assert 0 < encrypt(pk, m, rho) < pk.nsquare


@settings(max_examples=150, deadline=None)
@given(keys, plaintexts, st.integers(min_value=1, max_value=2**600))
def test_encrypt_decrypts_to_m_exactly(key: tuple[PublicKey, SecretKey], m: int, seed: int) -> None:
    pk, sk = key
    rho = gmpy2.powmod(_unit(pk, seed), pk.n, pk.nsquare)
    c = encrypt(pk, m, rho)
    assert sk.decrypt_raw(c) == m % pk.n
    if 2 * abs(m) < pk.n:  # the signed range [-(n-1)/2, (n-1)/2]
        assert sk.decrypt_signed(c) == m
    # only m mod n matters: its residue gives the same ciphertext
    assert encrypt(pk, mpz(m) % pk.n, rho) == c


@settings(max_examples=60, deadline=None)
@given(keys, st.integers(-(2**40), 2**40), st.integers(-(2**40), 2**40), st.integers(1, 2**300))
def test_encrypt_over_a_ciphertext_adds_a_public_plaintext(
    key: tuple[PublicKey, SecretKey], x: int, m: int, seed: int
) -> None:
    """What packing relies on: (1 + m*n) * Enc(x) = Enc(x + m)."""
    pk, sk = key
    cx = encrypt(pk, x, gmpy2.powmod(_unit(pk, seed), pk.n, pk.nsquare))
    assert sk.decrypt_signed(encrypt(pk, m, cx)) == x + m


@settings(max_examples=40, deadline=None)
@given(keys, plaintexts, st.data())
def test_djn_encrypt_with_is_the_primitive(
    key: tuple[PublicKey, SecretKey], m: int, data: st.DataObject
) -> None:
    pk, sk = key
    djn = DJNRandomiser(pk, exp_bits=64)
    a = data.draw(st.integers(min_value=0, max_value=2**64 - 1))
    c = djn.encrypt_with(m, a)
    assert c == encrypt(pk, m, djn.power(a)) == encrypt(pk, m, gmpy2.powmod(djn.hs, a, pk.nsquare))
    assert sk.decrypt_raw(c) == m % pk.n
