"""The auditor's gate before signing: the bound checks of issue 14, then the attestation.

`sealdog audit` first proves that the sealed model holds exactly the plaintext model (from
the key holder's openings, or with the secret key); with those verified integers this
module checks, before `sealdog audit --attest` signs anything:

- every weight, as the fixed-point integer the server multiplies with, has |w_i| <= the
  per-weight bound the auditor declares (``--max-weight``, in weight units, times
  2^scale_bits);
- the model's declared ``score_bound`` is at least |b| + max_count * sum |w_i|, the largest
  |score| any e-mail can reach, so the server's blinding window and slots (derived from the
  declared bound) really cover every score: a model that under-declares its bound (the
  "lying bound" attack) is refused here;
- the featuriser's max_count is within the model's (the bound's premise), and the sealed
  featuriser spec is the plaintext model's and, if given, the declared one (``--featuriser``).

A failed check signs nothing; the caller reports every failure.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sealdog.attestation import (
    Attestation,
    AttestationError,
    Statement,
    auditor_id,
    featuriser_digest,
    sign_statement,
)
from sealdog.client.errors import AuditError
from sealdog.client.openings import expected_plaintexts
from sealdog.crypto.paillier.linear import score_bound_of
from sealdog.fileio import atomic_write_bytes
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.sealed_model import SealedModel
from sealdog.trainer.model import LinearModel


@dataclass
class BoundReport:
    """What the bound checks found: `checked` lines for the statement, `failures` if any."""

    weight_bound: int
    score_bound: int
    true_bound: int
    max_abs_weight: int
    checked: list[str] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        return not self.failures


def weight_bound_of(max_weight: float, scale_bits: int) -> int:
    """The fixed-point integer bound for weights of magnitude <= `max_weight`."""
    if not np.isfinite(max_weight) or max_weight <= 0:
        raise AuditError(f"--max-weight must be a positive number, got {max_weight}.")
    return int(max_weight * (1 << scale_bits))


def check_bounds(
    model: SealedModel,
    plain: LinearModel,
    *,
    max_weight: float,
    declared_featuriser: dict[str, Any] | None = None,
) -> BoundReport:
    """Run every check of the module doc on the plaintext the audit verified."""
    manifest = model.manifest
    scale_bits, max_count = int(manifest["scale_bits"]), int(manifest["max_count"])
    score_bound = int(manifest["score_bound"])
    values = expected_plaintexts(model, plain.weights, plain.bias)
    bias, weights = values[0], values[1:]
    weight_bound = weight_bound_of(max_weight, scale_bits)
    max_abs = max((abs(w) for w in weights), default=0)
    true_bound = score_bound_of(weights, bias, max_count)
    report = BoundReport(weight_bound, score_bound, true_bound, max_abs)
    over = [i for i, w in enumerate(weights) if abs(w) > weight_bound]
    if over:
        report.failures.append(
            f"{len(over)} weight(s) exceed the per-weight bound {max_weight:g} "
            f"(2^{weight_bound.bit_length() - 1}.. in fixed point); first: weight {over[0]}, "
            f"|w| = 2^{abs(weights[over[0]]).bit_length() - 1}.."
        )
    else:
        report.checked.append(
            f"every one of {len(weights):,} weights decrypts to an integer with |w| <= "
            f"{weight_bound} ({max_weight:g} at scale 2^{scale_bits})"
        )
    if true_bound > score_bound:
        report.failures.append(
            f"the declared score_bound ({score_bound.bit_length()} bits) is below the largest "
            f"possible |score| |b| + max_count * sum|w_i| ({true_bound.bit_length()} bits): "
            "the blinding would not cover the score"
        )
    else:
        report.checked.append(
            f"declared score_bound {score_bound} >= |b| + max_count * sum|w_i| = {true_bound} "
            f"(max_count {max_count})"
        )
    sealed_spec = FeaturiserSpec.from_dict(model.featuriser)
    if sealed_spec != plain.featuriser:
        report.failures.append("the sealed featuriser spec is not the plaintext model's")
    if sealed_spec.max_count > max_count:
        report.failures.append(
            f"featuriser max_count {sealed_spec.max_count} exceeds the model's {max_count}"
        )
    if declared_featuriser is not None:
        if sealed_spec != FeaturiserSpec.from_dict(declared_featuriser):
            report.failures.append("the sealed featuriser spec is not the declared one")
        else:
            report.checked.append("the featuriser spec is the declared one")
    if not report.failures:
        report.checked.append(
            f"featuriser spec sha256 {featuriser_digest(model.featuriser)[:16]}... matches the "
            f"plaintext model's (max_count {sealed_spec.max_count})"
        )
    return report


def read_featuriser_spec(path: str | os.PathLike[str]) -> dict[str, Any]:
    """A declared featuriser spec: a JSON spec, or a plaintext model file's `featuriser`."""
    try:
        data = json.loads(Path(path).read_text("utf-8"))
    except (OSError, ValueError) as exc:
        raise AuditError(f"Cannot read the featuriser spec {path}: {exc}.") from exc
    if isinstance(data, dict) and isinstance(data.get("featuriser"), dict):
        data = data["featuriser"]
    if not isinstance(data, dict):
        raise AuditError(f"{path} holds no featuriser spec.")
    return FeaturiserSpec.from_dict(data).to_dict()


def attest(
    model: SealedModel, report: BoundReport, key: Ed25519PrivateKey, *, ciphertext_check: str
) -> Attestation:
    """Sign the statement for a model whose bound checks passed (AuditError otherwise)."""
    if not report.passed:
        raise AuditError("refusing to attest: " + "; ".join(report.failures))
    statement = Statement(
        model_digest=model.digest,
        key_fingerprint=model.key_fingerprint,
        featuriser_sha256=featuriser_digest(model.featuriser),
        max_count=int(model.manifest["max_count"]),
        score_bound=report.score_bound,
        weight_bound=report.weight_bound,
        checked=(ciphertext_check, *report.checked),
        auditor=auditor_id(key.public_key()),
        issued_at=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    return sign_statement(statement, key)


def write_attestation(path: str | os.PathLike[str], attestation: Attestation) -> None:
    atomic_write_bytes(path, attestation.to_bytes(), mode=0o644)


def read_attestation(path: str | os.PathLike[str]) -> Attestation:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditError(f"Cannot read attestation {path}: {exc.strerror or exc}.") from exc
    try:
        return Attestation.from_bytes(data)
    except AttestationError as exc:
        raise AuditError(f"{path}: {exc}") from exc
