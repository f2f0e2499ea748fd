"""The attestation document: an auditor's signed statement about one sealed model.

File (JSON): ``{"format": ATTESTATION_FORMAT, "statement": {...}, "signature": base64}``.
The signature is Ed25519 over ``SIGNING_TAG || canonical JSON of the statement`` (sorted
keys, no spaces), so no field can change without breaking it. The statement names the
model by its digest (which covers its manifest: featuriser spec, max_count, score_bound, and
every ciphertext), the featuriser spec by its own SHA-256, the declared score bound, the
per-weight bound the auditor checked every weight against, and what the auditor checked.

`Attestation.verify` is what a server runs: trusted key, valid signature, and the statement
bound to the stored model's digest; anything else raises `AttestationError` with the reason.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from dataclasses import asdict, dataclass
from typing import Any

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from sealdog.attestation.keys import TrustedAuditors, auditor_id
from sealdog.errors import SealdogError

ATTESTATION_FORMAT = "sealdog-attestation-v1"
SIGNING_TAG = b"sealdog-attestation-v1\x00"
MAX_DOCUMENT_BYTES = 64 * 1024
_HEX = frozenset("0123456789abcdef")


class AttestationError(SealdogError):
    """An attestation is malformed, unsigned by a trusted auditor, or for another model."""


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=True).encode()


def featuriser_digest(spec: dict[str, Any]) -> str:
    """SHA-256 (hex) of a featuriser spec's canonical JSON."""
    return hashlib.sha256(canonical_json(spec)).hexdigest()


@dataclass(frozen=True)
class Statement:
    """What the auditor signs. Integers that can exceed 2^53 travel as decimal strings."""

    model_digest: str
    key_fingerprint: str
    featuriser_sha256: str
    max_count: int
    score_bound: int
    weight_bound: int
    checked: tuple[str, ...]
    auditor: str
    issued_at: str

    def to_json(self) -> dict[str, Any]:
        out = asdict(self)
        out["score_bound"] = str(self.score_bound)
        out["weight_bound"] = str(self.weight_bound)
        out["checked"] = list(self.checked)
        return out

    @classmethod
    def from_json(cls, data: Any) -> Statement:
        if not isinstance(data, dict) or set(data) != {f for f in cls.__dataclass_fields__}:
            raise AttestationError(
                "malformed attestation: the statement must have exactly the fields "
                + ", ".join(sorted(cls.__dataclass_fields__))
            )
        try:
            text = {k: data[k] for k in data if k not in ("max_count", "checked")}
            if not all(isinstance(v, str) for v in text.values()):
                raise TypeError("a text field is not a string")
            checked = data["checked"]
            if not isinstance(checked, list) or not all(isinstance(c, str) for c in checked):
                raise TypeError("checked must be a list of strings")
            max_count = data["max_count"]
            if type(max_count) is not int or max_count < 1:
                raise TypeError("max_count must be a positive integer")
            score_bound, weight_bound = int(text["score_bound"]), int(text["weight_bound"])
            if score_bound < 0 or weight_bound < 0:
                raise ValueError("bounds must be non-negative")
        except (TypeError, ValueError) as exc:
            raise AttestationError(f"malformed attestation: {exc}") from None
        for name in ("model_digest", "featuriser_sha256", "auditor"):
            if not text[name] or not set(text[name]) <= _HEX:
                raise AttestationError(f"malformed attestation: {name} is not lower-case hex")
        return cls(
            model_digest=text["model_digest"],
            key_fingerprint=text["key_fingerprint"],
            featuriser_sha256=text["featuriser_sha256"],
            max_count=max_count,
            score_bound=score_bound,
            weight_bound=weight_bound,
            checked=tuple(checked),
            auditor=text["auditor"],
            issued_at=text["issued_at"],
        )

    def message(self) -> bytes:
        """The signed bytes."""
        return SIGNING_TAG + canonical_json(self.to_json())


@dataclass(frozen=True)
class Attestation:
    statement: Statement
    signature: bytes

    def to_json(self) -> dict[str, Any]:
        return {
            "format": ATTESTATION_FORMAT,
            "statement": self.statement.to_json(),
            "signature": base64.b64encode(self.signature).decode("ascii"),
        }

    def to_bytes(self) -> bytes:
        return json.dumps(self.to_json(), indent=2, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_json(cls, data: Any) -> Attestation:
        if not isinstance(data, dict) or set(data) != {"format", "statement", "signature"}:
            raise AttestationError(
                "malformed attestation: expected an object with format, statement, signature"
            )
        if data["format"] != ATTESTATION_FORMAT:
            raise AttestationError(
                f"malformed attestation: format {str(data['format'])[:40]!r} is not "
                f"{ATTESTATION_FORMAT!r}"
            )
        sig = data["signature"]
        try:
            signature = base64.b64decode(sig, validate=True) if isinstance(sig, str) else b""
        except (binascii.Error, ValueError):
            signature = b""
        if len(signature) != 64:
            raise AttestationError("malformed attestation: the signature is not 64 bytes base64")
        return cls(Statement.from_json(data["statement"]), signature)

    @classmethod
    def from_bytes(cls, data: bytes) -> Attestation:
        if len(data) > MAX_DOCUMENT_BYTES:
            raise AttestationError(
                f"malformed attestation: {len(data):,} bytes, above {MAX_DOCUMENT_BYTES:,}"
            )
        try:
            parsed = json.loads(data)
        except (ValueError, UnicodeDecodeError):
            raise AttestationError("malformed attestation: not JSON") from None
        return cls.from_json(parsed)

    def verify(self, trusted: TrustedAuditors, *, model_digest: str) -> None:
        """Raise AttestationError unless a trusted auditor signed this statement about the
        model with `model_digest`."""
        if not trusted:
            raise AttestationError("this server trusts no auditor (SEALDOG_TRUSTED_AUDITORS)")
        if self.statement.auditor not in trusted.keys:
            raise AttestationError(
                f"the attestation is signed by auditor {self.statement.auditor}, whom this "
                "server does not trust (SEALDOG_TRUSTED_AUDITORS)"
            )
        if not trusted.verify(self.statement.auditor, self.signature, self.statement.message()):
            raise AttestationError("the attestation's signature is not valid")
        if self.statement.model_digest != model_digest:
            raise AttestationError(
                f"the attestation is for model digest {self.statement.model_digest[:16]}..., "
                f"not this model's {model_digest[:16]}..."
            )


def sign_statement(statement: Statement, key: Ed25519PrivateKey) -> Attestation:
    """Sign `statement` (its `auditor` must name `key`)."""
    if statement.auditor != auditor_id(key.public_key()):
        raise AttestationError("the statement names another auditor than the signing key")
    return Attestation(statement, key.sign(statement.message()))
