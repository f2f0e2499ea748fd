"""The one sealed-model container, for every kind and scheme: manifest + payload.

This is what the key holder hands the server (Concrete ML's "server artifact"): public key
and ciphertexts, never a secret key. One file, a zip holding `manifest.json` and
`weights.bin` (stored, not compressed: ciphertexts do not compress). Every manifest names
its `kind` (what the server hosts it as) and `scheme` (the encryption), the key
fingerprint, metadata and creation time; the other fields and the payload belong to the
kind:

- "linear"/"paillier" (here: `seal_model`, `SealedModel.linear()`): public key, featuriser
  spec, fixed-point scale and bounds; the payload is the bias and weight ciphertexts;
- "xor"/"vhe" (`sealdog.xor.sealed.SealedXor.to_model`/`from_model`): preset, activation,
  hidden units; the payload is the public key, product key and weight ciphertexts.

The server dispatches on `kind`, never on the bytes. XOR networks used to be a separate
JSON file ("sealdog-xor"); such a file is refused with a message saying how to re-seal it.

`digest` = SHA-256 over a domain tag, the canonical JSON of the manifest without its `digest`
field, and the payload. It is what an auditor signs. It is computed once, when the model is
built or read (a `SealedModel` is immutable: frozen, its manifest a read-only deep
copy; `manifest_dict()` gives a mutable one), and reading
a file checks it against the manifest's claim, so any tampering with manifest or ciphertexts
is detected.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import zipfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NoReturn

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
_REQUIRED = (
    "format",
    "format_version",
    "kind",
    "scheme",
    "key_fingerprint",
    "created_at",
    "metadata",
)
LEGACY_XOR_FORMAT = "sealdog-xor"
LEGACY_XOR_MESSAGE = (
    "This is a sealed XOR network in the old JSON format ('sealdog-xor'), which Sealdog no "
    "longer reads: XOR networks now use the sealed-model container. Re-seal the network with "
    "`sealdog.xor.keyholder.seal_xor_network(net, secret_key).write(path)` (a network trained "
    "with `sealdog demo xor` is re-trained in seconds)."
)

Manifest = Mapping[str, Any]


class SealedModelError(CorruptDataError):
    """A sealed-model file is malformed, tampered with, or not of the expected kind."""


class FrozenJsonObject(dict[str, Any]):
    """A JSON object that refuses changes (still a dict: `json.dumps` and `dict(...)` work).

    Copies and pickles of it are plain dicts."""

    def _read_only(self, *args: Any, **kwargs: Any) -> NoReturn:
        raise TypeError("a sealed model's manifest is read-only; manifest_dict() gives a copy")

    __setitem__ = __delitem__ = __ior__ = _read_only
    clear = pop = popitem = setdefault = update = _read_only

    def __reduce__(self) -> tuple[type[dict[str, Any]], tuple[dict[str, Any]]]:
        return (dict, (dict(self),))


def _freeze(value: Any) -> Any:
    """A read-only deep copy of JSON data: objects become FrozenJsonObject, arrays tuples."""
    if isinstance(value, Mapping):
        return FrozenJsonObject({k: _freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(_freeze(v) for v in value)
    return value


def plain_json(value: Any) -> Any:
    """A mutable deep copy of (possibly frozen) JSON data: dicts and lists again."""
    if isinstance(value, Mapping):
        return {k: plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return value


def compute_digest(manifest: Manifest, payload: bytes) -> str:
    """The content digest of a manifest (its own `digest` field excluded) and payload."""
    body = {k: v for k, v in manifest.items() if k != "digest"}
    h = hashlib.sha256(_DIGEST_TAG)
    h.update(canonical_json(body))
    h.update(b"\x00")
    h.update(payload)
    return h.hexdigest()


@dataclass(frozen=True, eq=False)
class SealedModel:
    """A sealed model of any kind: read-only manifest, payload bytes, digest computed once.

    Built from a manifest without `digest` (sealing), the digest is filled in; built from one
    that claims a digest (a file), the claim is kept and `verify_digest` compares it with the
    computed one (`from_bytes` always does)."""

    manifest: Manifest
    payload: bytes = field(repr=False)
    digest: str = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if not isinstance(self.manifest, Mapping):
            raise SealedModelError("Sealed-model manifest is not a JSON object.")
        manifest = plain_json(self.manifest)  # a copy: never alias the caller's dicts
        for key in _REQUIRED:
            if key not in manifest:
                raise SealedModelError(f"Sealed-model manifest lacks {key!r}.")
        if manifest["format"] != FORMAT:
            raise SealedModelError(f"Not a Sealdog sealed model (format {manifest['format']!r}).")
        if manifest["format_version"] != FORMAT_VERSION:
            raise SealedModelError(
                f"Unsupported sealed-model version {manifest['format_version']!r}; "
                f"this Sealdog reads {FORMAT_VERSION}."
            )
        digest = compute_digest(manifest, self.payload)
        manifest.setdefault("digest", digest)
        object.__setattr__(self, "manifest", _freeze(manifest))
        object.__setattr__(self, "digest", digest)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, SealedModel):
            return NotImplemented
        return self.manifest == other.manifest and self.payload == other.payload

    __hash__ = None  # type: ignore[assignment]  # equal by content, and the manifest is a dict

    def __reduce__(self) -> tuple[type[SealedModel], tuple[dict[str, Any], bytes]]:
        # Through the constructor, so the copy's manifest is frozen again (digest recomputed).
        return (type(self), (self.manifest_dict(), self.payload))

    def manifest_dict(self) -> dict[str, Any]:
        """The manifest as plain, mutable JSON data (a copy, with its digest claim)."""
        result: dict[str, Any] = plain_json(self.manifest)
        return result

    # --- identity ---------------------------------------------------------------------
    def verify_digest(self) -> None:
        """Raise unless the manifest's claimed digest is the content's (computed once)."""
        if self.manifest.get("digest") != self.digest:
            raise SealedModelError(
                "Sealed-model digest mismatch: the manifest or the ciphertexts were altered."
            )

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
        """A copy of the featuriser spec (empty for kinds without one)."""
        spec = self.manifest.get("featuriser", {})
        return plain_json(spec) if isinstance(spec, Mapping) else {}

    @property
    def metadata(self) -> dict[str, Any]:
        """A copy of the model's metadata."""
        meta = self.manifest["metadata"]
        return plain_json(meta) if isinstance(meta, Mapping) else {}

    # --- bytes and files --------------------------------------------------------------
    def to_bytes(self) -> bytes:
        self.verify_digest()
        buf = io.BytesIO()
        members = ((_MANIFEST_NAME, canonical_json(self.manifest)), (_PAYLOAD_NAME, self.payload))
        with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
            for name, data in members:
                info = zipfile.ZipInfo(name, date_time=_ZIP_DATE)
                info.external_attr = 0o644 << 16
                zf.writestr(info, data)
        return buf.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> SealedModel:
        """Parse and check the digest; an old-format XOR file gets a re-seal message."""
        cls.refuse_legacy_xor(data)
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as zf:
                names = sorted(zf.namelist())
                if names != sorted([_MANIFEST_NAME, _PAYLOAD_NAME]):
                    raise SealedModelError(
                        "Sealed-model file must hold exactly manifest.json and weights.bin, "
                        f"found {names}."
                    )
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

    @staticmethod
    def refuse_legacy_xor(data: bytes) -> None:
        """Name an old XOR JSON file and the fix, instead of a bare "not a zip"."""
        if data[:64].lstrip()[:1] != b"{":
            return
        try:
            doc = json.loads(data)
        except (UnicodeDecodeError, json.JSONDecodeError):
            return
        if isinstance(doc, dict) and doc.get("format") == LEGACY_XOR_FORMAT:
            raise SealedModelError(LEGACY_XOR_MESSAGE)

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
            raise SealedModelError(
                f"This sealed model is {self.kind}/{self.scheme}, not linear/paillier."
            )
        self.verify_digest()
        pk = self.public_key()
        m = self.manifest
        try:
            dim, scale_bits = int(m["dim"]), int(m["scale_bits"])
            max_count, score_bound = int(m["max_count"]), int(m["score_bound"])
        except (KeyError, TypeError, ValueError) as exc:
            raise SealedModelError(
                "Linear sealed-model manifest lacks dim/scale_bits/max_count/score_bound."
            ) from exc
        _check_featuriser_max_count(self.featuriser, max_count)
        check_bounds(pk, score_bound)
        cts = decode_ciphertexts(self.payload, pk)
        if len(cts) != dim + 1:
            raise SealedModelError(
                f"Payload holds {len(cts)} ciphertexts, manifest says {dim} weights + bias."
            )
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
    manifest = base_manifest(
        kind="linear",
        scheme="paillier",
        key_fingerprint=pk.fingerprint,
        metadata=metadata,
    )
    manifest.update(
        public_key=pk.to_json(),
        featuriser=featuriser,
        dim=sealed.dim,
        scale_bits=sealed.scale_bits,
        max_count=sealed.max_count,
        score_bound=str(sealed.score_bound),
    )
    return SealedModel(manifest, payload)


def base_manifest(
    *, kind: str, scheme: str, key_fingerprint: str, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The fields every kind's manifest has; the kind adds its own before `SealedModel(...)`."""
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "scheme": scheme,
        "key_fingerprint": key_fingerprint,
        "metadata": dict(metadata or {}),
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
