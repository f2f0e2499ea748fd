"""A sealed XOR network: encrypted weights + the evaluation keys a server needs to score it.

The server evaluates y = W2 [sigma(W1 [x, 1]), 1] for plaintext 2-bit inputs with the
product key and returns a re-randomised ciphertext (fresh public encryption of zero added);
only the key holder decrypts. Serialisation (`to_bytes`/`from_bytes`): a JSON object
{"format": "sealdog-xor", "version": 1, "preset": ..., "activation": {c0, c1, c3, fit_range},
"hidden": H, "w1": [[b64 ciphertext]], "w2": [b64 ciphertext], "product_key": b64,
"public_key": b64}, each b64 value a `crypto.vhe.codec` blob. It never holds the secret key.
"""

from __future__ import annotations

import base64
import hashlib
import json
import random
from dataclasses import dataclass
from typing import Any

from sealdog.crypto.vhe import codec, ops
from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe.errors import NoiseBudgetExhausted, VheCorruptData
from sealdog.crypto.vhe.keys import SecretKey
from sealdog.crypto.vhe.ops import Ciphertext, ProductKey, PublicKey
from sealdog.xor.activation import PolySigmoid
from sealdog.xor.encrypted import EncryptedXor, encrypt_net, hidden_layer, output
from sealdog.xor.plaintext import INPUTS, XorNet, check_inputs

DIGEST_TAG = b"sealdog-sealed-xor-digest-v1\x00"
PRODUCTS_PER_INFERENCE = 3  # z^2, c3 z * z^2, w2_j * h_j


def sealed_xor_digest(data: bytes) -> str:
    """SHA-256 (domain-separated) of a sealed XOR file's bytes: its name in the registry."""
    return hashlib.sha256(DIGEST_TAG + data).hexdigest()


@dataclass
class SealedXor:
    network: EncryptedXor
    public_key: PublicKey

    def to_bytes(self) -> bytes:
        def b64(blob: bytes) -> str:
            return base64.b64encode(blob).decode()

        act = self.network.act
        doc = {
            "format": "sealdog-xor", "version": 1,
            "preset": self.public_key.switch.params.name,
            "activation": {"c0": act.c0, "c1": act.c1, "c3": act.c3, "fit_range": act.fit_range},
            "hidden": len(self.network.w2) - 1,
            "w1": [[b64(codec.encode_ciphertext(c)) for c in row] for row in self.network.w1],
            "w2": [b64(codec.encode_ciphertext(c)) for c in self.network.w2],
            "product_key": b64(codec.encode_product_key(self.network.product_key)),
            "public_key": b64(codec.encode_public_key(self.public_key)),
        }
        return json.dumps(doc, sort_keys=True).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedXor:
        try:
            doc: dict[str, Any] = json.loads(data)
            if doc.get("format") != "sealdog-xor" or doc.get("version") != 1:
                raise VheCorruptData("not a version-1 sealed XOR network")
            hidden = doc["hidden"]
            dec = base64.b64decode
            w1 = [[codec.decode_ciphertext(dec(c)) for c in row] for row in doc["w1"]]
            w2 = [codec.decode_ciphertext(dec(c)) for c in doc["w2"]]
            if not isinstance(hidden, int) or len(w1) != hidden or len(w2) != hidden + 1 or any(
                len(row) != 3 for row in w1
            ):
                raise VheCorruptData("sealed XOR network shape inconsistent")
            act = PolySigmoid(**{k: float(doc["activation"][k]) for k in ("c0", "c1", "c3", "fit_range")})
            network = EncryptedXor(
                w1=w1, w2=w2, act=act, product_key=codec.decode_product_key(dec(doc["product_key"]))
            )
            return cls(network=network, public_key=codec.decode_public_key(dec(doc["public_key"])))
        except VheCorruptData:
            raise
        except (ValueError, KeyError, TypeError) as exc:
            raise VheCorruptData(f"malformed sealed XOR network: {exc}") from None


def check_inference_budget(sealed: SealedXor) -> None:
    """Evaluate all four inputs once (tracked bounds only matter, the result is dropped) and
    raise NoiseBudgetExhausted with a fix-it message if the modulus chain or the noise budget
    cannot carry the network's depth. A network that passes never decrypts to a wrong answer:
    every operation re-checks its worst-case bounds."""
    params = sealed.public_key.switch.params
    try:
        evaluate_sealed_xor(sealed, INPUTS)
    except NoiseBudgetExhausted as exc:
        raise NoiseBudgetExhausted(
            f"this XOR network needs {PRODUCTS_PER_INFERENCE} chained ciphertext products per input "
            f"but its parameters {params.name!r} (log_q={params.log_q}, log_w={params.log_w}, "
            f"{params.product_levels} product levels) cannot carry them ({exc}); seal it with a "
            "preset that has a larger log_q (e.g. 'test' or 'demo')"
        ) from None


def seal_xor_network(net: XorNet, sk: SecretKey, rng: random.Random | None = None) -> SealedXor:
    """Key holder side: encrypt the weights, make the product key and the public key.

    Refuses (NoiseBudgetExhausted) a network the parameters cannot evaluate: the check runs
    here, before anything is deployed, and again on the server at upload."""
    product_key = ops.make_product_key(sk, sk, [[1]], sk, rng)
    sealed = SealedXor(network=encrypt_net(net, sk, product_key, rng), public_key=ops.make_public_key(sk, rng))
    check_inference_budget(sealed)
    return sealed


def evaluate_sealed_xor(sealed: SealedXor, bits: Any, rng: random.Random | None = None) -> list[Ciphertext]:
    """Server side: encrypted outputs for plaintext bit pairs (shape (N, 2)), re-randomised."""
    x = check_inputs(bits).astype(int)
    out = []
    for row in x:
        _z, _z2, hs = hidden_layer(sealed.network, (int(row[0]), int(row[1])))
        out.append(ops.rerandomise(output(sealed.network, hs), sealed.public_key, rng))
    return out


def decrypt_outputs(sk: SecretKey, outputs: list[Ciphertext]) -> list[float]:
    """Key holder side: the network's outputs (round > 0.5 for the XOR bit)."""
    return [float(fp.decrypt_real(sk, ct)[0][0]) for ct in outputs]
