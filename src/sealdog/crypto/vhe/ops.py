"""Ciphertexts and the homomorphic operations, with the scale and noise bound of each value.

Invariant of every Ciphertext ct under key S = [I_m, T] at modulus q_c = 2**ct.log_q:

    S c = y + e  (mod q_c),   y = w * 2**ct.scale_bits * value,
    max|y| <= ct.bound,  max|e| <= ct.noise,  ct.bound + ct.noise < q_c / 2.

Integer plaintexts have scale_bits = 0 and y = w * x; they decrypt exactly as
round((S c mod q_c) / w) while noise < w / 2. Every operation updates both bounds by a
worst-case rule and raises NoiseBudgetExhausted the moment the message could wrap mod q_c
or the modulus chain runs out, so a ciphertext that decrypts is never silently wrong.

Operations (evaluator side, no secret key): add/sub/negate, multiply by plaintext
integers, mod_drop (align levels: reduce mod a smaller power of two; the message is
unchanged), rescale (divide the message by 2**s: round(c / 2**s) mod q_c / 2**s),
linear_transform (key switch from G S), inner_product (tensor + key switch from
vec(S1^T H S2), then divide by w), rerandomise (add a fresh public encryption of zero).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np

from sealdog.crypto.vhe.errors import NoiseBudgetExhausted, VheKeyMismatch, VheShapeError
from sealdog.crypto.vhe.keys import Rng, SecretKey, system_rng
from sealdog.crypto.vhe.keyswitch import KeySwitchMatrix, apply_key_switch, make_key_switch
from sealdog.crypto.vhe.params import VheParams


@dataclass(frozen=True)
class Ciphertext:
    """An encrypted m-vector; see the module docstring for the invariant."""

    params: VheParams
    key_id: str
    dim: int
    c: tuple[int, ...]
    log_q: int
    scale_bits: int
    noise: int
    bound: int

    def __post_init__(self) -> None:
        _check_budget(self)

    @property
    def noise_budget_bits(self) -> float:
        """log2 of the remaining headroom before decryption (or the modulus) would fail."""
        import math

        used = max(self.bound + self.noise, 1)
        return self.log_q - 1 - math.log2(used)


def _check_budget(ct: Ciphertext) -> None:
    if ct.log_q < ct.params.min_log_q:
        raise NoiseBudgetExhausted(
            f"ciphertext at modulus 2^{ct.log_q} is below the lowest level "
            f"2^{ct.params.min_log_q}: "
            "the computation is too deep for this preset; use a preset with a larger log_q"
        )
    if 2 * (ct.bound + ct.noise) >= (1 << ct.log_q):
        raise NoiseBudgetExhausted(
            f"message bound 2^{ct.bound.bit_length()} plus noise 2^{ct.noise.bit_length()} "
            "would wrap "
            f"modulo 2^{ct.log_q}: the noise budget is exhausted (fewer operations, smaller values "
            "or a preset with a larger modulus)"
        )


@dataclass(frozen=True, repr=False)
class PublicKey:
    """The key-switch matrix from the identity key I_m to S (anyone can encrypt with it), plus a
    switch matrix from the zero key: switching a uniformly random vector with it gives a fresh
    encryption of zero (a random subset sum of n * l LWE samples) that randomises each
    encryption."""

    key_id: str
    dim: int
    switch: KeySwitchMatrix
    zero_switch: KeySwitchMatrix

    def __repr__(self) -> str:
        return f"PublicKey(dim={self.dim}, key_id={self.key_id!r})"


@dataclass(frozen=True, repr=False)
class LinearTransformKey:
    """Evaluation key for x -> G x: a switch from G S_in to S_out. G is hidden in LWE samples."""

    source_key_id: str
    source_dim: int
    out_dim: int
    g_norm: int  # max row sum of |G|: enough to track bounds, says little about G
    switch: KeySwitchMatrix

    def __repr__(self) -> str:
        return f"LinearTransformKey({self.source_dim} -> {self.out_dim})"


@dataclass(frozen=True, repr=False)
class ProductKey:
    """Evaluation key for (x1, x2) -> x1^T H x2: a switch from vec(S1^T H S2) to S_out (dim 1)."""

    left_key_id: str
    right_key_id: str
    left_dim: int
    right_dim: int
    h_norm: int  # sum of |H|, for the bound tracking
    switch: KeySwitchMatrix

    def __repr__(self) -> str:
        return f"ProductKey({self.left_dim} x {self.right_dim} -> 1)"


# ----------------------------------------------------------------------------- key holder side


def make_public_key(sk: SecretKey, rng: Rng | None = None) -> PublicKey:
    """The switch matrix from I_m to sk: the public key of the scheme."""
    identity = [[1 if i == j else 0 for j in range(sk.dim)] for i in range(sk.dim)]
    zero = [[0] * sk.width for _ in range(sk.dim)]
    return PublicKey(
        key_id=sk.key_id,
        dim=sk.dim,
        switch=make_key_switch(identity, sk, rng),
        zero_switch=make_key_switch(zero, sk, rng),
    )


def make_linear_transform_key(
    sk_in: SecretKey, g: Sequence[Sequence[int]], sk_out: SecretKey, rng: Rng | None = None
) -> LinearTransformKey:
    """Evaluation key for multiplying ciphertexts under sk_in by the integer matrix G (m' x m)."""
    g_rows = [[_as_int(v, "G") for v in row] for row in g]
    if not g_rows or any(len(row) != sk_in.dim for row in g_rows):
        raise VheShapeError(f"G must have {sk_in.dim} columns (the input dimension)")
    if len(g_rows) != sk_out.dim:
        raise VheShapeError(
            f"G has {len(g_rows)} rows but the output key has dimension {sk_out.dim}"
        )
    s = sk_in.matrix()
    gs = [
        [sum(g_row[i] * s[i][j] for i in range(sk_in.dim)) for j in range(sk_in.width)]
        for g_row in g_rows
    ]
    return LinearTransformKey(
        source_key_id=sk_in.key_id,
        source_dim=sk_in.dim,
        out_dim=sk_out.dim,
        g_norm=max(sum(abs(v) for v in row) for row in g_rows),
        switch=make_key_switch(gs, sk_out, rng),
    )


def make_product_key(
    sk_left: SecretKey,
    sk_right: SecretKey,
    h: Sequence[Sequence[int]],
    sk_out: SecretKey,
    rng: Rng | None = None,
) -> ProductKey:
    """Evaluation key for x1^T H x2: x1 under sk_left, x2 under sk_right, result under sk_out."""
    h_rows = [[_as_int(v, "H") for v in row] for row in h]
    if len(h_rows) != sk_left.dim or any(len(row) != sk_right.dim for row in h_rows):
        raise VheShapeError(f"H must be {sk_left.dim} x {sk_right.dim}")
    if sk_out.dim != 1:
        raise VheShapeError("an inner product is a scalar: the output key must have dimension 1")
    s1, s2 = np.array(sk_left.matrix(), dtype=object), np.array(sk_right.matrix(), dtype=object)
    big = s1.T.dot(np.array(h_rows, dtype=object)).dot(s2)  # n1 x n2
    source = [[int(v) for v in big.reshape(-1)]]
    return ProductKey(
        left_key_id=sk_left.key_id,
        right_key_id=sk_right.key_id,
        left_dim=sk_left.dim,
        right_dim=sk_right.dim,
        h_norm=sum(abs(v) for row in h_rows for v in row),
        switch=make_key_switch(source, sk_out, rng),
    )


def _as_int(value: object, what: str) -> int:
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise VheShapeError(f"{what} must hold integers, got {value!r}")
    return int(value)


def encrypt_numerators(
    sk: SecretKey, numerators: Sequence[int], scale_bits: int = 0, rng: Rng | None = None
) -> Ciphertext:
    """Secret-key encryption of y (y = w * 2**scale_bits * value): c = [y + e - T a ; a] mod q."""
    params = sk.params
    ys = [_as_int(v, "plaintext") for v in numerators]
    if len(ys) != sk.dim:
        raise VheShapeError(f"this key encrypts {sk.dim}-vectors, got {len(ys)} values")
    rng = rng or system_rng()
    q = params.q
    a = [rng.getrandbits(params.log_q) for _ in range(params.lwe_dim)]
    top = [
        (
            y
            + rng.randint(-params.error_bound, params.error_bound)
            - sum(t * ai for t, ai in zip(t_row, a))
        )
        % q
        for y, t_row in zip(ys, sk.t)
    ]
    return Ciphertext(
        params=params,
        key_id=sk.key_id,
        dim=sk.dim,
        c=tuple(top + a),
        log_q=params.log_q,
        scale_bits=scale_bits,
        noise=params.error_bound,
        bound=max(abs(y) for y in ys),
    )


def encrypt(sk: SecretKey, values: Sequence[int], rng: Rng | None = None) -> Ciphertext:
    """Secret-key encryption of an integer vector x (message y = w x)."""
    return encrypt_numerators(sk, [sk.params.w * _as_int(v, "plaintext") for v in values], 0, rng)


def decrypt_numerators(sk: SecretKey, ct: Ciphertext) -> list[int]:
    """S c mod q_c, symmetric: y + e. Checks the key and that nothing wrapped."""
    if sk.key_id != ct.key_id or sk.dim != ct.dim or len(ct.c) != sk.width:
        raise VheKeyMismatch(
            f"ciphertext is under key {ct.key_id!r} (dim {ct.dim}); "
            f"this secret key is {sk.key_id!r}"
        )
    _check_budget(ct)
    q_c = 1 << ct.log_q
    half = q_c >> 1
    out = []
    for row in sk.matrix():
        value = sum(s * c for s, c in zip(row, ct.c)) % q_c
        out.append(value - q_c if value >= half else value)
    return out


def decrypt(sk: SecretKey, ct: Ciphertext) -> list[int]:
    """The integer vector x = round((S c mod q_c) / w); refuses when it could be wrong."""
    if ct.scale_bits != 0:
        raise NoiseBudgetExhausted(
            f"ciphertext holds a fixed-point value (scale 2^{ct.scale_bits}): "
            "use fixed_point.decrypt_real"
        )
    w = ct.params.w
    if 2 * ct.noise >= w:
        raise NoiseBudgetExhausted(
            f"noise bound {ct.noise} reaches w/2 = {w // 2}: exact decryption is no longer "
            "guaranteed; "
            "use fewer operations or a preset with a larger w"
        )
    return [_round_div(y, w) for y in decrypt_numerators(sk, ct)]


def _round_div(a: int, b: int) -> int:
    """round(a / b) for b > 0, halves away from zero, exactly."""
    return (2 * a + b) // (2 * b)


def encrypt_public(
    pk: PublicKey,
    values: Sequence[int],
    rng: Rng | None = None,
    *,
    scale_bits: int = 0,
    numerators: Sequence[int] | None = None,
) -> Ciphertext:
    """Public-key encryption: switch the trivial ciphertext w x + r (r uniform on [-R, R]) to S,
    then add a fresh encryption of zero (the zero-key switch of a uniform vector)."""
    params = pk.switch.params
    if numerators is None:
        ys = [params.w * _as_int(v, "plaintext") for v in values]
    else:
        ys = [_as_int(v, "plaintext") for v in numerators]
    if len(ys) != pk.dim:
        raise VheShapeError(f"this key encrypts {pk.dim}-vectors, got {len(ys)} values")
    rng = rng or system_rng()
    rr = params.rerandomise_bound
    width = pk.zero_switch.source_width
    noise = (
        rr + params.switch_noise(pk.dim, params.log_q) + params.switch_noise(width, params.log_q)
    )
    # The switch noise is large next to w with a wide gadget base: encrypt 2**shift * y and
    # rescale by 2**shift afterwards, which divides the noise by 2**shift (costs shift bits).
    shift = noise.bit_length()
    if params.log_q - shift < params.min_log_q:
        shift = 0
    trivial = [((y << shift) + rng.randint(-rr, rr)) % params.q for y in ys]
    c = apply_key_switch(pk.switch, trivial, params.log_q)
    zero = apply_key_switch(
        pk.zero_switch, [rng.getrandbits(params.log_q) for _ in range(width)], params.log_q
    )
    c = tuple((u + v) % params.q for u, v in zip(c, zero))
    ct = Ciphertext(
        params=params,
        key_id=pk.key_id,
        dim=pk.dim,
        c=c,
        log_q=params.log_q,
        scale_bits=scale_bits + shift,
        noise=noise,
        bound=max(abs(y) for y in ys) << shift,
    )
    return rescale(ct, shift)


# ----------------------------------------------------------------------------- evaluator side


def _same_key(a: Ciphertext, b: Ciphertext) -> None:
    if a.key_id != b.key_id or a.dim != b.dim:
        raise VheKeyMismatch("ciphertexts are under different keys or dimensions; key-switch first")
    if a.scale_bits != b.scale_bits:
        raise VheShapeError(
            f"scales differ (2^{a.scale_bits} vs 2^{b.scale_bits}): rescale one operand first"
        )


def mod_drop(ct: Ciphertext, log_q: int) -> Ciphertext:
    """The same message at the smaller modulus 2**log_q (which divides q_c): c mod 2**log_q."""
    if log_q > ct.log_q:
        raise VheShapeError("mod_drop can only lower the modulus")
    if log_q == ct.log_q:
        return ct
    mask = (1 << log_q) - 1
    return replace(ct, c=tuple(v & mask for v in ct.c), log_q=log_q)


def _align(a: Ciphertext, b: Ciphertext) -> tuple[Ciphertext, Ciphertext]:
    level = min(a.log_q, b.log_q)
    return mod_drop(a, level), mod_drop(b, level)


def add(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    """Enc(x1) + Enc(x2) = Enc(x1 + x2): noise and bounds add."""
    _same_key(a, b)
    a, b = _align(a, b)
    mask = (1 << a.log_q) - 1
    return replace(
        a,
        c=tuple((x + y) & mask for x, y in zip(a.c, b.c)),
        noise=a.noise + b.noise,
        bound=a.bound + b.bound,
    )


def mul_int(ct: Ciphertext, factor: int) -> Ciphertext:
    """Enc(x) * a = Enc(a x) for a plaintext integer a: noise and bound scale by |a|."""
    a = _as_int(factor, "factor")
    mask = (1 << ct.log_q) - 1
    return replace(
        ct, c=tuple((a * v) & mask for v in ct.c), noise=abs(a) * ct.noise, bound=abs(a) * ct.bound
    )


def negate(ct: Ciphertext) -> Ciphertext:
    return mul_int(ct, -1)


def sub(a: Ciphertext, b: Ciphertext) -> Ciphertext:
    return add(a, negate(b))


def add_plain(ct: Ciphertext, values: Sequence[int]) -> Ciphertext:
    """Enc(y) + y' for plaintext numerators y' (same scale): added to the identity part of c."""
    ys = [_as_int(v, "plaintext") for v in values]
    if len(ys) != ct.dim:
        raise VheShapeError(f"expected {ct.dim} plaintext values, got {len(ys)}")
    mask = (1 << ct.log_q) - 1
    c = tuple((v + ys[i]) & mask if i < ct.dim else v for i, v in enumerate(ct.c))
    return replace(ct, c=c, bound=ct.bound + max(abs(y) for y in ys))


def rescale(ct: Ciphertext, bits: int) -> Ciphertext:
    """Divide the message by 2**bits: c' = round(c / 2**bits) mod q_c / 2**bits (modulus switch).

    S c' = (y + e) / 2**bits + S rho with |rho| <= 1/2, so the noise becomes
    noise / 2**bits + (1 + k) / 2 and the scale drops by `bits`.
    """
    if bits < 0:
        raise VheShapeError("rescale needs bits >= 0")
    if bits == 0:
        return ct
    if bits > ct.scale_bits:
        raise VheShapeError(
            f"cannot rescale by 2^{bits} a value at scale 2^{ct.scale_bits}: "
            "integers do not divide exactly"
        )
    new_log_q = ct.log_q - bits
    if new_log_q < ct.params.min_log_q:
        raise NoiseBudgetExhausted(
            f"rescaling by 2^{bits} would go below the lowest modulus 2^{ct.params.min_log_q}: "
            "the computation is deeper than this preset's modulus chain allows"
        )
    half = 1 << (bits - 1)
    mask = (1 << new_log_q) - 1
    c = tuple(((v + half) >> bits) & mask for v in ct.c)
    return replace(
        ct,
        c=c,
        log_q=new_log_q,
        scale_bits=ct.scale_bits - bits,
        noise=-(-ct.noise >> bits) + ct.params.rounding_noise,
        bound=-(-ct.bound >> bits),
    )


def linear_transform(ct: Ciphertext, key: LinearTransformKey) -> Ciphertext:
    """Enc(x) under S_in -> Enc(G x) under S_out: c encrypts G x under G S_in; switch it."""
    if ct.key_id != key.source_key_id or ct.dim != key.source_dim:
        raise VheKeyMismatch("this linear-transform key was made for a different input key")
    params = ct.params
    c = apply_key_switch(key.switch, ct.c, ct.log_q)
    return Ciphertext(
        params=params,
        key_id=key.switch.target_key_id,
        dim=key.out_dim,
        c=c,
        log_q=ct.log_q,
        scale_bits=ct.scale_bits,
        noise=key.g_norm * ct.noise + params.switch_noise(len(ct.c), ct.log_q),
        bound=key.g_norm * ct.bound,
    )


def inner_product(a: Ciphertext, b: Ciphertext, key: ProductKey) -> Ciphertext:
    """Enc(x1), Enc(x2) -> Enc(x1^T H x2) (dimension 1), the scale is the sum of the scales.

    vec(S1^T H S2) . vec(c1 c2^T) = (y1 + e1)^T H (y2 + e2) mod q_c exactly; switch that
    tensor ciphertext to S_out, then divide by w (rescale by log_w bits).
    """
    if (a.key_id, b.key_id) != (key.left_key_id, key.right_key_id) or (a.dim, b.dim) != (
        key.left_dim,
        key.right_dim,
    ):
        raise VheKeyMismatch("this product key was made for different operand keys")
    params = a.params
    a, b = mod_drop(a, min(a.log_q, b.log_q)), mod_drop(b, min(a.log_q, b.log_q))
    if a.log_q - params.log_w < params.min_log_q:
        raise NoiseBudgetExhausted(
            f"a product at modulus 2^{a.log_q} would go below the lowest modulus "
            f"2^{params.min_log_q}: "
            f"this preset allows {params.product_levels} chained products; use a larger preset"
        )
    q_c = 1 << a.log_q
    mask = q_c - 1
    tensor = [(x * y) & mask for x in a.c for y in b.c]
    switched = apply_key_switch(key.switch, tensor, a.log_q)
    h = key.h_norm
    noise = h * (a.bound * b.noise + a.noise * b.bound + a.noise * b.noise) + params.switch_noise(
        len(tensor), a.log_q
    )
    wide = Ciphertext.__new__(
        Ciphertext
    )  # the double-scale intermediate may exceed the budget check
    object.__setattr__(wide, "params", params)
    for name, value in (
        ("key_id", key.switch.target_key_id),
        ("dim", 1),
        ("c", switched),
        ("log_q", a.log_q),
        ("scale_bits", a.scale_bits + b.scale_bits + params.log_w),
        ("noise", noise),
        ("bound", h * a.bound * b.bound),
    ):
        object.__setattr__(wide, name, value)
    if 2 * (wide.bound + wide.noise) >= q_c:
        raise NoiseBudgetExhausted(
            f"the product's message and noise (2^{(wide.bound + wide.noise).bit_length()}) "
            "would wrap "
            f"modulo 2^{a.log_q}: values or noise too large for this preset"
        )
    return rescale(wide, params.log_w)


def rerandomise(ct: Ciphertext, pk: PublicKey, rng: Rng | None = None) -> Ciphertext:
    """Add a fresh public-key encryption of zero: same message, fresh-looking c."""
    if pk.key_id != ct.key_id or pk.dim != ct.dim:
        raise VheKeyMismatch("the public key does not match the ciphertext's key")
    zero = encrypt_public(pk, [0] * ct.dim, rng, scale_bits=ct.scale_bits)
    return add(ct, zero)  # add() aligns the levels (mod drop of the fresher one)
