"""The XOR network's forward pass on CKKS ciphertexts: what an evaluator (the server) runs.

Same network as `sealdog.xor.plaintext.XorNet`: z = W1 [x1, x2, 1], h = c0 + c1 z + c3 z^3,
y = W2 [h, 1]. The first layer is stored scaled: U = kappa W1 with kappa = cbrt(c3) (see
`kappa`), so with z' = U [x, 1] = kappa z the output is

    y = b + sum_j c0 w2_j + sum_j (w2_j z'_j) (z'_j^2 + c1 / kappa)

Inputs are plaintext bits, so z' is a sum of the weight ciphertexts the bits select (no
product, no level); w2_j z'_j and z'_j^2 take one level, their product a second:
`INFERENCE_LEVELS` = 2, three ciphertext products per hidden unit and no constant product
(b + c0 sum w2 is computed once per loaded model, `output_bias`). Public operations only:
the server imports this.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sealdog.xor.activation import PolySigmoid

INFERENCE_LEVELS = 2
PRODUCTS_PER_INPUT = 3  # per hidden unit: w2_j z'_j, z'_j^2, their product


@dataclass
class CkksXor:
    """Encrypted weights (TenSEAL vectors of size 1, one weight each) and the activation."""

    u: list[list[Any]]  # H rows of 3: kappa times the weights of [x1, x2, 1]
    w2: list[Any]  # H + 1: weights of [h, 1]
    act: PolySigmoid

    @property
    def hidden(self) -> int:
        return len(self.w2) - 1

    def ciphertexts(self) -> list[Any]:
        """Every weight, in the payload order: U row by row, then W2."""
        return [c for row in self.u for c in row] + list(self.w2)


# TenSEAL aligns levels on `a + b` and `a * b` by switching the *right* operand down in
# place when it is the higher one (the left one is copied). Stored weights therefore only
# ever appear on the left, or beside an operand at their own level; a test evaluates twice
# and checks that the weights kept their levels.


def select_sum(row: Sequence[Any], bits: tuple[int, int]) -> Any:
    """z = w[0] x1 + w[1] x2 + w[2] for bits x: the sum of the selected ciphertexts."""
    total = row[2]
    for weight, bit in zip(row[:2], bits, strict=True):
        if bit:
            total = total + weight
    return total


def kappa(c3: float) -> float:
    """The real cube root of c3 (negative for the sigmoid fit): the first layer's scale."""
    if c3 == 0:
        raise ValueError("the activation has no cubic term; nothing to fold")
    return float(math.copysign(abs(c3) ** (1.0 / 3.0), c3))


def output_bias(net: CkksXor) -> Any:
    """b + c0 sum_j w2_j: the part of y that does not depend on the input (one level)."""
    total = net.w2[-1] + net.w2[0] * net.act.c0
    for w2 in net.w2[1:-1]:
        total = total + w2 * net.act.c0
    return total


def forward(net: CkksXor, bits: tuple[int, int], bias: Any | None = None) -> Any:
    """The encrypted output y for one input (not yet hardened: see `sealed.evaluate`);
    `bias` = `output_bias(net)`, computed once by a caller that evaluates many inputs."""
    shift = net.act.c1 / kappa(net.act.c3)
    y = output_bias(net) if bias is None else bias
    for row, w2 in zip(net.u, net.w2[:-1], strict=True):
        z = select_sum(row, bits)
        y = y + (w2 * z) * (z * z + shift)
    return y
