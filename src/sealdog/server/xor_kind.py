"""The "xor" model kind: a small neural network sealed with the integer-vector scheme (VHE).

RESEARCH GRADE: the scheme's presets that make ciphertext products affordable have tiny LWE
dimensions and are breakable (docs/vhe.md), so the server hosts this kind only in demo
mode or when the operator opts in (`allow_research_schemes`); the upload answer and the
metadata say so.

Validation, all before an upload is acknowledged: size caps, the JSON container
(`SealedXor.from_bytes`: format, version, shapes, every ciphertext and evaluation key
decoded and range-checked), the named preset is one this build knows and every blob uses
exactly its parameters, all ciphertexts and keys belong to the one public key, the product
key is the scalar S (x) S -> S key, the activation coefficients are finite, and a dry run
of all four inputs fits the noise budget and modulus chain (so the network's depth fits).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Sequence
from typing import Any

from sealdog.crypto.vhe import codec
from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.params import PRESETS
from sealdog.errors import SealdogError
from sealdog.server.kinds import ModelRejectedError, ScoringInputError, ValidatedModel
from sealdog.xor.outputs import encode_outputs
from sealdog.xor.sealed import (
    PRODUCTS_PER_INFERENCE,
    SealedXor,
    check_inference_budget,
    evaluate_sealed_xor,
    sealed_xor_digest,
)

SCHEME = "vhe"
FORMAT = "sealdog-xor"
INPUT_WIDTH = 2
MAX_HIDDEN = 32
MAX_SEALED_XOR_BYTES = 64 * 1024 * 1024
MAX_ACTIVATION_COEFFICIENT = 1e6
RESEARCH_WARNING = (
    "research grade: the integer-vector scheme at this preset is NOT confidential (estimated "
    "security under 1 bit); anyone holding this model can recover its weights and outputs. "
    "For demos and research only."
)


def is_json_upload(data: bytes) -> bool:
    """Cheap sniff for `kinds.detect_kind`: sealed XOR files are JSON objects (linear ones zips)."""
    return data[:64].lstrip()[:1] == b"{"


def _parse(data: bytes) -> SealedXor:
    if len(data) > MAX_SEALED_XOR_BYTES:
        raise ModelRejectedError(
            f"sealed XOR network is {len(data):,} bytes, above the {MAX_SEALED_XOR_BYTES:,}-byte cap"
        )
    try:
        doc = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ModelRejectedError("not a sealed XOR network (expected the JSON that SealedXor.to_bytes writes)") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise ModelRejectedError(f"not a sealed XOR network (format must be {FORMAT!r})")
    preset_name = doc.get("preset")
    if preset_name not in PRESETS:
        raise ModelRejectedError(
            f"unknown VHE preset {preset_name!r}; this server knows {sorted(PRESETS)}: reseal with one of them"
        )
    hidden = doc.get("hidden")
    if not isinstance(hidden, int) or isinstance(hidden, bool) or not 1 <= hidden <= MAX_HIDDEN:
        raise ModelRejectedError(f"'hidden' must be an integer from 1 to {MAX_HIDDEN}, got {hidden!r}")
    try:
        return SealedXor.from_bytes(data)
    except SealdogError as exc:
        raise ModelRejectedError(f"malformed sealed XOR network: {exc}") from None
    except (ValueError, TypeError, KeyError, IndexError, AttributeError) as exc:
        raise ModelRejectedError(f"malformed sealed XOR network ({type(exc).__name__})") from None


def _check_consistency(sealed: SealedXor, preset_name: str) -> None:
    """Every blob under the named preset and the one public key; a scalar product key."""
    params = PRESETS[preset_name]
    pk, net = sealed.public_key, sealed.network
    if pk.switch.params != params or pk.zero_switch.params != params:
        raise ModelRejectedError(f"the public key's parameters are not the {preset_name!r} preset's")
    if pk.dim != 1:
        raise ModelRejectedError("the public key must encrypt scalars (dimension 1)")
    weights = [c for row in net.w1 for c in row] + list(net.w2)
    for ct in weights:
        if ct.params != params:
            raise ModelRejectedError(f"a weight ciphertext does not use the {preset_name!r} preset's parameters")
        if ct.key_id != pk.key_id or ct.dim != 1:
            raise ModelRejectedError("a weight ciphertext is not a scalar under the model's public key")
    key = net.product_key
    if key.switch.params != params:
        raise ModelRejectedError(f"the product key does not use the {preset_name!r} preset's parameters")
    if (key.left_key_id, key.right_key_id, key.switch.target_key_id) != (pk.key_id,) * 3 or (
        key.left_dim, key.right_dim, key.h_norm
    ) != (1, 1, 1):
        raise ModelRejectedError("the product key is not the scalar product key of the model's public key")
    act = net.act
    coefficients = (act.c0, act.c1, act.c3, act.fit_range)
    if not all(math.isfinite(v) and abs(v) <= MAX_ACTIVATION_COEFFICIENT for v in coefficients) or act.fit_range <= 0:
        raise ModelRejectedError("activation coefficients must be finite and fit_range positive")


def key_fingerprint(sealed: SealedXor) -> str:
    """SHA-256 of the canonical public-key encoding: the key's name."""
    return hashlib.sha256(codec.encode_public_key(sealed.public_key)).hexdigest()


def _summary(sealed: SealedXor, preset_name: str) -> dict[str, Any]:
    params = PRESETS[preset_name]
    act = sealed.network.act
    return {
        "research_grade": True,
        "warning": RESEARCH_WARNING,
        "preset": preset_name,
        "lwe_dim": params.lwe_dim,
        "log_q": params.log_q,
        "log_w": params.log_w,
        "security_bits_estimate": round(params.security.bits, 1),
        "hidden": len(sealed.network.w2) - 1,
        "input_width": INPUT_WIDTH,
        "products_per_input": PRODUCTS_PER_INFERENCE,
        "activation": {"c0": act.c0, "c1": act.c1, "c3": act.c3, "fit_range": act.fit_range},
        "key_id": sealed.public_key.key_id,
    }


def check_bit_rows(inputs: Sequence[Sequence[int]]) -> list[tuple[int, int]]:
    """Each input must be exactly [x1, x2] with bits 0/1; a ScoringInputError names the row."""
    rows = []
    for i, row in enumerate(inputs):
        if len(row) != INPUT_WIDTH:
            raise ScoringInputError(
                f"inputs[{i}] has {len(row)} values; an XOR network takes {INPUT_WIDTH} bits [x1, x2]"
            )
        for j, v in enumerate(row):
            if isinstance(v, bool) or v not in (0, 1):
                raise ScoringInputError(f"inputs[{i}][{j}] is {v!r}; inputs must be bits, 0 or 1")
        rows.append((int(row[0]), int(row[1])))
    return rows


class XorModel:
    """A validated sealed XOR network, ready to score bit pairs in a worker."""

    def __init__(self, sealed: SealedXor) -> None:
        self.sealed = sealed

    def score(self, emails: Sequence[bytes], *, mode: str, max_email_bytes: int) -> dict[str, Any]:
        raise ScoringInputError(
            "this is an xor model: it scores bit pairs, send {\"inputs\": [[0, 1], ...]} instead of e-mails"
        )

    def score_inputs(self, inputs: Sequence[Sequence[int]], *, mode: str) -> dict[str, Any]:
        """Re-randomised encrypted network outputs, one per input, in order.

        `mode` does not change the answer: the output is the network's value (see docs)."""
        rows = check_bit_rows(inputs)
        return encode_outputs(evaluate_sealed_xor(self.sealed, rows))


class XorKind:
    name = "xor"
    research_grade = True

    def validate(self, data: bytes, *, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
        if not (demo_mode or allow_research):
            raise ModelRejectedError(
                "this server does not host xor networks: the integer-vector scheme is research grade "
                "and not confidential. The operator can opt in with --allow-research-schemes "
                "(SEALDOG_ALLOW_RESEARCH_SCHEMES=true) or run in demo mode (--insecure-demo)"
            )
        sealed = _parse(data)
        preset_name = json.loads(data)["preset"]  # _parse checked it names a known preset
        if sealed.public_key.switch.params.name != preset_name:
            raise ModelRejectedError("the file's 'preset' does not match its public key's parameters")
        _check_consistency(sealed, preset_name)
        try:
            check_inference_budget(sealed)
        except NoiseBudgetExhausted as exc:
            raise ModelRejectedError(f"noise budget too small for the network's depth: {exc}") from None
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=sealed_xor_digest(data),
            key_fingerprint=key_fingerprint(sealed),
            key_bits=PRESETS[preset_name].lwe_dim,
            summary=_summary(sealed, preset_name),
        )

    def load(self, data: bytes, *, expected_digest: str) -> XorModel:
        if sealed_xor_digest(data) != expected_digest:
            raise ModelRejectedError("stored sealed model does not match its registered digest")
        return XorModel(_parse(data))
