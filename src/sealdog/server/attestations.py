"""The server's side of issue 14: attestations it accepts, whether a model may score, and
whether its outputs get strict re-randomisation.

An attestation is accepted only if a trusted auditor (SEALDOG_TRUSTED_AUDITORS) signed it,
its statement names the stored model's digest (which covers the manifest's score bound,
max_count and featuriser spec, so none of them can differ from what the auditor checked),
and its declared figures agree with what validation read from the model. It is re-verified
against the current trusted list at every scoring request (one Ed25519 verification), so
dropping an auditor from the list takes effect at the next restart.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from sealdog.attestation import Attestation, AttestationError, TrustedAuditors
from sealdog.server.kinds.base import ValidatedModel
from sealdog.server.settings import StrictRerandomise

ATTESTATION_HEADER = "Sealdog-Attestation"
"""Upload header carrying an attestation: base64 of the attestation file's bytes."""


def from_header(value: str) -> Attestation:
    """The attestation in an upload's header (AttestationError if malformed)."""
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise AttestationError(
            f"malformed attestation: {ATTESTATION_HEADER} is not base64"
        ) from None
    return Attestation.from_bytes(data)


def check(attestation: Attestation, trusted: TrustedAuditors, model: ValidatedModel) -> None:
    """Raise AttestationError unless `attestation` is valid for `model` (see module doc)."""
    if model.kind != "linear":
        raise AttestationError(f"attestations cover linear models, not kind {model.kind!r}")
    attestation.verify(trusted, model_digest=model.digest)
    statement, summary = attestation.statement, model.summary
    if statement.key_fingerprint != model.key_fingerprint:
        raise AttestationError("the attestation names another public key than the model's")
    if statement.max_count != summary.get("max_count") or statement.score_bound.bit_length() != (
        summary.get("score_bound_bits")
    ):
        raise AttestationError(
            "the attestation's max_count or score bound differs from the model's manifest"
        )


@dataclass(frozen=True)
class Standing:
    """What the server makes of a stored model's attestation right now."""

    attested: bool
    reason: str
    """Why it is not attested ('' when it is)."""
    score_bound: int | None = None
    """The bound the trusted auditor checked (|b| + max_count * sum|w_i| <= it) and signed;
    None unless attested. The linear kind sizes verdict slots from min(cap, this)."""


def standing(
    document: dict[str, Any] | None, trusted: TrustedAuditors, model: ValidatedModel
) -> Standing:
    if document is None:
        return Standing(False, "the model has no attestation")
    try:
        attestation = Attestation.from_json(document)
        check(attestation, trusted, model)
    except AttestationError as exc:
        return Standing(False, str(exc))
    return Standing(True, "", attestation.statement.score_bound)


def strict_for(setting: StrictRerandomise, *, model_asks: bool, attested: bool) -> bool:
    """Strict re-randomisation for one scoring job: the server's setting, raised (never
    lowered) by the model's own request; `auto` is on unless the model is attested."""
    if setting is StrictRerandomise.on or model_asks:
        return True
    if setting is StrictRerandomise.off:
        return False
    return not attested
