"""The "xor" model kind: a small neural network sealed with the integer-vector scheme (VHE).

RESEARCH GRADE: the scheme's presets that make ciphertext products affordable have tiny LWE
dimensions and are breakable (docs/vhe.md), so the server hosts this kind only in demo
mode or when the operator opts in (`allow_research_schemes`); the upload answer and the
metadata say so.

Validation, all before an upload is acknowledged: the operator's opt-in, size caps, the
container (`base.open_container`: format, version, digest), the manifest's preset is one
this build knows, `SealedXor.from_model` (shapes, every ciphertext and evaluation key
decoded and range-checked, key fingerprint), every blob uses exactly the preset's
parameters, all ciphertexts and keys belong to the one public key, the product key is the
scalar S (x) S -> S key, the activation coefficients are finite, and a dry run of all four
inputs fits the noise budget and modulus chain (so the network's depth fits). It scores bit
pairs.
"""

from __future__ import annotations

import math
from typing import Any

from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.params import PRESETS
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
    check_manifest_shape,
)
from sealdog.xor.outputs import encode_outputs
from sealdog.xor.sealed import (
    INPUT_WIDTH,
    KIND,
    PRODUCTS_PER_INFERENCE,
    SCHEME,
    SealedXor,
    check_inference_budget,
    evaluate_sealed_xor,
)

NAME = KIND
MAX_HIDDEN = 32
MAX_SEALED_XOR_BYTES = 64 * 1024 * 1024
MAX_ACTIVATION_COEFFICIENT = 1e6
RESEARCH_WARNING = (
    "research grade: the integer-vector scheme at this preset is NOT confidential (estimated "
    "security under 1 bit); anyone holding this model can recover its weights and outputs. "
    "For demos and research only."
)


def _decode(model: SealedModel) -> SealedXor:
    """The network, after the cheap manifest checks (size, preset, hidden units)."""
    if len(model.payload) > MAX_SEALED_XOR_BYTES:
        raise ModelRejectedError(
            f"sealed XOR network is {len(model.payload):,} bytes, above the "
            f"{MAX_SEALED_XOR_BYTES:,}-byte cap"
        )
    preset_name = model.manifest.get("preset")
    if preset_name not in PRESETS:
        raise ModelRejectedError(
            f"unknown VHE preset {preset_name!r}; this server knows {sorted(PRESETS)}: "
            "reseal with one of them"
        )
    hidden = model.manifest.get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or not 1 <= hidden <= MAX_HIDDEN:
        raise ModelRejectedError(
            f"'hidden' must be an integer from 1 to {MAX_HIDDEN}, got {hidden!r}"
        )
    try:
        sealed = SealedXor.from_model(model)
    except SealdogError as exc:
        raise ModelRejectedError(f"malformed sealed XOR network: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ModelRejectedError(f"malformed sealed XOR network ({type(exc).__name__})") from None
    if sealed.preset != preset_name:
        raise ModelRejectedError(
            "the manifest's 'preset' does not match its public key's parameters"
        )
    return sealed


def _check_consistency(sealed: SealedXor) -> None:
    """Every blob under the named preset and the one public key; a scalar product key."""
    preset_name = sealed.preset
    params = PRESETS[preset_name]
    pk, net = sealed.public_key, sealed.network
    if pk.switch.params != params or pk.zero_switch.params != params:
        raise ModelRejectedError(
            f"the public key's parameters are not the {preset_name!r} preset's"
        )
    if pk.dim != 1:
        raise ModelRejectedError("the public key must encrypt scalars (dimension 1)")
    weights = [c for row in net.w1 for c in row] + list(net.w2)
    for ct in weights:
        if ct.params != params:
            raise ModelRejectedError(
                f"a weight ciphertext does not use the {preset_name!r} preset's parameters"
            )
        if ct.key_id != pk.key_id or ct.dim != 1:
            raise ModelRejectedError(
                "a weight ciphertext is not a scalar under the model's public key"
            )
    key = net.product_key
    if key.switch.params != params:
        raise ModelRejectedError(
            f"the product key does not use the {preset_name!r} preset's parameters"
        )
    if (key.left_key_id, key.right_key_id, key.switch.target_key_id) != (pk.key_id,) * 3 or (
        key.left_dim,
        key.right_dim,
        key.h_norm,
    ) != (1, 1, 1):
        raise ModelRejectedError(
            "the product key is not the scalar product key of the model's public key"
        )
    act = net.act
    coefficients = (act.c0, act.c1, act.c3, act.fit_range)
    finite = all(math.isfinite(v) and abs(v) <= MAX_ACTIVATION_COEFFICIENT for v in coefficients)
    if not finite or act.fit_range <= 0:
        raise ModelRejectedError("activation coefficients must be finite and fit_range positive")


def _summary(sealed: SealedXor) -> dict[str, Any]:
    params = PRESETS[sealed.preset]
    act = sealed.network.act
    return {
        "research_grade": True,
        "warning": RESEARCH_WARNING,
        "preset": sealed.preset,
        "lwe_dim": params.lwe_dim,
        "log_q": params.log_q,
        "log_w": params.log_w,
        "security_bits_estimate": round(params.security.bits, 1),
        "hidden": sealed.hidden,
        "input_width": INPUT_WIDTH,
        "products_per_input": PRODUCTS_PER_INFERENCE,
        "activation": {"c0": act.c0, "c1": act.c1, "c3": act.c3, "fit_range": act.fit_range},
        "key_id": sealed.public_key.key_id,
    }


class XorModel:
    """A validated sealed XOR network, ready to score bit pairs in a worker."""

    def __init__(self, sealed: SealedXor) -> None:
        self.sealed = sealed

    def score(self, batch: Batch, options: ScoringOptions) -> dict[str, Any]:
        """Re-randomised encrypted network outputs, one per input row, in order.

        The options' mode does not change the answer: the output is the network's value
        (see docs)."""
        if not isinstance(batch, InputBatch):
            raise ScoringInputError(
                'this is an xor model: it scores bit pairs, send {"inputs": [[0, 1], ...]} '
                "instead of e-mails"
            )
        rows = check_bit_rows(batch.rows)
        return encode_outputs(evaluate_sealed_xor(self.sealed, rows))


class XorKind:
    name = NAME

    def validate(
        self, model: SealedModel, *, demo_mode: bool, allow_research: bool
    ) -> ValidatedModel:
        if not (demo_mode or allow_research):
            raise ModelRejectedError(
                "this server does not host xor networks: the integer-vector scheme is research "
                "grade and not confidential. The operator can opt in with "
                "--allow-research-schemes (SEALDOG_ALLOW_RESEARCH_SCHEMES=true) or run in demo "
                "mode (--insecure-demo)"
            )
        check_manifest_shape(model.manifest)
        if model.scheme != SCHEME:
            raise ModelRejectedError(
                f"scheme {model.scheme!r} is not supported for xor networks (use {SCHEME!r})"
            )
        sealed = _decode(model)
        _check_consistency(sealed)
        try:
            check_inference_budget(sealed)
        except NoiseBudgetExhausted as exc:
            raise ModelRejectedError(
                f"noise budget too small for the network's depth: {exc}"
            ) from None
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=model.digest,
            key_fingerprint=sealed.key_fingerprint,
            key_bits=PRESETS[sealed.preset].lwe_dim,
            summary=_summary(sealed),
        )

    def load(self, model: SealedModel) -> XorModel:
        return XorModel(SealedXor.from_model(model))
