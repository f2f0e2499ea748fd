"""The sealed-model artifact shared by trainer, server and client: manifest + ciphertext payload.

One file, a zip holding `manifest.json` and `weights.bin` (stored, not compressed: ciphertexts
do not compress). The manifest names the scheme, the key (fingerprint and public key), the
featuriser spec (opaque here), the fixed-point scale and bounds, metadata and creation time.

`digest` = SHA-256 over a domain tag, the canonical JSON of the manifest without its `digest`
field, and the payload. It is what an auditor signs; reading a file recomputes it, so any
tampering with manifest or ciphertexts is detected.

`kind`/`scheme` are open: "linear"/"paillier" is implemented here; other schemes (e.g.
"xor"/"vhe") build a `SealedModel` with their own manifest fields and payload and add their
own accessor next to `linear()`.
"""

from __future__ import annotations

import hashlib
import io
import os
import zipfile
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from sealdog.crypto.paillier.codec import ciphertext_width, decode_ciphertexts, encode_ciphertexts
from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS
from sealdog.crypto.paillier.keys import PublicKey, canonical_json
from sealdog.crypto.paillier.linear import SealedLinear, check_bounds, seal_linear
from sealdog.errors import CorruptDataError, KeyMismatchError, SealdogError
from sealdog.fileio import atomic_write_bytes

FORMAT = "sealdog-sealed-model"
FORMAT_VERSION = 1
_DIGEST_TAG = b"sealdog-sealed-model-digest-v1\x00"
_MANIFEST_NAME = "manifest.json"
_PAYLOAD_NAME = "weights.bin"
_ZIP_DATE = (1980, 1, 1, 0, 0, 0)
_REQUIRED = ("format", "format_version", "kind", "scheme", "key_fingerprint", "created_at", "metadata")

Manifest = dict[str, Any]


class SealedModelError(CorruptDataError):
    """A sealed-model file is malformed, tampered with, or not of the expected kind."""


def compute_digest(manifest: Manifest, payload: bytes) -> str:
    body = {k: v for k, v in manifest.items() if k != "digest"}
    h = hashlib.sha256(_DIGEST_TAG)
    h.update(canonical_json(body))
    h.update(b"\x00")
    h.update(payload)
    return h.hexdigest()


@dataclass
class SealedModel:
    manifest: Manifest
    payload: bytes = field(repr=False)

    def __post_init__(self) -> None:
        self.manifest = dict(self.manifest)  # never alias the caller's dict
        for key in _REQUIRED:
            if key not in self.manifest:
                raise SealedModelError(f"Sealed-model manifest lacks {key!r}.")
        if self.manifest["format"] != FORMAT:
            raise SealedModelError(f"Not a Sealdog sealed model (format {self.manifest['format']!r}).")
        if self.manifest["format_version"] != FORMAT_VERSION:
            raise SealedModelError(
                f"Unsupported sealed-model version {self.manifest['format_version']!r}; this Sealdog reads {FORMAT_VERSION}."
            )
        if "digest" not in self.manifest:
            self.manifest["digest"] = compute_digest(self.manifest, self.payload)

    # --- identity ---------------------------------------------------------------------
    @property
    def digest(self) -> str:
        """The content digest (what an auditor signs), recomputed from the bytes."""
        return compute_digest(self.manifest, self.payload)

    def verify_digest(self) -> None:
        if self.manifest.get("digest") != self.digest:
            raise SealedModelError("Sealed-model digest mismatch: the manifest or the ciphertexts were altered.")

    @property
    def kind(self) -> str:
        return str(self.manifest["kind"])

    @property
    def scheme(self) -> str:
        return str(self.manifest["scheme"])

    @property
    def key_fingerprint(self) -> str:
        return str(self.manifest["key_fingerprint"])

    @property
    def featuriser(self) -> dict[str, Any]:
        return self.manifest.get("featuriser", {})

    @property
    def metadata(self) -> dict[str, Any]:
        return self.manifest["metadata"]

    # --- bytes and files --------------------------------------------------------------
    def to_bytes(self) -> bytes:
        self.verify_digest()
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in ((_MANIFEST_NAME, canonical_json(self.manifest)), (_PAYLOAD_NAME, self.payload)):
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedModel:
        import json

        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = sorted(zf.namelist())
                if names != sorted([_MANIFEST_NAME, _PAYLOAD_NAME]):
                    raise SealedModelError(f"Sealed-model file must hold exactly manifest.json and weights.bin, found {names}.")
                manifest = json.loads(zf.read(_MANIFEST_NAME))
                payload = zf.read(_PAYLOAD_NAME)
        except (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, EOFError) as exc:
            raise SealedModelError(f"Not a readable sealed-model file: {exc}") from exc
        if not isinstance(manifest, dict):
            raise SealedModelError("Sealed-model manifest is not a JSON object.")
        if "digest" not in manifest:
            raise SealedModelError("Sealed-model manifest has no digest.")
        model = cls(manifest, payload)
        model.verify_digest()
        return model

    def write(self, path: str | os.PathLike[str]) -> None:
        atomic_write_bytes(path, self.to_bytes(), mode=0o644)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> SealedModel:
        try:
            data = Path(path).read_bytes()
        except FileNotFoundError as exc:
            raise SealdogError(f"No sealed-model file at {path}.") from exc
        return cls.from_bytes(data)

    # --- scheme accessors -------------------------------------------------------------
    def public_key(self) -> PublicKey:
        if self.scheme != "paillier":
            raise SealedModelError(f"Scheme {self.scheme!r} has no Paillier public key.")
        pk = PublicKey.from_json(self.manifest["public_key"])
        if pk.fingerprint != self.key_fingerprint:
            raise KeyMismatchError("Sealed model's public key does not match its key fingerprint.")
        return pk

    def linear(self) -> SealedLinear:
        """The Paillier linear model, after validating digest, key and every ciphertext."""
        if self.kind != "linear" or self.scheme != "paillier":
            raise SealedModelError(f"This sealed model is {self.kind}/{self.scheme}, not linear/paillier.")
        self.verify_digest()
        pk = self.public_key()
        m = self.manifest
        try:
            dim, scale_bits = int(m["dim"]), int(m["scale_bits"])
            max_count, score_bound = int(m["max_count"]), int(m["score_bound"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SealedModelError("Linear sealed-model manifest lacks dim/scale_bits/max_count/score_bound.") from exc
        _check_featuriser_max_count(self.featuriser, max_count)
        check_bounds(pk, score_bound)
        cts = decode_ciphertexts(self.payload, pk)
        if len(cts) != dim + 1:
            raise SealedModelError(f"Payload holds {len(cts)} ciphertexts, manifest says {dim} weights + bias.")
        return SealedLinear(pk, cts[1:], cts[0], scale_bits, max_count, score_bound)


def seal_model(
    pk: PublicKey,
    weights: np.ndarray,
    bias: float,
    *,
    featuriser: dict[str, Any],
    scale_bits: int = DEFAULT_SCALE_BITS,
    max_count: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> SealedModel:
    """Encrypt a linear model under pk and wrap it with its manifest (bias first in the payload).

    `max_count` (the largest feature count the score bound allows) defaults to the
    featuriser's own `max_count`; a different explicit value is refused, since every e-mail
    with a larger count would then be rejected at scoring time.
    """
    if max_count is None:
        max_count = int(featuriser.get("max_count", 1))
    _check_featuriser_max_count(featuriser, max_count)
    sealed = seal_linear(pk, weights, bias, scale_bits=scale_bits, max_count=max_count)
    assert isinstance(sealed, SealedLinear)
    return model_from_linear(sealed, featuriser=featuriser, metadata=metadata)


def _check_featuriser_max_count(featuriser: Any, max_count: int) -> None:
    spec_max = featuriser.get("max_count") if isinstance(featuriser, dict) else None
    if spec_max is not None and spec_max != max_count:
        raise SealedModelError(
            f"The featuriser produces counts up to {spec_max} but the model was sealed for counts "
            f"up to {max_count}; seal it with max_count={spec_max}."
        )


def model_from_linear(
    sealed: SealedLinear, *, featuriser: dict[str, Any], metadata: dict[str, Any] | None = None
) -> SealedModel:
    pk = sealed.public_key
    payload = encode_ciphertexts([sealed.bias, *sealed.weights], width=ciphertext_width(pk))
    manifest: Manifest = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": "linear",
        "scheme": "paillier",
        "key_fingerprint": pk.fingerprint,
        "public_key": pk.to_json(),
        "featuriser": featuriser,
        "dim": sealed.dim,
        "scale_bits": sealed.scale_bits,
        "max_count": sealed.max_count,
        "score_bound": str(sealed.score_bound),
        "metadata": dict(metadata or {}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    return SealedModel(manifest, payload)
