"""A sealed CKKS XOR network: what the server gets (weights encrypted, keys public only).

On disk and on the wire it is the one sealed-model container (`sealdog.sealed_model`),
kind "xor-ckks", scheme "ckks" (a kind of its own, so the server adds one kind module and
one registry line, and the research kind "xor" keeps its opt-in rules):

- manifest: `preset` (a `crypto.ckks.params` preset), `hidden` (H), `activation`
  {c0, c1, c3, fit_range}, `ring_dim`, `security_bits`, plus the container's fields
  (`key_fingerprint` = SHA-256 of the server bundle);
- payload: length-prefixed blobs (`sealdog.xor.sealed.join_blobs`): the server bundle
  (public context: parameters, public and relinearisation keys, no secret key), then the
  weight ciphertexts, U = kappa W1 row by row (H rows of 3; kappa = cbrt(c3), see
  `network.kappa`) and W2 (H + 1), each at the top level.

`evaluate` is the server's scoring: one hardened ciphertext (re-randomised, flooded, last
level: `crypto.ckks.outputs.harden`) per input row.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sealdog.crypto.ckks import keys, vectors
from sealdog.crypto.ckks.outputs import harden
from sealdog.crypto.ckks.params import CkksParams
from sealdog.crypto.ckks.randomness import RandomBytes
from sealdog.sealed_model import SealedModel, SealedModelError, base_manifest
from sealdog.xor.activation import PolySigmoid
from sealdog.xor.ckks.network import INFERENCE_LEVELS, CkksXor, forward, output_bias
from sealdog.xor.sealed import join_blobs, split_blobs

KIND = "xor-ckks"
SCHEME = "ckks"
INPUT_WIDTH = 2
ACTIVATION_FIELDS = ("c0", "c1", "c3", "fit_range")


@dataclass
class SealedCkksXor:
    """Encrypted network + server bundle, and the manifest fields that travel with them."""

    network: CkksXor
    bundle: bytes = field(repr=False)
    context: Any = field(repr=False)  # the public TenSEAL context read from `bundle`
    params: CkksParams
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))

    _bias: Any = field(default=None, repr=False, compare=False)

    @property
    def hidden(self) -> int:
        return self.network.hidden

    def bias(self) -> Any:
        """b + c0 sum w2, computed once (`network.output_bias`)."""
        if self._bias is None:
            self._bias = output_bias(self.network)
        return self._bias

    @property
    def key_fingerprint(self) -> str:
        return keys.fingerprint(self.bundle)

    def to_model(self) -> SealedModel:
        act = self.network.act
        manifest = base_manifest(
            kind=KIND, scheme=SCHEME, key_fingerprint=self.key_fingerprint, metadata=self.metadata
        )
        manifest.update(
            created_at=self.created_at,
            preset=self.params.name,
            ring_dim=self.params.poly_modulus_degree,
            security_bits=self.params.security_bits,
            hidden=self.hidden,
            activation={name: getattr(act, name) for name in ACTIVATION_FIELDS},
        )
        blobs = [self.bundle, *(vectors.to_bytes(c) for c in self.network.ciphertexts())]
        return SealedModel(manifest, join_blobs(blobs))

    @classmethod
    def from_model(cls, model: SealedModel, *, max_hidden: int = 64) -> SealedCkksXor:
        """Decode a kind "xor-ckks" container: the bundle (no secret key, a known 128-bit
        preset, the manifest's), every weight a ciphertext under it at the top level."""
        if (model.kind, model.scheme) != (KIND, SCHEME):
            raise SealedModelError(
                f"This sealed model is {model.kind}/{model.scheme}, not {KIND}/{SCHEME}."
            )
        m = model.manifest
        hidden = m.get("hidden")
        if not isinstance(hidden, int) or isinstance(hidden, bool) or not 1 <= hidden <= max_hidden:
            raise SealedModelError(f"'hidden' must be an integer from 1 to {max_hidden}")
        act = _activation(m.get("activation"))
        blobs = split_blobs(model.payload)
        expected = 1 + 3 * hidden + hidden + 1
        if len(blobs) != expected:
            raise SealedModelError(
                f"CKKS XOR payload holds {len(blobs)} blobs; {hidden} hidden units need {expected}"
            )
        if keys.fingerprint(blobs[0]) != model.key_fingerprint:
            raise SealedModelError("the manifest's key fingerprint does not match its bundle")
        context, params = keys.load_public(blobs[0])
        if m.get("preset") != params.name:
            raise SealedModelError("the manifest's 'preset' does not match its bundle")
        cts = [vectors.from_bytes(context, b) for b in blobs[1:]]
        if any(vectors.levels_left(c) != params.levels for c in cts):
            raise SealedModelError("every weight ciphertext must be a fresh (top-level) one")
        network = CkksXor(
            u=[cts[3 * j : 3 * j + 3] for j in range(hidden)], w2=cts[3 * hidden :], act=act
        )
        return cls(
            network=network,
            bundle=blobs[0],
            context=context,
            params=params,
            metadata=model.metadata,
            created_at=str(m["created_at"]),
        )


def _activation(raw: object) -> PolySigmoid:
    if not isinstance(raw, Mapping):
        raise SealedModelError("the manifest's 'activation' is not an object")
    try:
        return PolySigmoid(**{k: float(raw[k]) for k in ACTIVATION_FIELDS})
    except (KeyError, TypeError, ValueError) as exc:
        raise SealedModelError(f"the manifest's 'activation' is malformed ({exc})") from None


def evaluate(
    sealed: SealedCkksXor,
    rows: Sequence[tuple[int, int]],
    random_bytes: RandomBytes = os.urandom,
) -> list[bytes]:
    """Server side: one hardened encrypted output per bit pair (re-randomised, flooded)."""
    vectors.require_levels(sealed.network.ciphertexts(), INFERENCE_LEVELS, "XOR inference")
    bias = sealed.bias()
    return [
        harden(sealed.context, forward(sealed.network, row, bias), random_bytes) for row in rows
    ]
