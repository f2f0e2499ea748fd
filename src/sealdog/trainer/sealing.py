"""Seal a plaintext model: encrypt its weights and bias under the key holder's public key.

The sealed model (the sealed-model container, kind "linear", scheme "paillier") carries the
featuriser spec in clear (the server needs it to featurise), the fixed-point scale and
bounds, and the model's metadata minus anything that would tell the server about the
weights (intercept, threshold, chosen C are dropped: with them and a few verdicts the server
could learn about the score scale), and so is where the training data lay on the key
holder's disk. A model trained on several mailboxes is sealed for one of them
(`LinearModel.for_mailbox`, `sealdog seal --mailbox`) or for the default: either way one
bias, never the per-mailbox offsets, nor which mailbox it is for.
"""

from __future__ import annotations

from typing import Any

from sealdog.crypto.paillier import PublicKey
from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS
from sealdog.sealed_model import SealedModel, seal_model
from sealdog.trainer.model import LinearModel

_PRIVATE_METADATA = (
    "intercept",
    "threshold_folded",
    "c",
    "corpus_path",
    "mailbox",
    "mailbox_thresholds",
)
"""Metadata keys that never travel: the per-mailbox threshold offsets
(`LinearModel.mailbox_offsets`, never metadata, and listed here so they could not leak if
they were) and the mailbox a model was sealed for are secrets like the threshold."""


def public_metadata(model: LinearModel, extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Model metadata fit to travel to the server (no intercept, threshold or C)."""
    meta = {k: v for k, v in model.metadata.items() if k not in _PRIVATE_METADATA}
    meta.update(extra or {})
    return meta


def seal_plaintext_model(
    model: LinearModel,
    public_key: PublicKey,
    *,
    scale_bits: int = DEFAULT_SCALE_BITS,
    metadata: dict[str, Any] | None = None,
) -> SealedModel:
    """The sealed-model container of `model` under the key holder's Paillier `public_key`."""
    return seal_model(
        public_key,
        model.weights,
        model.bias,
        featuriser=model.featuriser.to_dict(),
        scale_bits=scale_bits,
        max_count=model.featuriser.max_count,
        metadata=public_metadata(model, metadata),
    )
