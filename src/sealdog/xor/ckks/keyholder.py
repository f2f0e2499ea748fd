"""The key holder's side of CKKS XOR networks: keys, sealing, decryption, and its half of
encrypted training. The secret key never leaves this object; every method that a data
holder or server reaches takes bytes and returns bytes.

In training the key holder (the model owner) picks the initial weights from a seed and
encrypts them (`initial_state`; `restart` for attempt k of the restart policy), answers
masked refreshes (`refresh`, seeing only masked values), judges the hardened predictions
each iteration (`judge`: it learns the network's outputs on the training inputs, which the
model owner may; the data holder gets back only running/converged/diverged, never a
decrypted value), and finally decrypts the hardened weights (`receive_final`) to seal them
for a server (`seal`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sealdog.crypto.ckks import vectors
from sealdog.crypto.ckks.errors import CkksCorruptDataError
from sealdog.crypto.ckks.keys import KeyHolderContext, load_public
from sealdog.crypto.ckks.outputs import decrypt_hardened
from sealdog.crypto.ckks.params import CkksParams
from sealdog.crypto.ckks.refresh import answer_refresh
from sealdog.xor.ckks import messages
from sealdog.xor.ckks.network import CkksXor, kappa
from sealdog.xor.ckks.outputs import decrypt_ckks_outputs
from sealdog.xor.ckks.sealed import SealedCkksXor
from sealdog.xor.ckks.training import state_size
from sealdog.xor.momentum import MomentumConfig, Outcome, judge
from sealdog.xor.plaintext import XorNet


def seal_ckks_xor(
    net: XorNet, keys: KeyHolderContext, *, metadata: dict[str, Any] | None = None
) -> SealedCkksXor:
    """Fresh encryptions of a plaintext network's weights, with the server bundle."""
    bundle = keys.server_bundle()
    ctx = keys.context
    k = kappa(net.act.c3)
    u = [[vectors.encrypt(ctx, k * float(w)) for w in row] for row in net.w1]
    w2 = [vectors.encrypt(ctx, float(w)) for w in net.w2]
    public, params = load_public(bundle)
    # re-link to the public context: the sealed network must not carry the secret key
    network = CkksXor(
        u=[[vectors.from_bytes(public, vectors.to_bytes(c)) for c in row] for row in u],
        w2=[vectors.from_bytes(public, vectors.to_bytes(c)) for c in w2],
        act=net.act,
    )
    return SealedCkksXor(
        network=network, bundle=bundle, context=public, params=params, metadata=dict(metadata or {})
    )


@dataclass
class XorKeyHolder:
    """The secret key and the key holder's answers (bytes in, bytes out)."""

    keys: KeyHolderContext
    config: MomentumConfig
    last_predictions: list[float] = field(default_factory=list)
    refreshes_answered: int = 0
    restarts_answered: int = 0

    @classmethod
    def generate(cls, params: CkksParams, config: MomentumConfig) -> XorKeyHolder:
        return cls(KeyHolderContext.generate(params), config)

    @property
    def key_fingerprint(self) -> str:
        return self.keys.key_fingerprint

    def server_bundle(self) -> bytes:
        return self.keys.server_bundle()

    def initial_state(self, attempt: int = 0) -> bytes:
        """Encrypted initial weights (from the config's seed, attempt `attempt`) in the
        trainer's coordinates, and zero velocities."""
        net = self.config.initial_net(attempt)
        weights = [*(kappa(net.act.c3) * net.w1.ravel()), *net.w2]
        values = [float(v) for v in weights] + [0.0] * len(weights)
        if len(values) != state_size(self.config.hidden):
            raise ValueError("internal: state size mismatch")
        blobs = [vectors.to_bytes(vectors.encrypt(self.keys.context, v)) for v in values]
        header = {"key_fingerprint": self.key_fingerprint, "hidden": self.config.hidden}
        return messages.write(messages.STATE, header, blobs)

    def restart(self, request: bytes) -> bytes:
        """A fresh state for the attempt the data holder asks for (1..max_restarts)."""
        header, _ = messages.read(messages.RESTART, request, key_fingerprint=self.key_fingerprint)
        attempt = header.get("attempt")
        if (
            not isinstance(attempt, int)
            or isinstance(attempt, bool)
            or not 1 <= attempt <= self.config.max_restarts
        ):
            raise CkksCorruptDataError(
                f"a restart names an attempt from 1 to {self.config.max_restarts}"
            )
        self.restarts_answered += 1
        return self.initial_state(attempt)

    def refresh(self, request: bytes) -> bytes:
        answer = answer_refresh(self.keys, request, key_fingerprint=self.key_fingerprint)
        self.refreshes_answered += 1
        return answer

    def judge(self, message: bytes) -> bytes:
        """Decrypt the hardened predictions, decide, answer only the decision."""
        _, blobs = messages.read(
            messages.PREDICTIONS, message, key_fingerprint=self.key_fingerprint
        )
        if len(blobs) != 4:
            raise ValueError("expected the four truth-table predictions")
        self.last_predictions = [decrypt_hardened(self.keys.context, b) for b in blobs]
        outcome = judge(self.last_predictions, self.config)
        header = {"key_fingerprint": self.key_fingerprint, "outcome": outcome.value}
        return messages.write(messages.DECISION, header)

    def receive_final(self, message: bytes) -> XorNet:
        """The trained network in plaintext (the model owner's), from hardened weights."""
        _, blobs = messages.read(messages.FINAL, message, key_fingerprint=self.key_fingerprint)
        h = self.config.hidden
        if len(blobs) != 4 * h + 1:
            raise ValueError("final weights: wrong number of ciphertexts")
        values = np.array([decrypt_hardened(self.keys.context, b) for b in blobs])
        net = self.config.initial_net()
        return XorNet(w1=values[: 3 * h].reshape(h, 3), w2=values[3 * h :], act=net.act)

    def seal(self, net: XorNet, *, metadata: dict[str, Any] | None = None) -> SealedCkksXor:
        return seal_ckks_xor(net, self.keys, metadata=metadata)

    def decrypt_outputs(self, response_json: dict[str, Any]) -> list[float]:
        """A server's answer for an xor-ckks model: the network's outputs, in order."""
        return decrypt_ckks_outputs(self.keys, response_json)


__all__ = ["Outcome", "XorKeyHolder", "seal_ckks_xor"]
