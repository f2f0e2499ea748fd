"""Parameters of the integer-vector scheme in one validated object, plus the named presets.

A ciphertext c of an m-vector x under S = [I_m, T] (T ternary, m x k) satisfies

    S c = w * x + e   (mod q_c),   |e| < w / 2  for exact integer decryption,

where q_c = 2**log_q_c is the ciphertext's current modulus. The moduli form a power-of-two
chain 2**log_q >= q_c >= 2**min_log_q: a product divides the message by w (log_w bits of
modulus), a fixed-point rescale by 2**s (s bits), and level alignment just reduces mod the
smaller power of two. Key-switch matrices are made once at the top modulus and reduced
mod q_c on use (q_c divides q), with l = log_q_c bits per decomposed entry.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from sealdog.crypto.vhe.errors import VheParameterError
from sealdog.crypto.vhe.security import SecurityEstimate, estimate_security


@dataclass(frozen=True)
class VheParams:
    """Scheme parameters. Invariants (checked by `validate`): 1 <= lwe_dim, 2 <= log_w,
    log_w + headroom_bits <= min_log_q <= log_q, 1 <= error_bound < 2**(log_w - 2)."""

    name: str
    lwe_dim: int  # k: width of T, the LWE dimension
    log_q: int  # top modulus q = 2**log_q
    log_w: int  # message weight w = 2**log_w
    error_bound: int  # key-switch / encryption errors uniform on [-B, B]
    headroom_bits: int  # the lowest modulus keeps this many bits above w for the message
    rerandomise_bound: int  # public-key encryption adds a uniform [-R, R] offset to w*x
    decomposition_bits: int = 1  # gadget base 2**b; b = 1 is Zhou & Wornell's bit decomposition

    def __post_init__(self) -> None:
        self.validate()

    def validate(self) -> None:
        """Raise VheParameterError with a fix-it message if the parameters are inconsistent."""
        for field in (
            "lwe_dim",
            "log_q",
            "log_w",
            "error_bound",
            "headroom_bits",
            "rerandomise_bound",
            "decomposition_bits",
        ):
            value = getattr(self, field)
            if not isinstance(value, int) or isinstance(value, bool):
                raise VheParameterError(f"{field} must be an int, got {value!r}")
        if self.lwe_dim < 1:
            raise VheParameterError("lwe_dim (k) must be at least 1")
        if self.log_w < 2:
            raise VheParameterError("log_w must be at least 2 (w = 2**log_w)")
        if self.headroom_bits < 2:
            raise VheParameterError("headroom_bits must be at least 2")
        if self.log_q < self.min_log_q:
            raise VheParameterError(
                f"log_q={self.log_q} is below log_w + headroom_bits = {self.min_log_q}: "
                "raise log_q or lower log_w/headroom_bits"
            )
        if not 1 <= self.error_bound < 2 ** (self.log_w - 2):
            raise VheParameterError("error_bound must satisfy 1 <= B < w / 4")
        if not 0 <= self.rerandomise_bound < 2 ** (self.log_w - 2):
            raise VheParameterError("rerandomise_bound must satisfy 0 <= R < w / 4")
        if self.decomposition_bits not in (1, 2, 4, 8):
            raise VheParameterError("decomposition_bits must be 1, 2, 4 or 8")
        if self.log_q > 65536:
            raise VheParameterError("log_q above 65536 is not supported")

    @property
    def w(self) -> int:
        return 1 << self.log_w

    @property
    def q(self) -> int:
        return 1 << self.log_q

    def digits(self, log_q: int) -> int:
        """l: digits per decomposed entry at modulus 2**log_q (bits when decomposition_bits = 1)."""
        return -(-log_q // self.decomposition_bits)

    def switch_noise(self, source_width: int, log_q: int) -> int:
        """Bound on |E c*| added by one key switch of a source_width-entry ciphertext."""
        return (
            source_width
            * self.digits(log_q)
            * ((1 << self.decomposition_bits) - 1)
            * self.error_bound
        )

    @property
    def min_log_q(self) -> int:
        """The lowest modulus any ciphertext may reach (message weight + headroom)."""
        return self.log_w + self.headroom_bits

    @property
    def rounding_noise(self) -> int:
        """Bound on |S rho| for a rounding vector |rho| <= 1/2 and S = [I, T], T ternary."""
        return (1 + self.lwe_dim + 1) // 2

    @property
    def product_levels(self) -> int:
        """How many ciphertext products in a chain fit between the top and lowest modulus."""
        return (self.log_q - self.min_log_q) // self.log_w

    @cached_property
    def security(self) -> SecurityEstimate:
        return estimate_security(self.lwe_dim, self.log_q, self.error_bound)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> VheParams:
        if not isinstance(data, dict):
            raise VheParameterError("parameters must be a JSON object")
        expected = {
            "name",
            "lwe_dim",
            "log_q",
            "log_w",
            "error_bound",
            "headroom_bits",
            "rerandomise_bound",
            "decomposition_bits",
        }
        if set(data) != expected:
            raise VheParameterError(f"parameters need exactly the fields {sorted(expected)}")
        return cls(**data)


PRESETS: dict[str, VheParams] = {
    # Fast: LWE dimension 4, sized for 10 iterations of the encrypted XOR training demo.
    # Gadget base 2**8 (instead of bits) keeps key-switch matrices 8x smaller; noise is tracked.
    "demo": VheParams(
        name="demo",
        lwe_dim=4,
        log_q=1260,
        log_w=20,
        error_bound=4,
        headroom_bits=32,
        rerandomise_bound=8,
        decomposition_bits=8,
    ),
    # The largest LWE dimension that keeps the XOR training demo within a few minutes here.
    "large": VheParams(
        name="large",
        lwe_dim=16,
        log_q=1260,
        log_w=20,
        error_bound=4,
        headroom_bits=32,
        rerandomise_bound=8,
        decomposition_bits=8,
    ),
    # Zhou & Wornell's bit decomposition (l = log2 q) at a small modulus: fast exact unit tests.
    "test": VheParams(
        name="test",
        lwe_dim=4,
        log_q=220,
        log_w=24,
        error_bound=4,
        headroom_bits=40,
        rerandomise_bound=8,
    ),
}


def preset(name: str) -> VheParams:
    """The named preset, or a VheParameterError listing the valid names."""
    try:
        return PRESETS[name]
    except KeyError:
        raise VheParameterError(
            f"unknown VHE preset {name!r}; choose one of {sorted(PRESETS)}"
        ) from None
