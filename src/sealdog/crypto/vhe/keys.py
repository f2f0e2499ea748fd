"""Secret keys S = [I_m, T] and where their randomness comes from.

T is an m x k ternary matrix (entries in {-1, 0, 1}): a small secret keeps the rounding
noise of rescaling, |S rho| <= (1 + k) / 2, independent of q. The key id is random, not
derived from T, so it names the key without saying anything about it.
"""

from __future__ import annotations

import random
import secrets
from dataclasses import dataclass

from sealdog.crypto.vhe.errors import VheParameterError
from sealdog.crypto.vhe.params import VheParams

Rng = random.Random


def system_rng() -> Rng:
    """The default randomness: the operating system's CSPRNG."""
    return random.SystemRandom()


@dataclass(frozen=True, repr=False)
class SecretKey:
    """S = [I_m, T]: decrypts m-vectors. Never leaves the key holder (repr hides T)."""

    params: VheParams
    t: tuple[tuple[int, ...], ...]  # m rows of k ternary entries
    key_id: str

    def __repr__(self) -> str:
        return f"SecretKey(dim={self.dim}, key_id={self.key_id!r}, params={self.params.name!r})"

    @property
    def dim(self) -> int:
        return len(self.t)

    @property
    def width(self) -> int:
        """n = m + k: the length of this key's ciphertexts."""
        return self.dim + self.params.lwe_dim

    def matrix(self) -> list[list[int]]:
        """S as an m x n list of rows."""
        m = self.dim
        return [[1 if i == j else 0 for j in range(m)] + list(self.t[i]) for i in range(m)]


def generate_secret_key(params: VheParams, dim: int, rng: Rng | None = None) -> SecretKey:
    """A fresh key for dim-vectors. Pass a seeded `random.Random` only for tests and demos."""
    if not isinstance(dim, int) or dim < 1:
        raise VheParameterError("a key needs dimension m >= 1")
    rng = rng or system_rng()
    t = tuple(tuple(rng.randint(-1, 1) for _ in range(params.lwe_dim)) for _ in range(dim))
    key_id = (
        f"{rng.getrandbits(64):016x}"
        if not isinstance(rng, random.SystemRandom)
        else secrets.token_hex(8)
    )
    return SecretKey(params=params, t=t, key_id=key_id)
