"""The encrypted XOR network and its forward pass: what an evaluator (the server) computes.

Public operations only (ciphertext additions, plaintext constants, products through the
product evaluation key): nothing here takes, builds or uses a secret key, so the server can
import it. Encryption, training and decryption live in `encrypted.py` and `keyholder.py`.
"""

from __future__ import annotations

from dataclasses import dataclass

from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.ops import Ciphertext, ProductKey
from sealdog.xor.activation import PolySigmoid


@dataclass
class EncryptedXor:
    """Encrypted weights (scalar ciphertexts) plus what an evaluator needs to compute with them."""

    w1: list[list[Ciphertext]]
    w2: list[Ciphertext]
    act: PolySigmoid
    product_key: ProductKey


def sum_ciphertexts(cts: list[Ciphertext]) -> Ciphertext:
    total = cts[0]
    for ct in cts[1:]:
        total = ops.add(total, ct)
    return total


def hidden_layer(
    enc: EncryptedXor, bits: tuple[int, int]
) -> tuple[list[Ciphertext], list[Ciphertext], list[Ciphertext]]:
    """(z, z^2, h) per hidden unit for one plaintext input; x in {0,1} selects weights
    (no products)."""
    key, act = enc.product_key, enc.act
    active = [i for i, v in enumerate((bits[0], bits[1], 1)) if v]
    zs, z2s, hs = [], [], []
    for row in enc.w1:
        z = sum_ciphertexts([row[i] for i in active])
        z2 = fp.multiply(z, z, key)
        cubic = fp.multiply(fp.mul_const(z, act.c3), z2, key)
        h = fp.add_const(ops.add(cubic, fp.mul_const(z, act.c1)), act.c0)
        zs.append(z)
        z2s.append(z2)
        hs.append(h)
    return zs, z2s, hs


def output(enc: EncryptedXor, hs: list[Ciphertext]) -> Ciphertext:
    """y = W2 [h, 1]."""
    terms = [fp.multiply(w, h, enc.product_key) for w, h in zip(enc.w2[:-1], hs, strict=True)]
    return ops.add(sum_ciphertexts(terms), enc.w2[-1])
