"""One Horner step of packing: shift the accumulator by a slot and raise a score by r = m*2^u.

pack_scores builds Enc(P) = prod_k Enc(s_k)^(r_k * 2^(slot_bits*k)) as a Horner chain; one
step is acc^(2^slot_bits) * c^(m * 2^u) mod n^2. The slot_bits squarings of the shift are
needed anyway; m's bits ride on them (Straus/Shamir: one shared chain of squarings for the
two exponents), so the blinding costs only m's window products. Left-to-right sliding
windows of `WINDOW_BITS` over m use the odd powers c, c^3, ..., c^(2^w - 1) (1 squaring and
2^(w-1) - 1 products per step), then about bitlen(m) / (w + 1) products: for a 45-bit
mantissa at w = 3, 4 + ~11 products instead of 6 + ~13 with fixed 3-bit windows.

The blinding factor (m, u) is an input, drawn by the caller's sampler: this module only
computes, it never decides the distribution.
"""

from __future__ import annotations

from gmpy2 import mpz

WINDOW_BITS = 3  # odd powers c^1..c^7: measured best for 30..60-bit mantissas


def odd_powers(c: mpz, nsquare: mpz, window_bits: int = WINDOW_BITS) -> list[mpz]:
    """[c^1, c^3, ..., c^(2^w - 1)] mod n^2: entry i is c^(2i + 1) (one squaring, 2^(w-1)-1
    products)."""
    powers = [c]
    if window_bits > 1:
        c2 = c * c % nsquare
        for _ in range((1 << (window_bits - 1)) - 1):
            powers.append(powers[-1] * c2 % nsquare)
    return powers


def shift_and_raise(
    acc: mpz | None,
    c: mpz,
    mantissa: int,
    octave: int,
    slot_bits: int,
    nsquare: mpz,
    window_bits: int = WINDOW_BITS,
) -> mpz:
    """acc^(2^slot_bits) * c^(mantissa * 2^octave) mod n^2 (acc None: the second factor alone).

    Invariant: exactly slot_bits squarings of a non-None accumulator (the shift) and one
    product per sliding window of the mantissa. Requires mantissa >= 1 and
    bitlen(mantissa) + octave <= slot_bits.
    """
    length = mantissa.bit_length()
    if mantissa < 1 or octave < 0 or length + octave > slot_bits:
        raise ValueError("The blinding factor must be >= 1 and fit the slot.")
    powers = odd_powers(c, nsquare, window_bits)
    if acc is not None:
        acc = square_times(acc, slot_bits - octave - length, nsquare)
    i = length - 1
    while i >= 0:
        if not mantissa >> i & 1:
            if acc is not None:
                acc = acc * acc % nsquare
            i -= 1
            continue
        j = max(i - window_bits + 1, 0)
        while not mantissa >> j & 1:  # the window ends on a set bit: its value is odd
            j += 1
        digit = (mantissa >> j) & ((1 << (i - j + 1)) - 1)
        if acc is not None:
            acc = square_times(acc, i - j + 1, nsquare)
            acc = acc * powers[digit >> 1] % nsquare
        else:
            acc = powers[digit >> 1]
        i = j - 1
    assert acc is not None  # mantissa >= 1: its top bit opened a window
    return square_times(acc, octave, nsquare)


def square_times(x: mpz, times: int, nsquare: mpz) -> mpz:
    """x^(2^times) mod n^2 by `times` squarings."""
    for _ in range(times):
        x = x * x % nsquare
    return x
