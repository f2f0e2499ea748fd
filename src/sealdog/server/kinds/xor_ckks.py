"""The "xor-ckks" model kind: a small neural network sealed with CKKS at 128-bit security.

Production grade (no `--allow-research-schemes` needed): the parameters are a preset this
build knows, at least 128-bit by the HE Standard's table, read back from the uploaded
bundle's own SEAL context (`crypto.ckks.keys.load_public`); the bundle must not carry a
secret key. TenSEAL is the optional `ckks` extra and is imported only when such a model
arrives: a server without it starts, and refuses these uploads with a 422 that says what
to install.

Validation, all before an upload is acknowledged: size cap, the container (format,
version, digest), kind/scheme, hidden units, activation coefficients finite, the bundle
(fingerprint = the manifest's key fingerprint, no secret key, a 128-bit preset = the
manifest's), every weight a top-level ciphertext under it, and a dry run of all four
inputs (the depth fits the levels). Scores bit pairs; every output is hardened
(re-randomised, noise-flooded, last level: `crypto.ckks.outputs`).
"""

from __future__ import annotations

import math
from typing import Any

from sealdog.crypto.ckks import backend
from sealdog.errors import SealdogError
from sealdog.sealed_model import SealedModel
from sealdog.server.kinds.base import (
    Batch,
    InputBatch,
    ModelRejectedError,
    ScoringInputError,
    ScoringOptions,
    ValidatedModel,
    check_bit_rows,
)
from sealdog.xor.ckks.outputs import encode_outputs
from sealdog.xor.ckks.sealed import KIND, SCHEME, SealedCkksXor, evaluate

NAME = KIND
MAX_HIDDEN = 32
MAX_SEALED_BYTES = 256 * 1024 * 1024
MAX_ACTIVATION_COEFFICIENT = 1e6
DRY_RUN = ((0, 0), (0, 1), (1, 0), (1, 1))


def _decode(model: SealedModel) -> SealedCkksXor:
    if len(model.payload) > MAX_SEALED_BYTES:
        raise ModelRejectedError(
            f"sealed CKKS network is {len(model.payload):,} bytes, above the "
            f"{MAX_SEALED_BYTES:,}-byte cap"
        )
    if not backend.available():
        raise ModelRejectedError("this server cannot host xor-ckks models: " + backend.INSTALL_HINT)
    try:
        return SealedCkksXor.from_model(model, max_hidden=MAX_HIDDEN)
    except SealdogError as exc:
        raise ModelRejectedError(f"malformed sealed CKKS network: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ModelRejectedError(f"malformed sealed CKKS network ({type(exc).__name__})") from None


def _summary(sealed: SealedCkksXor) -> dict[str, Any]:
    act = sealed.network.act
    return {
        "research_grade": False,
        **sealed.params.describe(),
        "hidden": sealed.hidden,
        "input_width": 2,
        "activation": {"c0": act.c0, "c1": act.c1, "c3": act.c3, "fit_range": act.fit_range},
    }


class XorCkksModel:
    """A validated sealed CKKS XOR network, ready to score bit pairs in a worker."""

    def __init__(self, sealed: SealedCkksXor) -> None:
        self.sealed = sealed

    def score(self, batch: Batch, options: ScoringOptions) -> dict[str, Any]:
        """Hardened encrypted network outputs, one per input row, in order (the options'
        mode does not change the answer: the output is the network's value)."""
        if not isinstance(batch, InputBatch):
            raise ScoringInputError(
                'this is an xor-ckks model: it scores bit pairs, send {"inputs": [[0, 1], ...]} '
                "instead of e-mails"
            )
        rows = check_bit_rows(batch.rows)
        return encode_outputs(
            evaluate(self.sealed, rows),
            preset=self.sealed.params.name,
            key_fingerprint=self.sealed.key_fingerprint,
        )


class XorCkksKind:
    name = NAME

    def validate(
        self, model: SealedModel, *, demo_mode: bool, allow_research: bool
    ) -> ValidatedModel:
        if model.scheme != SCHEME:
            raise ModelRejectedError(
                f"scheme {model.scheme!r} is not supported for {NAME} networks (use {SCHEME!r})"
            )
        sealed = _decode(model)
        act = sealed.network.act
        coefficients = (act.c0, act.c1, act.c3, act.fit_range)
        if not all(math.isfinite(v) and abs(v) <= MAX_ACTIVATION_COEFFICIENT for v in coefficients):
            raise ModelRejectedError("activation coefficients must be finite and bounded")
        try:
            evaluate(sealed, DRY_RUN)
        except SealdogError as exc:
            raise ModelRejectedError(f"the network does not fit its parameters: {exc}") from None
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=model.digest,
            key_fingerprint=sealed.key_fingerprint,
            key_bits=sealed.params.poly_modulus_degree,
            summary=_summary(sealed),
        )

    def load(self, model: SealedModel) -> XorCkksModel:
        return XorCkksModel(SealedCkksXor.from_model(model, max_hidden=MAX_HIDDEN))
