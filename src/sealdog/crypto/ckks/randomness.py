"""Masks and flooding noise from the operating system's CSPRNG, vectorised.

Python's `random.SystemRandom` draws one value per call (tens of milliseconds for a
ciphertext's 4096 slots); here 8 bytes of `os.urandom` make one uniform double with 53
random bits, and Gaussians come from pairs of them (Box-Muller). `RandomBytes` is
injectable so tests can make runs reproducible; production always uses `os.urandom`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import numpy as np

RandomBytes = Callable[[int], bytes]


def uniform(count: int, bound: float, random_bytes: RandomBytes = os.urandom) -> np.ndarray:
    """`count` values uniform on [-bound, bound) (53 random bits each)."""
    raw = np.frombuffer(random_bytes(8 * count), dtype=np.uint64)
    unit = (raw >> np.uint64(11)).astype(np.float64) * 2.0**-53
    result: np.ndarray = (2.0 * unit - 1.0) * bound
    return result


def gaussian(count: int, sigma: float, random_bytes: RandomBytes = os.urandom) -> np.ndarray:
    """`count` values from N(0, sigma^2) (Box-Muller on CSPRNG uniforms)."""
    pairs = (count + 1) // 2
    u = (uniform(2 * pairs, 0.5, random_bytes) + 0.5).reshape(2, pairs)
    radius = np.sqrt(-2.0 * np.log1p(-u[0]))  # 1 - u in (0, 1]: log is finite
    angle = 2.0 * np.pi * u[1]
    values = np.concatenate([radius * np.cos(angle), radius * np.sin(angle)])[:count]
    result: np.ndarray = values * sigma
    return result
