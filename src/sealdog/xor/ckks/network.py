"""The XOR network's forward pass on CKKS ciphertexts: what an evaluator (the server) runs.

Same network as `sealdog.xor.plaintext.XorNet`: z = W1 [x1, x2, 1], h = c0 + c1 z + c3 z^3,
y = W2 [h, 1]. Inputs are plaintext bits, so z is a sum of the weight ciphertexts the bits
select (no product, no level). Depth: z^2 and c3 z (1), c3 z^3 (2), w2_j h_j (3):
`INFERENCE_LEVELS` = 3. Public operations only: the server imports this.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sealdog.xor.activation import PolySigmoid

INFERENCE_LEVELS = 3
PRODUCTS_PER_INPUT = 3  # per hidden unit: z^2, (c3 z) z^2, w2_j h_j


@dataclass
class CkksXor:
    """Encrypted weights (TenSEAL vectors of size 1, one weight each) and the activation."""

    w1: list[list[Any]]  # H rows of 3: weights of [x1, x2, 1]
    w2: list[Any]  # H + 1: weights of [h, 1]
    act: PolySigmoid

    @property
    def hidden(self) -> int:
        return len(self.w2) - 1

    def ciphertexts(self) -> list[Any]:
        """Every weight, in the payload order: W1 row by row, then W2."""
        return [c for row in self.w1 for c in row] + list(self.w2)


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


def forward(net: CkksXor, bits: tuple[int, int]) -> Any:
    """The encrypted output y for one input (not yet hardened: see `sealed.evaluate`)."""
    act = net.act
    terms = []
    for row, w2 in zip(net.w1, net.w2[:-1], strict=True):
        z = select_sum(row, bits)
        h = (z * act.c3) * (z * z) + z * act.c1 + act.c0
        terms.append(w2 * h)
    y = net.w2[-1] + terms[0]
    for term in terms[1:]:
        y = y + term
    return y
