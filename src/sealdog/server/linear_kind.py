"""The "linear" model kind: a Paillier-sealed linear classifier over a featuriser spec.

Validation is complete before an upload is acknowledged: container and digest
(`SealedModel.from_bytes`), scheme, key size (>= 2048 bits unless demo mode), every
ciphertext in range (`SealedModel.linear()`), the featuriser spec, and that the spec's
feature count matches the number of sealed weights.
"""

from __future__ import annotations

import io
import zipfile
from collections.abc import Sequence
from typing import Any

from sealdog.crypto.paillier import MIN_SECURE_BITS, LinearScorer, PublicKey, SealedLinear
from sealdog.errors import SealdogError
from sealdog.mail.errors import MailError
from sealdog.sealed_model import SealedModel
from sealdog.server.kinds import (
    ModelRejectedError,
    ScoringInputError,
    ScoringInputTooLargeError,
    ValidatedModel,
)
from sealdog.mail.message import EmailTooLargeError
from sealdog.mail.featuriser import Featuriser

SCHEME = "paillier"


def _check_expansion(data: bytes) -> None:
    """Refuse zip members that would expand far beyond the upload (a zip bomb): sealed
    models are stored uncompressed, so their members are never larger than the file."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            total = sum(info.file_size for info in zf.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, EOFError):
        raise ModelRejectedError("not a sealed-model file (expected the zip container "
                                 "that SealedModel.to_bytes writes)") from None
    if total > len(data) + 1024 * 1024:
        raise ModelRejectedError("sealed-model members expand far beyond the upload size")


def _parse(data: bytes) -> SealedModel:
    _check_expansion(data)
    try:
        return SealedModel.from_bytes(data)
    except (SealdogError, MailError) as exc:
        raise ModelRejectedError(str(exc)) from None
    except (ValueError, TypeError, KeyError, IndexError) as exc:
        raise ModelRejectedError(f"not a readable sealed-model file ({type(exc).__name__})") from None


def peek_kind(data: bytes) -> str:
    return _parse(data).kind


def _summary(model: SealedModel, sealed: SealedLinear, featuriser: Featuriser) -> dict[str, Any]:
    """Manifest fields safe to show anyone who may use the model: no ciphertexts, no key.

    The vocabulary is replaced by its size: a submitter has no need to read it (the owner
    can download the sealed file, which has it)."""
    m = model.manifest
    spec = featuriser.spec
    feat = {k: v for k, v in spec.to_dict().items() if k != "vocabulary"}
    feat["n_features"] = spec.n_features
    return {
        "featuriser": feat,
        "dim": sealed.dim,
        "scale_bits": sealed.scale_bits,
        "max_count": sealed.max_count,
        "score_bound_bits": int(sealed.score_bound).bit_length(),
        "metadata": model.metadata if isinstance(model.metadata, dict) else {},
        "created_at": str(m.get("created_at")),
    }


class LinearModel:
    """A validated sealed linear model with its featuriser, ready to score in a worker."""

    def __init__(self, model: SealedModel) -> None:
        self.featuriser = Featuriser.from_spec(model.featuriser)
        self.sealed = model.linear()
        self._scorers: dict[str, LinearScorer] = {}

    def _scorer(self, mode: str) -> LinearScorer:
        scorer = self._scorers.get(mode)
        if scorer is None:
            scorer = self._scorers[mode] = LinearScorer(self.sealed, mode=mode)  # type: ignore[arg-type]
        return scorer

    def score(self, emails: Sequence[bytes], *, mode: str, max_email_bytes: int) -> dict[str, Any]:
        vectors = []
        for i, raw in enumerate(emails):
            try:
                vectors.append(self.featuriser.featurise_email(raw, max_bytes=max_email_bytes))
            except EmailTooLargeError as exc:
                raise ScoringInputTooLargeError(f"emails[{i}]: {exc}") from None
        return self._scorer(mode).score_batch(vectors).to_json()

    def score_inputs(self, inputs: Sequence[Sequence[int]], *, mode: str) -> dict[str, Any]:
        raise ScoringInputError("this is a linear model: it scores e-mails, send \"emails\" instead of \"inputs\"")


class LinearKind:
    name = "linear"

    def validate(self, data: bytes, *, demo_mode: bool, allow_research: bool = False) -> ValidatedModel:
        model = _parse(data)
        if model.kind != self.name:
            raise ModelRejectedError(f"kind {model.kind!r} is not {self.name!r}")
        if model.scheme != SCHEME:
            raise ModelRejectedError(
                f"scheme {model.scheme!r} is not supported for linear models (use {SCHEME!r})"
            )
        try:
            pk = PublicKey.from_json(model.manifest.get("public_key"))  # type: ignore[arg-type]
        except (SealdogError, MailError) as exc:
            raise ModelRejectedError(f"public key: {exc}") from None
        if pk.bits < MIN_SECURE_BITS and not demo_mode:
            raise ModelRejectedError(
                f"the model's Paillier key has {pk.bits} bits, below the {MIN_SECURE_BITS}-bit "
                "floor; reseal it with a 3072-bit (or 2048-bit) key. (A server started with "
                "--insecure-demo accepts small keys, for demos only.)"
            )
        if pk.fingerprint != model.key_fingerprint:
            raise ModelRejectedError("the manifest's key fingerprint does not match its public key")
        try:
            featuriser = Featuriser.from_spec(model.featuriser)
        except (SealdogError, MailError) as exc:
            raise ModelRejectedError(f"featuriser spec: {exc}") from None
        try:
            sealed = model.linear()  # checks every ciphertext is in range for the key
        except (SealdogError, MailError) as exc:
            raise ModelRejectedError(f"ciphertexts: {exc}") from None
        if sealed.dim != featuriser.n_features:
            raise ModelRejectedError(
                f"the featuriser makes {featuriser.n_features} features but the model has "
                f"{sealed.dim} sealed weights"
            )
        if featuriser.max_count > sealed.max_count:
            raise ModelRejectedError(
                f"featuriser max_count {featuriser.max_count} exceeds the model's {sealed.max_count}"
            )
        try:
            LinearScorer(sealed, mode="verdict")  # bounds fit a packing slot with blinding
        except (SealdogError, MailError) as exc:
            raise ModelRejectedError(f"score bounds: {exc}") from None
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=str(model.digest),
            key_fingerprint=pk.fingerprint,
            key_bits=pk.bits,
            summary=_summary(model, sealed, featuriser),
        )

    def load(self, data: bytes, *, expected_digest: str) -> LinearModel:
        model = _parse(data)
        if str(model.digest) != expected_digest:
            raise ModelRejectedError("stored sealed model does not match its registered digest")
        return LinearModel(model)
