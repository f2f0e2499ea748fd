"""CKKS parameter presets, checked against the Homomorphic Encryption Standard.

Security of CKKS rests on ring-LWE with ring dimension N (`poly_modulus_degree`) and total
modulus Q (the product of `coeff_mod_bit_sizes`, special prime included). For a fixed N a
larger Q is weaker. The bounds below are Table 1 of the Homomorphic Encryption Security
Standard (Albrecht et al., HomomorphicEncryption.org, November 2018), classical attacks,
ternary (or uniform) secret, error width 3.2: the largest log2 Q for which the best known
attacks (lattice estimator) cost at least 2^128 / 2^192 / 2^256 operations. SEAL enforces the
128-bit column itself (`sec_level_type.tc128`), so a parameter set above it cannot even be
built through TenSEAL; we check first and refuse with a message that says what to change.

Invariants: every preset in `PRESETS` is >= 128-bit by this table (a test builds each one and
reads N and the moduli back from SEAL's own context); `check()` refuses anything else, so
there is no "insecure" escape hatch (SEAL would refuse to build it anyway), and the tests
run at 128 bits too: the default preset is small enough (N = 8192) to be fast.

Levels: a product rescales by one prime of `scale_bits`; a fresh ciphertext has `levels`
rescales before only the first prime is left. A value must stay below
2^(bits left - scale_bits - 1) in magnitude: 2^11 at the last level of `standard` (first
prime 46 bits, scale 2^34), 2^45 one level up.

Precision: TenSEAL resets the scale to exactly 2^scale_bits after each rescale although the
prime it divided by is only close to that; the relative error this adds is about 1e-5 per
level at `standard` (measured: 5e-5 after three products) and about 1e-6 at `wide`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sealdog.crypto.ckks.errors import CkksParameterError

# HE Standard, Table 1 (classical, ternary secret): ring dimension -> max log2(Q)
HE_STANDARD_MAX_BITS: dict[int, dict[int, int]] = {
    128: {1024: 27, 2048: 54, 4096: 109, 8192: 218, 16384: 438, 32768: 881},
    192: {1024: 19, 2048: 37, 4096: 75, 8192: 152, 16384: 305, 32768: 611},
    256: {1024: 14, 2048: 29, 4096: 58, 8192: 118, 16384: 237, 32768: 476},
}
MIN_SECURITY_BITS = 128
MAX_PRIME_BITS = 60


def security_bits(poly_modulus_degree: int, total_bits: int) -> int:
    """The highest level of the HE Standard's table (256, 192, 128) that (N, log2 Q) meets;
    0 if it meets none (or N is not in the table)."""
    for level in (256, 192, 128):
        limit = HE_STANDARD_MAX_BITS[level].get(poly_modulus_degree)
        if limit is not None and total_bits <= limit:
            return level
    return 0


@dataclass(frozen=True)
class CkksParams:
    """A CKKS parameter set: ring dimension, modulus chain (bit sizes, first = the prime
    that carries the final value, last = SEAL's special key-switching prime) and scale."""

    name: str
    poly_modulus_degree: int
    coeff_mod_bit_sizes: tuple[int, ...]
    scale_bits: int

    @property
    def total_bits(self) -> int:
        return sum(self.coeff_mod_bit_sizes)

    @property
    def levels(self) -> int:
        """Rescales a fresh ciphertext allows (data primes after the first)."""
        return len(self.coeff_mod_bit_sizes) - 2

    @property
    def slots(self) -> int:
        return self.poly_modulus_degree // 2

    @property
    def security_bits(self) -> int:
        return security_bits(self.poly_modulus_degree, self.total_bits)

    def check(self) -> CkksParams:
        """Itself, once it is well formed and at least 128-bit by the HE Standard's table."""
        n, bits = self.poly_modulus_degree, self.coeff_mod_bit_sizes
        if n not in HE_STANDARD_MAX_BITS[128]:
            raise CkksParameterError(
                f"CKKS ring dimension {n} is not one of {sorted(HE_STANDARD_MAX_BITS[128])}"
            )
        if len(bits) < 3 or any(not 20 <= b <= MAX_PRIME_BITS for b in bits):
            raise CkksParameterError(
                "a CKKS modulus chain needs at least 3 primes of 20 to 60 bits each"
            )
        if not 20 <= self.scale_bits < bits[0]:
            raise CkksParameterError("the scale must be at least 2^20 and below the first prime")
        limit = HE_STANDARD_MAX_BITS[128][n]
        if self.total_bits > limit:
            raise CkksParameterError(
                f"CKKS preset {self.name!r} is below 128-bit security: ring dimension {n} allows "
                f"at most {limit} modulus bits by the HE Standard (Table 1), it has "
                f"{self.total_bits}. Use fewer or smaller primes, or a larger ring dimension"
            )
        return self

    def describe(self) -> dict[str, Any]:
        """JSON-ready summary (for manifests, model summaries and benchmark lines)."""
        return {
            "preset": self.name,
            "ring_dim": self.poly_modulus_degree,
            "coeff_mod_bit_sizes": list(self.coeff_mod_bit_sizes),
            "total_modulus_bits": self.total_bits,
            "scale_bits": self.scale_bits,
            "levels": self.levels,
            "security_bits": self.security_bits,
            "security_reference": "HE Standard (2018) Table 1, classical, ternary secret",
        }


PRESETS: dict[str, CkksParams] = {
    # 218 of 218 bits at N = 8192: 4 levels of 34 bits. One XOR training step uses 3, a
    # refresh needs 1 left; inference uses 3. The default: fast (products in ~10-20 ms).
    "standard": CkksParams("standard", 8192, (46, 34, 34, 34, 34, 36), 34).check(),
    # 400 of 438 bits at N = 16384: 7 levels of 40 bits (two training steps per refresh,
    # about ten times the precision, about four times the cost per product).
    "wide": CkksParams("wide", 16384, (60, 40, 40, 40, 40, 40, 40, 40, 60), 40).check(),
}
DEFAULT_PRESET = "standard"


def preset(name: str) -> CkksParams:
    """The preset called `name`; CkksParameterError listing the known ones otherwise."""
    try:
        return PRESETS[name]
    except KeyError:
        raise CkksParameterError(
            f"unknown CKKS preset {name!r}; known: {', '.join(sorted(PRESETS))}"
        ) from None
