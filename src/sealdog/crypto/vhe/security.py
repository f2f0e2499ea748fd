"""Security estimate of an integer-vector HE preset (the LWE problem behind its key switches).

Every key-switch matrix is a stack of LWE samples  b = -T a + e + (known S* column)  mod q,
with secret T (ternary, width k) and error e uniform on [-B, B]. The estimate is the
primal uSVP attack in the core-SVP model (Alkim, Ducas, Poppelmann, Schwabe, "NewHope",
2016): BKZ with block size beta succeeds once

    sigma * sqrt(beta) <= delta(beta) ** (2 * beta - d - 1) * q ** (m / d),  d = m + k + 1,

    delta(beta) = ((pi * beta) ** (1 / beta) * beta / (2 * pi * e)) ** (1 / (2 * (beta - 1))),

and costs about 0.292 * beta bits (classical sieving). The secret's small size is ignored
(which flatters the scheme) and the result is capped by exhaustive search over the
3^k ternary secrets. For beta below ~50 the model is only indicative: such instances are
broken in seconds by LLL/BKZ. Floats are fine here: this is an estimate, not crypto.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

CORE_SVP_CLASSICAL = 0.292


@dataclass(frozen=True)
class SecurityEstimate:
    """The outcome of the estimate: bits of security and the attack that achieves it."""

    bits: float
    beta: int
    samples: int
    attack: str

    @property
    def label(self) -> str:
        """One line for CLI and bench output."""
        return (
            f"~{self.bits:.0f} bits ({self.attack}, BKZ block size {self.beta}, "
            f"{self.samples} samples): research/demo grade, NOT confidential"
        )


def _delta_formula(beta: int) -> float:
    base = (math.pi * beta) ** (1.0 / beta) * beta / (2 * math.pi * math.e)
    return float(base ** (1.0 / (2 * (beta - 1))))  # float ** float is typed Any (complex)


LLL_DELTA = 1.0219


def log_root_hermite(beta: int) -> float:
    """log of BKZ-beta's root Hermite factor; below 50 interpolated from LLL (where the formula
    fails)."""
    if beta >= 50:
        return math.log(_delta_formula(beta))
    lo, hi = math.log(LLL_DELTA), math.log(_delta_formula(50))
    return lo + (hi - lo) * (beta - 2) / 48


def uniform_error_std(bound: int) -> float:
    """Standard deviation of the uniform distribution on the integers [-bound, bound]."""
    return math.sqrt(((2 * bound + 1) ** 2 - 1) / 12.0)


def primal_usvp_beta(lwe_dim: int, log_q: int, sigma: float, max_samples: int) -> tuple[int, int]:
    """Smallest BKZ block size (and the number of samples it uses) that solves the LWE instance."""
    log_q_e = log_q * math.log(2)
    for beta in range(2, 2 * (lwe_dim + max_samples) + 2):
        log_lhs = math.log(sigma) + 0.5 * math.log(beta)
        log_delta = log_root_hermite(beta)
        for samples in range(1, max_samples + 1):
            d = samples + lwe_dim + 1
            if beta > d:
                continue
            log_rhs = (2 * beta - d - 1) * log_delta + samples * log_q_e / d
            if log_lhs <= log_rhs:
                return beta, samples
    return 2 * (lwe_dim + max_samples) + 2, max_samples


def estimate_security(
    lwe_dim: int, log_q: int, error_bound: int, max_samples: int = 4096
) -> SecurityEstimate:
    """Estimated classical security in bits of LWE(k=lwe_dim, q=2**log_q, uniform error)."""
    sigma = uniform_error_std(error_bound)
    beta, samples = primal_usvp_beta(lwe_dim, log_q, sigma, max_samples)
    usvp_bits = CORE_SVP_CLASSICAL * beta
    brute_bits = lwe_dim * math.log2(3)
    if brute_bits < usvp_bits:
        return SecurityEstimate(
            bits=brute_bits, beta=beta, samples=samples, attack="exhaustive ternary secret"
        )
    return SecurityEstimate(
        bits=usvp_bits, beta=beta, samples=samples, attack="primal uSVP, core-SVP"
    )
