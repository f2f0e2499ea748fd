"""A sealed XOR network: what the server gets (encrypted weights, evaluation and public keys).

The server evaluates y = W2 [sigma(W1 [x, 1]), 1] for plaintext 2-bit inputs with the
product key and returns a re-randomised ciphertext (fresh public encryption of zero added);
only the key holder decrypts. What the key holder keeps and does (the secret key, sealing,
decryption) is in `keyholder.py`: this module never touches a secret key, so the server
imports it.

On disk and on the wire a sealed network is the one sealed-model container
(`sealdog.sealed_model.SealedModel`, kind "xor", scheme "vhe"):

- manifest: `preset`, `hidden` (H), `activation` {c0, c1, c3, fit_range}, `key_id`, plus the
  container's fields (`key_fingerprint` = SHA-256 of the encoded public key);
- payload: `crypto.vhe.codec` blobs, each preceded by its length (4 bytes, big-endian), in
  this order: public key, product key, W1 row by row (H rows of 3), W2 (H + 1).
"""

from __future__ import annotations

import hashlib
import random
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sealdog.crypto.vhe import codec, ops
from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.ops import Ciphertext, PublicKey
from sealdog.sealed_model import SealedModel, SealedModelError, base_manifest
from sealdog.xor.activation import PolySigmoid
from sealdog.xor.network import EncryptedXor, hidden_layer, output
from sealdog.xor.plaintext import INPUTS, check_inputs

KIND = "xor"
SCHEME = "vhe"
INPUT_WIDTH = 2
PRODUCTS_PER_INFERENCE = 3  # z^2, c3 z * z^2, w2_j * h_j
_LENGTH = struct.Struct(">I")
_ACTIVATION_FIELDS = ("c0", "c1", "c3", "fit_range")


def join_blobs(blobs: list[bytes]) -> bytes:
    """The payload framing: each blob preceded by its 4-byte big-endian length."""
    return b"".join(_LENGTH.pack(len(blob)) + blob for blob in blobs)


def split_blobs(payload: bytes) -> list[bytes]:
    """Inverse of `join_blobs`; SealedModelError if a length runs past the end."""
    blobs, pos = [], 0
    while pos < len(payload):
        if pos + _LENGTH.size > len(payload):
            raise SealedModelError("XOR payload ends inside a length prefix.")
        (size,) = _LENGTH.unpack_from(payload, pos)
        pos += _LENGTH.size
        if pos + size > len(payload):
            raise SealedModelError("XOR payload is truncated (a blob runs past its end).")
        blobs.append(payload[pos : pos + size])
        pos += size
    return blobs


def public_key_fingerprint(public_key: PublicKey) -> str:
    """SHA-256 of the canonical public-key encoding: the key's name."""
    return hashlib.sha256(codec.encode_public_key(public_key)).hexdigest()


@dataclass
class SealedXor:
    """Encrypted network + public key, and the manifest fields that travel with them."""

    network: EncryptedXor
    public_key: PublicKey
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    @property
    def preset(self) -> str:
        return self.public_key.switch.params.name

    @property
    def hidden(self) -> int:
        return len(self.network.w2) - 1

    @property
    def key_fingerprint(self) -> str:
        return public_key_fingerprint(self.public_key)

    # --- the container ----------------------------------------------------------------
    def to_model(self) -> SealedModel:
        """The sealed-model container (kind "xor", scheme "vhe") holding this network."""
        act = self.network.act
        manifest = base_manifest(
            kind=KIND,
            scheme=SCHEME,
            key_fingerprint=self.key_fingerprint,
            metadata=self.metadata,
        )
        manifest.update(
            created_at=self.created_at,
            preset=self.preset,
            hidden=self.hidden,
            activation={name: getattr(act, name) for name in _ACTIVATION_FIELDS},
            key_id=self.public_key.key_id,
        )
        blobs = [
            codec.encode_public_key(self.public_key),
            codec.encode_product_key(self.network.product_key),
            *(codec.encode_ciphertext(c) for row in self.network.w1 for c in row),
            *(codec.encode_ciphertext(c) for c in self.network.w2),
        ]
        return SealedModel(manifest, join_blobs(blobs))

    @classmethod
    def from_model(cls, model: SealedModel) -> SealedXor:
        """Decode (every blob range-checked by `crypto.vhe.codec`) a kind "xor" container.

        Checks shapes only; `sealdog.server.kinds.xor` checks that the parts fit together."""
        if (model.kind, model.scheme) != (KIND, SCHEME):
            raise SealedModelError(
                f"This sealed model is {model.kind}/{model.scheme}, not {KIND}/{SCHEME}."
            )
        m = model.manifest
        hidden = m.get("hidden")
        if not isinstance(hidden, int) or isinstance(hidden, bool) or hidden < 1:
            raise SealedModelError(f"'hidden' must be a positive integer, got {hidden!r}")
        activation = m.get("activation")
        if not isinstance(activation, Mapping):
            raise SealedModelError("the manifest's 'activation' is not an object")
        try:
            act = PolySigmoid(**{k: float(activation[k]) for k in _ACTIVATION_FIELDS})
        except (KeyError, TypeError, ValueError) as exc:
            raise SealedModelError(f"the manifest's 'activation' is malformed ({exc})") from None
        blobs = split_blobs(model.payload)
        expected = 2 + 3 * hidden + hidden + 1
        if len(blobs) != expected:
            raise SealedModelError(
                f"XOR payload holds {len(blobs)} blobs; {hidden} hidden units need {expected}"
            )
        public_key = codec.decode_public_key(blobs[0])
        product_key = codec.decode_product_key(blobs[1])
        cts = [codec.decode_ciphertext(b) for b in blobs[2:]]
        w1 = [cts[3 * j : 3 * j + 3] for j in range(hidden)]
        network = EncryptedXor(w1=w1, w2=cts[3 * hidden :], act=act, product_key=product_key)
        sealed = cls(
            network=network,
            public_key=public_key,
            metadata=model.metadata,
            created_at=str(m["created_at"]),
        )
        if sealed.key_fingerprint != model.key_fingerprint:
            raise SealedModelError("the manifest's key fingerprint does not match its public key")
        return sealed

    def to_bytes(self) -> bytes:
        return self.to_model().to_bytes()

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedXor:
        return cls.from_model(SealedModel.from_bytes(data))

    def write(self, path: str | Path) -> None:
        self.to_model().write(path)

    @classmethod
    def read(cls, path: str | Path) -> SealedXor:
        return cls.from_model(SealedModel.read(path))


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
            f"this XOR network needs {PRODUCTS_PER_INFERENCE} chained ciphertext products per "
            f"input but its parameters {params.name!r} (log_q={params.log_q}, "
            f"log_w={params.log_w}, {params.product_levels} product levels) cannot carry them "
            f"({exc}); seal it with a preset that has a larger log_q (e.g. 'test' or 'demo')"
        ) from None


def evaluate_sealed_xor(
    sealed: SealedXor, bits: Any, rng: random.Random | None = None
) -> list[Ciphertext]:
    """Server side: encrypted outputs for plaintext bit pairs (shape (N, 2)), re-randomised."""
    x = check_inputs(bits).astype(int)
    out = []
    for row in x:
        _z, _z2, hs = hidden_layer(sealed.network, (int(row[0]), int(row[1])))
        out.append(ops.rerandomise(output(sealed.network, hs), sealed.public_key, rng))
    return out
