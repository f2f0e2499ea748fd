"""Sealed linear models: encrypted fixed-point weights, and their evaluation on sparse inputs.

Score of a sparse input (indices i, counts x_i):  s = b + sum_i x_i * w_i  (integers, scale 2^f),
computed as Enc(b) * prod_i Enc(w_i)^x_i mod n^2 on raw gmpy2 integers (binary counts: one
modular product per token). `seal_linear` refuses a model whose largest possible |s| (the
`score_bound`, |b| + max_count * sum|w_i|) could exceed n/3 or not fit a packing slot, so an
encrypted score can never wrap around modulo n. `seal_linear_with_openings` also returns the
encryption randomness, for an auditor.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import gmpy2
import numpy as np
from gmpy2 import mpz

from sealdog.crypto.paillier.encryption import Ciphertexts, encrypt
from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS, FixedPoint
from sealdog.crypto.paillier.keys import PublicKey
from sealdog.crypto.paillier.randomiser import DJNRandomiser, full_randomiser
from sealdog.crypto.paillier.small_powers import small_power
from sealdog.crypto.paillier.subset_products import SubsetProducts, SubsetTableError
from sealdog.crypto.paillier.verdicts import (
    EncryptedVerdicts,
    Mode,
    PackingError,
    PackingLayout,
    blinding_bits_for,
    pack_scores,
)
from sealdog.errors import SealdogError

# The former fixed length of a uniform r. Kept for callers that pass it explicitly; the default
# is now derived from the score bound (`blinding_bits_for`: log-uniform r, see verdicts.py).
DEFAULT_BLINDING_BITS = 64
MAX_BLINDING_BITS = 128  # cap for an explicit blinding_bits
# Fixed-point scale: |float score - S/2^f| <= (1 + sum x_i) * 2^-(f+1); at f = 20 and 150 binary
# features that is 7.2e-5. Every bit of f costs two bits of slot (score and mantissa of r).


class ScoreOverflowError(SealdogError):
    """The model's largest possible score could wrap around modulo n (or not fit a slot)."""


class InvalidFeatureVectorError(SealdogError):
    """A sparse input is malformed: indices not sorted/unique/in range, or counts out of range."""


@dataclass(frozen=True)
class SealedLinear:
    """Encrypted weights w_i and bias b of a linear model, all at scale 2^scale_bits.

    Invariant (checked by `seal_linear`, re-checked here): |score| <= score_bound <= n/3 for
    every input whose counts are in 1..max_count.
    """

    public_key: PublicKey
    weights: Ciphertexts
    bias: mpz
    scale_bits: int
    max_count: int
    score_bound: int

    def __post_init__(self) -> None:
        if self.max_count < 1:
            raise ScoreOverflowError("max_count must be >= 1.")
        if not 0 <= self.score_bound <= self.public_key.n // 3:
            raise ScoreOverflowError("score_bound exceeds the safe range n/3 of this key.")

    @property
    def dim(self) -> int:
        return len(self.weights)


@dataclass(frozen=True)
class Openings:
    """The encryption randomness of a sealed model, for an auditor (never for the server).

    Weight i was encrypted as (1 + m_i*n) * hs^(a_i) mod n^2 with hs = base^n mod n^2.
    """

    base: int
    exp_bits: int
    weight_exponents: list[int] = field(repr=False)
    bias_exponent: int = field(repr=False)

    def verify(self, sealed: SealedLinear, weights: np.ndarray, bias: float) -> bool:
        """Re-encrypt the plaintext model with these openings and compare every ciphertext."""
        pk = sealed.public_key
        fp = FixedPoint(sealed.scale_bits)
        ints = fp.encode(np.asarray(weights, dtype=np.float64).reshape(-1)).tolist()
        if len(ints) != sealed.dim or len(self.weight_exponents) != sealed.dim:
            return False
        hs = gmpy2.powmod(mpz(self.base), pk.n, pk.nsquare)

        def enc(m: int, a: int) -> mpz:
            return encrypt(pk, m, gmpy2.powmod(hs, a, pk.nsquare))

        if enc(fp.encode(bias), self.bias_exponent) != sealed.bias:
            return False
        return all(enc(m, a) == c for m, a, c in zip(ints, self.weight_exponents, sealed.weights))


def score_bound_of(weight_ints: Sequence[int], bias_int: int, max_count: int) -> int:
    """|b| + max_count * sum |w_i|: the largest |score| over all allowed inputs (>= 1)."""
    return max(1, abs(int(bias_int)) + max_count * sum(abs(int(w)) for w in weight_ints))


def check_bounds(pk: PublicKey, score_bound: int, blinding_bits: int | None = None) -> None:
    """Raise ScoreOverflowError unless scores up to score_bound are safe under pk.

    blinding_bits None: the verdict-mode default, `blinding_bits_for(score_bound)`.
    """
    if blinding_bits is None:
        blinding_bits = blinding_bits_for(score_bound)
    if score_bound > pk.n // 3:
        raise ScoreOverflowError(
            f"The largest possible |score| ({score_bound.bit_length()} bits) could exceed n/3 "
            f"for this {pk.bits}-bit key: lower scale_bits, clip the weights or lower max_count."
        )
    try:
        PackingLayout.derive(pk.bits, score_bound, blinding_bits)
    except PackingError as exc:
        raise ScoreOverflowError(
            f"The largest possible |score| ({score_bound.bit_length()} bits) plus {blinding_bits} "
            f"blinding bits does not fit one packing slot of a {pk.bits}-bit key: lower scale_bits "
            "or clip the weights."
        ) from exc


def seal_linear(
    pk: PublicKey,
    weights: np.ndarray,
    bias: float,
    *,
    scale_bits: int = DEFAULT_SCALE_BITS,
    max_count: int = 1,
) -> SealedLinear:
    """Encrypt a weight vector and bias at one fixed-point scale (DJN randomisers, fresh base)."""
    sealed, _ = seal_linear_with_openings(
        pk, weights, bias, scale_bits=scale_bits, max_count=max_count
    )
    return sealed


def seal_linear_with_openings(
    pk: PublicKey,
    weights: np.ndarray,
    bias: float,
    *,
    scale_bits: int = DEFAULT_SCALE_BITS,
    max_count: int = 1,
) -> tuple[SealedLinear, Openings]:
    """`seal_linear`, plus the randomness of every ciphertext (for an auditor, never the server)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 1:
        raise SealdogError(f"weights must be a 1-D vector, got shape {w.shape}.")
    if max_count < 1:
        raise ScoreOverflowError("max_count must be >= 1.")
    fp = FixedPoint(scale_bits)
    w_ints: list[int] = fp.encode(w).tolist()
    b_int = fp.encode(float(bias))
    bound = score_bound_of(w_ints, b_int, max_count)
    check_bounds(pk, bound)

    # a wider table pays off for big models: 2^w * exp_bits/w entries, exp_bits/w products each
    djn = DJNRandomiser(pk, window_bits=10 if len(w_ints) >= 4096 else 8)
    exps: list[int] = []
    cts: Ciphertexts = []
    power, randexp = djn.power, djn.random_exponent
    for m in w_ints:
        a = randexp()
        cts.append(encrypt(pk, m, power(a)))
        exps.append(a)
    a_b = randexp()
    bias_ct = djn.encrypt_with(b_int, a_b)
    sealed = SealedLinear(pk, cts, bias_ct, scale_bits, max_count, bound)
    return sealed, Openings(int(djn.base), djn.exp_bits, exps, a_b)


class LinearScorer:
    """Scores sparse inputs against a sealed model; every output is packed and re-randomised.

    The scorer draws its own secret DJN base (never the model's) for re-randomisation.
    `blinding_bits` (verdict mode) defaults to `blinding_bits_for(score_bound)`: a log-uniform
    r with a mantissa 8 bits longer than the score bound and 16 octaves; an explicit value is
    the total length of r (a mantissa of at most bitlen(B) + 9 bits, the rest octaves).
    `strict_rerandomise=True` also multiplies each packed ciphertext by a fresh full r^n,
    which removes the short-exponent and honest-key-generation assumptions (one full powmod
    per pack, amortised over its slots). `subset_products` (built for this model's weights,
    see subset_products.py) computes the same score ciphertexts with fewer products.
    """

    def __init__(
        self,
        sealed: SealedLinear,
        *,
        mode: Mode = Mode.VERDICT,
        blinding_bits: int | None = None,
        strict_rerandomise: bool = False,
        subset_products: SubsetProducts | None = None,
    ) -> None:
        mode = Mode.parse(mode)  # a Mode; its plain string is accepted too
        if (
            mode is Mode.VERDICT
            and blinding_bits is not None
            and not 1 <= blinding_bits <= MAX_BLINDING_BITS
        ):
            raise SealdogError(
                f"blinding_bits must be in 1..{MAX_BLINDING_BITS}, got {blinding_bits}."
            )
        if blinding_bits is None:
            blinding_bits = blinding_bits_for(sealed.score_bound)
        self.sealed = sealed
        self.mode = mode
        self.blinding_bits = blinding_bits if mode is Mode.VERDICT else 0
        self.strict_rerandomise = strict_rerandomise
        pk = sealed.public_key
        check_bounds(pk, sealed.score_bound, self.blinding_bits)
        self.layout = PackingLayout.derive(pk.bits, sealed.score_bound, self.blinding_bits)
        self._rerandomiser = DJNRandomiser(pk)  # the server's own secret base
        self.subset_products: SubsetProducts | None = None
        if subset_products is not None:
            self.use_subset_products(subset_products)

    def use_subset_products(self, tables: SubsetProducts | None) -> None:
        """Score with these subset-product tables from now on (None: the plain path)."""
        if tables is not None and (
            tables.nsquare != self.sealed.public_key.nsquare
            or len(tables.group_of) != self.sealed.dim
        ):
            raise SubsetTableError("Subset-product tables were built for another model.")
        self.subset_products = tables

    def check_vector(
        self, indices: np.ndarray, counts: np.ndarray
    ) -> tuple[list[int], list[int] | None]:
        """Validate one sparse input; returns (indices, counts or None when all counts are 1)."""
        idx = np.asarray(indices)
        cnt = np.asarray(counts)
        if idx.ndim != 1 or cnt.ndim != 1 or idx.shape != cnt.shape:
            raise InvalidFeatureVectorError(
                "indices and counts must be 1-D arrays of the same length."
            )
        if idx.size and (idx.dtype.kind not in "iu" or cnt.dtype.kind not in "iu"):
            raise InvalidFeatureVectorError("indices and counts must be integer arrays.")
        if idx.size == 0:
            return [], None
        dim, max_count = self.sealed.dim, self.sealed.max_count
        if idx[0] < 0 or idx[-1] >= dim:
            raise InvalidFeatureVectorError(f"Feature index out of range 0..{dim - 1}.")
        if idx.size > 1 and not np.all(idx[1:] > idx[:-1]):
            raise InvalidFeatureVectorError("Feature indices must be sorted and unique.")
        lo, hi = int(cnt.min()), int(cnt.max())
        if lo < 1 or hi > max_count:
            raise InvalidFeatureVectorError(
                f"Feature counts must be in 1..{max_count} (this model's max_count); "
                f"got {lo}..{hi}."
            )
        return idx.tolist(), (None if hi == 1 else cnt.tolist())

    def encrypted_score(self, idx: list[int], counts: list[int] | None) -> mpz:
        """Enc(s) for one validated input. NOT re-randomised: never return it as is."""
        sealed = self.sealed
        w, nsq = sealed.weights, sealed.public_key.nsquare
        acc = sealed.bias
        if self.subset_products is not None:
            return self.subset_products.product(acc, w, idx, counts)
        if counts is None:
            for i in idx:
                acc = acc * w[i] % nsq
        else:
            for i, x in zip(idx, counts):
                acc = acc * (w[i] if x == 1 else small_power(w[i], x, nsq)) % nsq
        return acc

    def score_batch(self, vectors: Sequence[tuple[np.ndarray, np.ndarray]]) -> EncryptedVerdicts:
        checked = [self.check_vector(i, c) for i, c in vectors]  # all valid before any work
        scores = [self.encrypted_score(i, c) for i, c in checked]
        pk, layout = self.sealed.public_key, self.layout
        blind = self.mode is Mode.VERDICT
        nsq = pk.nsquare
        packs: Ciphertexts = []
        for start in range(0, len(scores), layout.slots):
            packed = pack_scores(pk, layout, scores[start : start + layout.slots], blind=blind)
            packed = packed * self._rerandomiser.randomiser() % nsq
            if self.strict_rerandomise:
                packed = packed * full_randomiser(pk) % nsq
            packs.append(packed)
        return EncryptedVerdicts(pk.fingerprint, self.mode, len(scores), layout, packs)
