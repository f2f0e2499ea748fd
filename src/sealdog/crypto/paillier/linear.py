"""Sealed linear models: encrypted fixed-point weights, and their evaluation on sparse inputs.

Score of a sparse input (indices i, counts x_i):  s = b + sum_i x_i * w_i  (integers, scale 2^f),
computed as Enc(b) * prod_i Enc(w_i)^x_i mod n^2 on raw gmpy2 integers (binary counts: one
modular product per token). `seal_linear` refuses a model whose largest possible |s| (the
`score_bound`, |b| + max_count * sum|w_i|) could exceed n/3 or not fit a packing slot, so an
encrypted score can never wrap around modulo n. `seal_linear_with_openings` also returns the
encryption randomness, for an auditor. `check_weight_ciphertexts` refuses trivially structured
weight ciphertexts (what a server can see without the key).
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
    Blinding,
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
MAX_BLINDING_BITS = 160  # cap for an explicit blinding_bits (STRONGEST at a 64-bit bound: 143)
SMALL_RANDOMNESS = 16  # Enc(m; r) with |r| <= this is refused as a weight (`check_weight_...`)
# Fixed-point scale: |float score - S/2^f| <= (1 + sum x_i) * 2^-(f+1); at f = 20 and 150 binary
# features that is 7.2e-5. Every bit of f costs two bits of slot (score and mantissa of r).


class ScoreOverflowError(SealdogError):
    """The model's largest possible score could wrap around modulo n (or not fit a slot)."""


class TrivialCiphertextError(SealdogError):
    """A weight ciphertext is trivially structured; `index` is its position (-1: the bias)."""

    def __init__(self, message: str, *, index: int) -> None:
        super().__init__(message)
        self.index = index


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


def check_weight_ciphertexts(pk: PublicKey, weights: Sequence[mpz], bias: mpz) -> None:
    """Refuse ciphertexts whose structure anyone can see, at bounded cost per ciphertext.

    For c = (1 + m*n) * r^n mod n^2, c mod n = r^n mod n: the server reads the randomness's
    shape without the key. Refused (TrivialCiphertextError naming the index): c outside
    [1, n^2); c not a unit (gcd(c, n) != 1: not a ciphertext, and it would factor n); r^n
    congruent to +-k^n for 1 <= k <= SMALL_RANDOMNESS, which covers c = 1 = Enc(0; 1) and
    every power of (1 + n), i.e. Enc(m; 1) (the server could read m); two ciphertexts with
    the same r^n mod n (their ratio is (1 + n)^(m_i - m_j): the difference is readable).
    Cost: one reduction mod n, one gcd and two hash look-ups per ciphertext, plus
    2 * SMALL_RANDOMNESS powmods mod n once.

    What it cannot detect: randomness the key holder knows but that looks random (the key
    holder chose every r, and can always decrypt), and anything about the plaintexts: a
    weight's magnitude, so a lying score bound, is visible only to an auditor with the
    openings (issue 14, item 1). The submitters' protection against known randomness is the
    server's own re-randomisation of every output.
    """
    n, nsq = pk.n, pk.nsquare
    small: dict[mpz, int] = {}
    for k in range(SMALL_RANDOMNESS, 0, -1):
        kn = gmpy2.powmod(mpz(k), n, n)
        small[kn] = k
        small[n - kn] = -k
    seen: dict[mpz, int] = {}
    for index, c in [(-1, bias), *enumerate(weights)]:
        name = "the bias" if index < 0 else f"weight #{index}"
        if not 1 <= c < nsq:
            raise TrivialCiphertextError(f"{name} is not in [1, n^2).", index=index)
        rn = c % n
        if rn == 0 or gmpy2.gcd(rn, n) != 1:
            raise TrivialCiphertextError(
                f"{name} shares a factor with n: not a Paillier ciphertext.", index=index
            )
        small_r = small.get(rn)
        if small_r is not None:
            raise TrivialCiphertextError(
                f"{name} is trivially structured: its randomness is r = {small_r} (r = 1 is "
                "Enc(m; 1) = (1 + n)^m, which anyone can decrypt).",
                index=index,
            )
        other = seen.setdefault(rn, index)
        if other != index:
            first = "the bias" if other < 0 else f"weight #{other}"
            raise TrivialCiphertextError(
                f"{name} has the same randomness as {first}: their plaintext difference is "
                "readable without the key.",
                index=index,
            )


def check_bounds(
    pk: PublicKey,
    score_bound: int,
    blinding_bits: int | None = None,
    *,
    blinding: Blinding = Blinding.STANDARD,
) -> None:
    """Raise ScoreOverflowError unless scores up to score_bound are safe under pk.

    blinding_bits None: the default for the blinding setting,
    `blinding_bits_for(score_bound, blinding=blinding)`.
    """
    if blinding_bits is None:
        blinding_bits = blinding_bits_for(score_bound, blinding=blinding)
    if score_bound > pk.n // 3:
        raise ScoreOverflowError(
            f"The largest possible |score| ({score_bound.bit_length()} bits) could exceed n/3 "
            f"for this {pk.bits}-bit key: lower scale_bits, clip the weights or lower max_count."
        )
    try:
        PackingLayout.derive(
            pk.bits,
            score_bound,
            blinding_bits,
            odd_scores=blinding.odd_scores and blinding_bits > 0,
        )
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
    `blinding` (verdict mode) picks the form and window of r (`Blinding`: STANDARD blinds
    2s + 1 with 16 octaves; LEGACY is the pre-issue-14 r*s + r', a weak variant for tests).
    `design_bound` (default: the model's declared score_bound, which must not exceed it) sizes
    the slots and the mantissa of r: a server passes its own cap so that a figure it cannot
    check does not choose the blinding. `blinding_bits` defaults to `blinding_bits_for`; an
    explicit value is the total length of r (a mantissa of at most its default, the rest
    octaves).
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
        blinding: Blinding = Blinding.STANDARD,
        design_bound: int | None = None,
        subset_products: SubsetProducts | None = None,
    ) -> None:
        mode = Mode.parse(mode)  # a Mode; its plain string is accepted too
        blinding = Blinding.parse(blinding)
        bound = sealed.score_bound if design_bound is None else design_bound
        if bound < sealed.score_bound:
            raise ScoreOverflowError(
                f"The model's score bound ({sealed.score_bound.bit_length()} bits) exceeds the "
                f"design bound ({bound.bit_length()} bits) its slots would be sized for."
            )
        if (
            mode is Mode.VERDICT
            and blinding_bits is not None
            and not 1 <= blinding_bits <= MAX_BLINDING_BITS
        ):
            raise SealdogError(
                f"blinding_bits must be in 1..{MAX_BLINDING_BITS}, got {blinding_bits}."
            )
        if blinding_bits is None:
            blinding_bits = blinding_bits_for(bound, blinding=blinding)
        self.sealed = sealed
        self.mode = mode
        self.blinding = blinding
        self.blinding_bits = blinding_bits if mode is Mode.VERDICT else 0
        self.strict_rerandomise = strict_rerandomise
        pk = sealed.public_key
        check_bounds(pk, bound, self.blinding_bits, blinding=blinding)
        odd = mode is Mode.VERDICT and blinding.odd_scores
        self.layout = PackingLayout.derive(pk.bits, bound, self.blinding_bits, odd_scores=odd)
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
