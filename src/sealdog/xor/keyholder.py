"""What the key holder of an XOR network does: seal it (needs the secret key), read outputs.

The counterpart of `sealed.py` (what the server gets). The secret key never leaves this side.
"""

from __future__ import annotations

import random
from typing import Any

from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.keys import SecretKey
from sealdog.crypto.vhe.ops import Ciphertext
from sealdog.xor.encrypted import encrypt_net
from sealdog.xor.plaintext import XorNet
from sealdog.xor.sealed import SealedXor, check_inference_budget


def seal_xor_network(
    net: XorNet,
    sk: SecretKey,
    rng: random.Random | None = None,
    *,
    metadata: dict[str, Any] | None = None,
) -> SealedXor:
    """Encrypt the weights, make the product key and the public key.

    Refuses (NoiseBudgetExhausted) a network the parameters cannot evaluate: the check runs
    here, before anything is deployed, and again on the server at upload. Write the result
    with `.write(path)` (the sealed-model container) or deploy `.to_model()`."""
    product_key = ops.make_product_key(sk, sk, [[1]], sk, rng)
    sealed = SealedXor(
        network=encrypt_net(net, sk, product_key, rng),
        public_key=ops.make_public_key(sk, rng),
        metadata=dict(metadata or {}),
    )
    check_inference_budget(sealed)
    return sealed


def decrypt_outputs(sk: SecretKey, outputs: list[Ciphertext]) -> list[float]:
    """The network's outputs (round > 0.5 for the XOR bit)."""
    return [float(fp.decrypt_real(sk, ct)[0][0]) for ct in outputs]
