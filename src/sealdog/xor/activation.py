"""A polynomial sigmoid an encrypted evaluator can compute: c0 + c1 z + c3 z^3.

Fitted by least squares on [-R, R], the range the trained network's pre-activations use
(not a Taylor series around 0, which is poor a few units away from 0).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class PolySigmoid:
    """sigma(z) ~= c0 + c1 z + c3 z^3 on [-fit_range, fit_range]."""

    c0: float
    c1: float
    c3: float
    fit_range: float

    def __call__(self, z: np.ndarray) -> np.ndarray:
        return self.c0 + self.c1 * z + self.c3 * z**3

    def derivative(self, z: np.ndarray) -> np.ndarray:
        return self.c1 + 3 * self.c3 * z**2

    def max_error(self) -> float:
        z = np.linspace(-self.fit_range, self.fit_range, 2001)
        return float(np.max(np.abs(self(z) - 1 / (1 + np.exp(-z)))))


def fit_poly_sigmoid(fit_range: float, points: int = 401) -> PolySigmoid:
    """Least-squares fit of the logistic sigmoid by {1, z, z^3} on [-fit_range, fit_range]."""
    if not fit_range > 0:
        raise ValueError("fit_range must be positive")
    z = np.linspace(-fit_range, fit_range, points)
    basis = np.stack([np.ones_like(z), z, z**3], axis=1)
    c0, c1, c3 = np.linalg.lstsq(basis, 1 / (1 + np.exp(-z)), rcond=None)[0]
    return PolySigmoid(float(c0), float(c1), float(c3), float(fit_range))
