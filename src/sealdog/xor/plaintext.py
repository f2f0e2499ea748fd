"""Plaintext NumPy trainer for the 2-layer XOR network the encrypted trainer mirrors step for step.

Network: z = W1 [x1, x2, 1] (H hidden units), h = sigma_poly(z), y = W2 [h, 1] (linear
output). Loss L = 1/2 sum_s (y_s - t_s)^2 over the four truth-table rows; full-batch
gradient descent with learning rate lr. The real truth table: 00->0, 01->1, 10->1, 11->0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealdog.errors import SealdogError
from sealdog.xor.activation import PolySigmoid, fit_poly_sigmoid

INPUTS = np.array([[0, 0], [0, 1], [1, 0], [1, 1]], dtype=float)
TARGETS = np.array([0.0, 1.0, 1.0, 0.0])


class XorInputError(SealdogError):
    """An XOR network input is not a pair of bits."""


@dataclass(frozen=True)
class TrainingConfig:
    """Defaults chosen (and tested) to converge in few iterations: depth is what costs."""

    hidden: int = 2
    fit_range: float = 5.0
    learning_rate: float = 0.2
    init_scale: float = 2.0
    iterations: int = 10
    seed: int = 32


@dataclass
class XorNet:
    w1: np.ndarray  # (H, 3): weights of [x1, x2, 1]
    w2: np.ndarray  # (H + 1,): weights of [h, 1]
    act: PolySigmoid

    @classmethod
    def initial(cls, config: TrainingConfig) -> XorNet:
        rng = np.random.default_rng(config.seed)
        w1 = rng.normal(0, config.init_scale, (config.hidden, 3))
        w2 = rng.normal(0, config.init_scale, config.hidden + 1)
        return cls(w1=w1, w2=w2, act=fit_poly_sigmoid(config.fit_range))

    def forward(self, inputs: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(z, h, y) for a batch of bit pairs."""
        x = check_inputs(inputs)
        xb = np.hstack([x, np.ones((len(x), 1))])
        z = xb @ self.w1.T
        h = self.act(z)
        y = h @ self.w2[:-1] + self.w2[-1]
        return z, h, y

    def predict(self, inputs: np.ndarray) -> np.ndarray:
        return self.forward(inputs)[2]

    def loss(self) -> float:
        return float(0.5 * np.sum((self.predict(INPUTS) - TARGETS) ** 2))

    def gradients(self) -> tuple[np.ndarray, np.ndarray]:
        """dL/dW1, dL/dW2 by backpropagation (checked against finite differences in the tests)."""
        z, h, y = self.forward(INPUTS)
        delta = y - TARGETS
        g2 = np.concatenate([h.T @ delta, [delta.sum()]])
        dz = np.outer(delta, self.w2[:-1]) * self.act.derivative(z)
        xb = np.hstack([INPUTS, np.ones((4, 1))])
        return dz.T @ xb, g2

    def step(self, lr: float) -> None:
        g1, g2 = self.gradients()
        self.w1 = self.w1 - lr * g1
        self.w2 = self.w2 - lr * g2


def check_inputs(inputs: np.ndarray) -> np.ndarray:
    """Inputs must be an (N, 2) array of 0/1: a clear error otherwise."""
    x = np.asarray(inputs)
    if x.ndim != 2 or x.shape[1] != 2:
        raise XorInputError(f"XOR inputs must have shape (N, 2), got {x.shape}")
    if not np.isin(x, (0, 1)).all():
        raise XorInputError("XOR inputs must be bits (0 or 1)")
    return x.astype(float)


def train_plaintext(config: TrainingConfig = TrainingConfig()) -> tuple[XorNet, list[float]]:
    """Full-batch gradient descent; returns the net and the loss before each step."""
    net = XorNet.initial(config)
    losses = []
    for _ in range(config.iterations):
        losses.append(net.loss())
        net.step(config.learning_rate)
    return net, losses
