"""Fixed-point (real-valued) arithmetic on integer-vector ciphertexts, CKKS style.

A real value v is carried as the message y = w * 2**f * v (f = ct.scale_bits, usually 0:
the weight w = 2**log_w is the fixed-point scale, so values have log_w fractional bits).
A product of two such values has scale w**2 and is divided by w inside `inner_product`
(a modulus switch), so it comes back at scale w: "rescaling after products" is built in.
A plaintext constant r is applied as the integer round(r * 2**s) followed by a rescale by
2**s. Each ciphertext carries the bound of its message and the bound of its noise
(`ops.Ciphertext`); an operation that could wrap modulo the current q raises
NoiseBudgetExhausted, and `decrypt_real` returns the value with its error bound.

Long computations (encrypted training) are approximate by nature: the noise of one step
becomes part of the value the next step works on, exactly like rounding in float
arithmetic. `assume_bound` states that explicitly: the caller asserts a bound on the
(noisy) value, the accumulated noise is absorbed into the message and tracking restarts.
The assertion is the caller's responsibility (as the choice of scale is in CKKS).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from fractions import Fraction

from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.errors import VheShapeError
from sealdog.crypto.vhe.keys import Rng, SecretKey
from sealdog.crypto.vhe.ops import Ciphertext, ProductKey, PublicKey

CONSTANT_BITS = 20


def _numerators(values: Sequence[float | Fraction | int], w: int, scale_bits: int) -> list[int]:
    out = []
    for v in values:
        if isinstance(v, bool) or not isinstance(v, (int, float, Fraction)):
            raise VheShapeError(f"fixed-point values must be real numbers, got {v!r}")
        if isinstance(v, float) and not math.isfinite(v):
            raise VheShapeError("fixed-point values must be finite")
        out.append(round(Fraction(v) * w * (1 << scale_bits)))
    return out


def encrypt_real(
    key: SecretKey | PublicKey, values: Sequence[float], rng: Rng | None = None
) -> Ciphertext:
    """Encrypt reals rounded to the scale w (log_w fractional bits), with either key."""
    if isinstance(key, SecretKey):
        return ops.encrypt_numerators(key, _numerators(values, key.params.w, 0), 0, rng)
    return ops.encrypt_public(key, [], rng, numerators=_numerators(values, key.switch.params.w, 0))


def decrypt_real(sk: SecretKey, ct: Ciphertext) -> tuple[list[Fraction], Fraction]:
    """The exact rational values (S c mod q_c) / (w 2**f) and a bound on their error."""
    scale = ct.params.w << ct.scale_bits if ct.scale_bits >= 0 else ct.params.w
    ys = ops.decrypt_numerators(sk, ct)
    return [Fraction(y, scale) for y in ys], Fraction(ct.noise, scale)


def mul_const(ct: Ciphertext, constant: float | Fraction, bits: int = CONSTANT_BITS) -> Ciphertext:
    """ct * r for a plaintext real r, quantised to `bits` fractional bits, then rescaled."""
    factor = round(Fraction(constant) * (1 << bits))
    return ops.rescale(replace(ops.mul_int(ct, factor), scale_bits=ct.scale_bits + bits), bits)


def add_const(ct: Ciphertext, constant: float | Fraction) -> Ciphertext:
    """ct + r for a plaintext real r (added to every slot)."""
    return ops.add_plain(ct, _numerators([constant] * ct.dim, ct.params.w, ct.scale_bits))


def multiply(a: Ciphertext, b: Ciphertext, key: ProductKey) -> Ciphertext:
    """Product of two fixed-point values (an inner product with H = [[1]] for scalars)."""
    out = ops.inner_product(a, b, key)
    return ops.rescale(out, out.scale_bits) if out.scale_bits else out


def assume_bound(ct: Ciphertext, value_bound: float) -> Ciphertext:
    """Assert |value| <= value_bound (noise included); absorb the noise into the message."""
    if not value_bound > 0:
        raise VheShapeError("value_bound must be positive")
    scale = ct.params.w << ct.scale_bits
    return replace(ct, bound=int(Fraction(value_bound) * scale) + 1, noise=0)
