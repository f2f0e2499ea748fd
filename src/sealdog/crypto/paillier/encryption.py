"""The one Paillier encryption formula, and the types of ciphertexts.

With g = n + 1, g^m = 1 + m*n (mod n^2) (binomial theorem), so for an n-th residue rho
(rho = r^n mod n^2 for a full opening r, or hs^a for a DJN randomiser, see randomiser.py)

    Enc(m; rho) = (1 + m*n) * rho  mod n^2.

`encrypt` computes it as rho + n * (m*rho mod n)  mod n^2, the same integer in [0, n^2): only
m mod n matters, so a negative m is its residue n - |m| (the signed encoding the key holder's
`decrypt_signed` reverses). It equals phe's `raw_encrypt(m mod n, r_value=r)` for rho = r^n.

With rho a ciphertext Enc(x; r) instead, the same product is Enc(x + m; r): adding a public
plaintext, which is how packing adds its slot offsets.
"""

from __future__ import annotations

from typing import TypeAlias

from gmpy2 import mpz

from sealdog.crypto.paillier.keys import PublicKey

Ciphertext: TypeAlias = mpz
"""A unit of Z_{n^2}: 0 < c < n^2, gcd(c, n) = 1."""

Ciphertexts: TypeAlias = list[mpz]
"""A vector of ciphertexts under one key (weights, packed verdicts, a sealed model's payload)."""


def encrypt(pk: PublicKey, m: int | mpz, rho: mpz) -> mpz:
    """(1 + m*n) * rho mod n^2 for any integer m (see module doc): Enc(m; rho)."""
    n = pk.n
    return (rho + n * (m * rho % n)) % pk.nsquare
