"""One common fixed-point scale for a whole model, so encrypted sums need no exponent alignment.

encode(x) = round_half_even(x * 2^f) as an exact Python integer (f = scale_bits).

Exact error bound: |decode(encode(x)) - x| <= 2^-(f+1) for every finite float x (the float
product x * 2^f is exact, only the rounding to an integer loses). For a linear score with
weights w_i, bias b and integer counts x_i, the integer score S = encode(b) + sum x_i*encode(w_i)
satisfies

    |S / 2^f - (b + sum x_i w_i)| <= 2^-(f+1) * (1 + sum_i x_i),

so at the default f = 20 an e-mail with 150 binary features is off by at most
151 * 2^-21 < 7.2e-5.
A verdict can differ from the float model's only when the float score is within that bound
of 0; the encrypted verdict always equals the sign of the integer score S exactly.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import overload

import numpy as np
import numpy.typing as npt

from sealdog.errors import SealdogError

DEFAULT_SCALE_BITS = 20
"""One bit of scale costs two bits of packing slot (the score bound enters a slot twice)."""


class FixedPointError(SealdogError):
    """A value cannot be encoded (not finite, or scale out of range)."""


@dataclass(frozen=True)
class FixedPoint:
    scale_bits: int = DEFAULT_SCALE_BITS

    def __post_init__(self) -> None:
        if not 0 <= self.scale_bits <= 512:
            raise FixedPointError(f"scale_bits must be in [0, 512], got {self.scale_bits}.")

    @property
    def scale(self) -> int:
        return 1 << self.scale_bits

    @overload
    def encode(self, value: float) -> int: ...
    @overload
    def encode(self, value: npt.NDArray[np.floating]) -> npt.NDArray[np.object_]: ...
    def encode(self, value: float | npt.NDArray[np.floating]) -> int | npt.NDArray[np.object_]:
        """Round value * 2^f to the nearest integer (ties to even); arrays give object arrays
        of Python ints (exact at any size)."""
        if isinstance(value, np.ndarray):
            arr = np.asarray(value, dtype=np.float64)
            if not np.all(np.isfinite(arr)):
                raise FixedPointError("Cannot encode NaN or infinite weights.")
            out = np.empty(arr.shape, dtype=object)
            flat = out.reshape(-1)
            for i, v in enumerate(arr.reshape(-1).tolist()):
                flat[i] = self._encode_one(v)
            return out
        return self._encode_one(float(value))

    def _encode_one(self, v: float) -> int:
        if not math.isfinite(v):
            raise FixedPointError("Cannot encode NaN or infinite values.")
        return round(math.ldexp(v, self.scale_bits))  # exact scaling, banker's rounding

    def decode(self, value: int) -> float:
        if abs(value) < 2**1000:
            return math.ldexp(float(value), -self.scale_bits)
        return float(value) / self.scale

    def error_bound(self, terms: int = 1) -> float:
        """Largest |decoded - exact| of a sum of `terms` encoded values (each counted once)."""
        return terms * math.ldexp(1.0, -(self.scale_bits + 1))
