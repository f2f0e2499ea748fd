"""Encrypted training of the XOR network: the weights stay encrypted from start to finish.

Forward pass, error, backward pass and updates run on ciphertexts with the scheme's
operations only (additions, plaintext constants, ciphertext products through the product
evaluation key); the training data (the truth table) is plaintext, as in the
"Building Safe A.I." post. Each weight is a scalar ciphertext under one key; one product
key (S (x) S -> S) serves every product. The computation mirrors
`plaintext.XorNet.step` exactly, so the plaintext trainer is the reference.

Depth: one iteration costs 5 products (z^2, z^3, W2 h, (lr delta) W2, times sigma'(z))
plus one constant on the longest path: 5 log_w + CONSTANT_BITS bits of modulus. The
trainer refuses up front (NoiseBudgetExhausted) when the preset's modulus chain is too
short for the requested iterations.
"""

from __future__ import annotations

import hashlib
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.codec import encode_ciphertext
from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.keys import SecretKey, generate_secret_key
from sealdog.crypto.vhe.ops import Ciphertext, ProductKey
from sealdog.crypto.vhe.params import VheParams
from sealdog.xor.network import EncryptedXor, hidden_layer, output
from sealdog.xor.network import sum_ciphertexts as _sum
from sealdog.xor.plaintext import INPUTS, TARGETS, TrainingConfig, XorNet

WEIGHT_BOUND = (
    64.0  # asserted bound on every weight after each update (see fixed_point.assume_bound)
)
PRODUCTS_PER_ITERATION = 5


def bits_per_iteration(params: VheParams) -> int:
    return PRODUCTS_PER_ITERATION * params.log_w + fp.CONSTANT_BITS


def max_iterations(params: VheParams) -> int:
    return (params.log_q - params.min_log_q) // bits_per_iteration(params)


def check_budget(params: VheParams, iterations: int) -> None:
    """Refuse before training when the modulus chain cannot hold `iterations` steps."""
    if iterations > max_iterations(params):
        raise NoiseBudgetExhausted(
            f"{iterations} encrypted iterations need "
            f"{iterations * bits_per_iteration(params) + params.min_log_q} "
            f"bits of modulus; preset {params.name!r} has {params.log_q} (at most "
            f"{max_iterations(params)} "
            "iterations): lower --iterations or pick a preset with a larger log_q"
        )


def encrypt_net(
    net: XorNet, sk: SecretKey, product_key: ProductKey, rng: random.Random | None = None
) -> EncryptedXor:
    return EncryptedXor(
        w1=[[fp.encrypt_real(sk, [float(v)], rng) for v in row] for row in net.w1],
        w2=[fp.encrypt_real(sk, [float(v)], rng) for v in net.w2],
        act=net.act,
        product_key=product_key,
    )


def encrypted_step(enc: EncryptedXor, lr: float) -> Ciphertext:
    """One full-batch gradient step on ciphertexts; returns the encrypted loss 1/2 sum delta^2."""
    key, act = enc.product_key, enc.act
    hidden = len(enc.w2) - 1
    g1: list[list[list[Ciphertext]]] = [[[] for _ in range(3)] for _ in range(hidden)]
    g2: list[list[Ciphertext]] = [[] for _ in range(hidden + 1)]
    losses = []
    for bits, target in zip(INPUTS.astype(int), TARGETS):
        x = (int(bits[0]), int(bits[1]))
        _zs, z2s, hs = hidden_layer(enc, x)
        delta = fp.add_const(output(enc, hs), -float(target))
        losses.append(fp.multiply(delta, delta, key))
        lr_delta = fp.mul_const(delta, lr)
        for j in range(hidden):
            g2[j].append(fp.multiply(lr_delta, hs[j], key))
            slope = fp.add_const(fp.mul_const(z2s[j], 3 * act.c3), act.c1)  # sigma'(z)
            dz = fp.multiply(fp.multiply(lr_delta, enc.w2[j], key), slope, key)
            for i, v in enumerate((x[0], x[1], 1)):
                if v:
                    g1[j][i].append(dz)
        g2[hidden].append(lr_delta)
    enc.w2 = [fp.assume_bound(ops.sub(w, _sum(g)), WEIGHT_BOUND) for w, g in zip(enc.w2, g2)]
    enc.w1 = [
        [fp.assume_bound(ops.sub(w, _sum(g)) if g else w, WEIGHT_BOUND) for w, g in zip(row, grow)]
        for row, grow in zip(enc.w1, g1)
    ]
    return fp.mul_const(_sum(losses), 0.5)


def decrypt_net(enc: EncryptedXor, sk: SecretKey) -> XorNet:
    def value(ct: Ciphertext) -> float:
        (v,), _err = fp.decrypt_real(sk, ct)
        return float(v)

    return XorNet(
        w1=np.array([[value(c) for c in row] for row in enc.w1]),
        w2=np.array([value(c) for c in enc.w2]),
        act=enc.act,
    )


def ciphertext_tag(ct: Ciphertext) -> str:
    """A short fingerprint of a ciphertext, what the evaluator can show of an encrypted loss."""
    return hashlib.sha256(encode_ciphertext(ct)).hexdigest()[:12]


@dataclass
class TrainingResult:
    net: XorNet
    iterations: int
    decrypted_losses: list[float]  # demo only: the key holder's view of each encrypted loss


def train_encrypted(
    params: VheParams,
    config: TrainingConfig = TrainingConfig(),
    *,
    key_seed: int | None = None,
    on_iteration: Callable[[int, Ciphertext, float], None] | None = None,
) -> TrainingResult:
    """Key holder makes keys and encrypts the initial net; the loop then only sees ciphertexts.

    `key_seed` makes key generation reproducible (tests and demos only); None uses the OS CSPRNG.
    The decrypted loss passed to `on_iteration` is for the demo's progress display only.
    """
    check_budget(params, config.iterations)
    rng = random.Random(key_seed) if key_seed is not None else None
    sk = generate_secret_key(params, 1, rng)
    product_key = ops.make_product_key(sk, sk, [[1]], sk, rng)
    enc = encrypt_net(XorNet.initial(config), sk, product_key, rng)
    losses = []
    for it in range(config.iterations):
        loss_ct = encrypted_step(enc, config.learning_rate)
        (loss_value,), _ = fp.decrypt_real(sk, loss_ct)  # demo only
        losses.append(float(loss_value))
        if on_iteration is not None:
            on_iteration(it, loss_ct, float(loss_value))
    return TrainingResult(
        net=decrypt_net(enc, sk), iterations=config.iterations, decrypted_losses=losses
    )
