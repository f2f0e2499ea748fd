"""c^x mod n^2 for a small count x by squarings and products, not by `gmpy2.powmod`.

A feature count (clipped at max_count, 2 in practice) raises a weight ciphertext to x.
`gmpy2.powmod(c, 2, n^2)` costs about 15 products at 3072 bits (measured: 161 us against
9.3 us for `c * c % n^2`; GMP converts to and from Montgomery form for every call), and an
Enron-Spam e-mail has ~20 buckets counted twice: the powmods cost more than the rest of its
product. Left-to-right square-and-multiply gives the same integer in bitlen(x) - 1
squarings and popcount(x) - 1 products.
"""

from __future__ import annotations

from gmpy2 import mpz


def small_power(c: mpz, x: int, nsquare: mpz) -> mpz:
    """c^x mod n^2 for x >= 1, equal to `gmpy2.powmod(c, x, nsquare)` for a reduced c.

    Invariant: bitlen(x) - 1 squarings and popcount(x) - 1 products (x = 1 returns c itself,
    x = 2 is one squaring). Meant for counts; large exponents belong to `powmod`.
    """
    if x < 1:
        raise ValueError(f"A count must be >= 1, got {x}.")
    acc = c
    for bit in range(x.bit_length() - 2, -1, -1):
        acc = acc * acc % nsquare
        if x >> bit & 1:
            acc = acc * c % nsquare
    return acc
