"""The "linear" model kind: a Paillier-sealed linear classifier over a featuriser spec.

Validation is complete before an upload is acknowledged: container and digest
(`base.open_container`), scheme, key size (>= 2048 bits unless demo mode), every
ciphertext in range (`SealedModel.linear()`), the featuriser spec, and that the spec's
feature count matches the number of sealed weights. It scores e-mails.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from sealdog.crypto.paillier import (
    MIN_SECURE_BITS,
    LinearScorer,
    PublicKey,
    SealedLinear,
)
from sealdog.crypto.paillier.subset_products import LearnedTables
from sealdog.crypto.paillier.verdicts import pack_scores
from sealdog.errors import SealdogError
from sealdog.mail.errors import EmailTooLargeError, MailError
from sealdog.mail.featuriser import Featuriser
from sealdog.protocol import Mode
from sealdog.sealed_model import SealedModel
from sealdog.server.kinds.base import (
    DIM_RANGE,
    MAX_COUNT_RANGE,
    SCALE_BITS_RANGE,
    Batch,
    EmailBatch,
    ModelRejectedError,
    ScoringInputError,
    ScoringInputTooLargeError,
    ValidatedModel,
    check_manifest_shape,
    manifest_big_integer,
    manifest_integer,
)

NAME = "linear"
SCHEME = "paillier"


def _summary(model: SealedModel, sealed: SealedLinear, featuriser: Featuriser) -> dict[str, Any]:
    """Manifest fields safe to show anyone who may use the model: no ciphertexts, no key.

    The vocabulary is replaced by its size: a submitter has no need to read it (the owner
    can download the sealed file, which has it)."""
    spec = featuriser.spec
    feat = {k: v for k, v in spec.to_dict().items() if k != "vocabulary"}
    feat["n_features"] = spec.n_features
    return {
        "featuriser": feat,
        "dim": sealed.dim,
        "scale_bits": sealed.scale_bits,
        "max_count": sealed.max_count,
        "score_bound_bits": int(sealed.score_bound).bit_length(),
        "metadata": model.metadata,
        "created_at": str(model.manifest.get("created_at")),
    }


class LinearModel:
    """A validated sealed linear model with its featuriser, ready to score in a worker."""

    def __init__(self, model: SealedModel) -> None:
        self.featuriser = Featuriser.from_spec(model.featuriser)
        self.sealed = model.linear()
        self._scorers: dict[Mode, LinearScorer] = {}
        # subset products of the buckets most frequent in this process's traffic (fewer
        # products per e-mail, same ciphertexts): crypto/paillier/subset_products.py
        self._tables = LearnedTables(self.sealed.weights, self.sealed.public_key.nsquare)

    def _scorer(self, mode: Mode) -> LinearScorer:
        scorer = self._scorers.get(mode)
        if scorer is None:
            scorer = self._scorers[mode] = LinearScorer(
                self.sealed, mode=mode, subset_products=self._tables.tables
            )
        return scorer

    def score(self, batch: Batch, *, mode: Mode) -> dict[str, Any]:
        """Encrypted verdicts (re-randomised, packed) for the batch's e-mails, in order."""
        if not isinstance(batch, EmailBatch):
            raise ScoringInputError(
                'this is a linear model: it scores e-mails, send "emails" instead of "inputs"'
            )
        vectors = []
        truncated = []
        for i, raw in enumerate(batch.emails):
            try:
                checked = self.featuriser.featurise_email_checked(
                    raw, max_bytes=batch.max_email_bytes
                )
            except EmailTooLargeError as exc:
                raise ScoringInputTooLargeError(f"emails[{i}]: {exc}", index=i) from None
            vectors.append(checked.features)
            if checked.truncated:  # over a parsing cap: the key holder is told (never silent)
                truncated.append(i)
        verdicts = self._scorer(mode).score_batch(vectors)
        if (tables := self._tables.observe(vectors)) is not None:
            for scorer in self._scorers.values():
                scorer.use_subset_products(tables)
        return replace(verdicts, truncated=tuple(truncated)).to_json()


def check_manifest(manifest: Mapping[str, Any]) -> None:
    """Every linear-kind field typed and in range (before `SealedModel.linear()` reads it)."""
    check_manifest_shape(manifest)
    manifest_integer(manifest, "dim", *DIM_RANGE)
    manifest_integer(manifest, "scale_bits", *SCALE_BITS_RANGE)
    manifest_integer(manifest, "max_count", *MAX_COUNT_RANGE)
    manifest_big_integer(manifest, "score_bound")


def check_packing(sealed: SealedLinear) -> None:
    """The packing-width check scoring would run, run once at upload: the score bound must
    leave room in a slot for the blinding factor (too small) and fit the key (too large),
    or every later score would fail. A dry run packs the bias ciphertext in both modes."""
    bound = sealed.score_bound
    for mode in (Mode.VERDICT, Mode.SCORE):
        slots = ""
        try:
            scorer = LinearScorer(sealed, mode=mode)
            slots = f" (slots of {scorer.layout.slot_bits} bits)"
            pack_scores(sealed.public_key, scorer.layout, [sealed.bias], blind=mode is Mode.VERDICT)
        except (SealdogError, MailError) as exc:
            raise ModelRejectedError(
                f"score bounds: score_bound {bound} ({bound.bit_length()} bits) does not fit "
                f"{mode.value} mode under this {sealed.public_key.bits}-bit key{slots}: {exc}"
            ) from None


class LinearKind:
    name = NAME

    def validate(
        self, model: SealedModel, *, demo_mode: bool, allow_research: bool
    ) -> ValidatedModel:
        check_manifest(model.manifest)
        if model.scheme != SCHEME:
            raise ModelRejectedError(
                f"scheme {model.scheme!r} is not supported for linear models (use {SCHEME!r})"
            )
        public_key = model.manifest.get("public_key")
        if not isinstance(public_key, dict):
            raise ModelRejectedError("public key: the manifest has no Paillier public key object")
        try:
            pk = PublicKey.from_json(public_key)
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
                f"featuriser max_count {featuriser.max_count} exceeds the model's "
                f"{sealed.max_count}"
            )
        check_packing(sealed)
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=model.digest,
            key_fingerprint=pk.fingerprint,
            key_bits=pk.bits,
            summary=_summary(model, sealed, featuriser),
        )

    def load(self, model: SealedModel) -> LinearModel:
        return LinearModel(model)
