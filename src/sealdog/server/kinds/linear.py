"""The "linear" model kind: a Paillier-sealed linear classifier over a featuriser spec.

Validation is complete before an upload is acknowledged: container and digest
(`base.open_container`), scheme, key size (>= 2048 bits unless demo mode), every
ciphertext in range (`SealedModel.linear()`) and not trivially structured
(`check_weight_ciphertexts`), the featuriser spec, that the spec's feature count matches the
number of sealed weights, and the server's caps (`ScoringCaps`): a declared score bound above
SEALDOG_MAX_SCORE_BOUND_BITS is refused, and the packing width is checked at upload. It
scores e-mails, with slots and blinding sized from the caps, never from the manifest alone:
a key holder who understates the bound does not shrink the blinding factor. A model whose
attestation a trusted auditor signed (verified at every scoring request) gets slots sized
from min(cap, attested bound): the auditor checked |b| + max_count * sum|w_i| against that
bound on the openings, so it covers every score, and the blinding relative to it (KAPPA,
U) is unchanged (issue 17: narrower slots, more verdicts per ciphertext).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

from sealdog.crypto.paillier import (
    MIN_SECURE_BITS,
    LinearScorer,
    PublicKey,
    SealedLinear,
)
from sealdog.crypto.paillier.linear import TrivialCiphertextError, check_weight_ciphertexts
from sealdog.crypto.paillier.subset_products import LearnedTables, SubsetProducts
from sealdog.crypto.paillier.verdicts import Blinding, pack_scores
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
    ScoringOptions,
    ValidatedModel,
    check_manifest_shape,
    manifest_big_integer,
    manifest_integer,
)

NAME = "linear"
SCHEME = "paillier"
# The caps' settings (server/settings.py documents them; the scoring processes read them from
# the environment they inherit, as server/connections.py does for its knobs).
MAX_SCORE_BOUND_BITS_ENV = "SEALDOG_MAX_SCORE_BOUND_BITS"
BLINDING_ENV = "SEALDOG_BLINDING"
# A trained model at scale 2^20 with 2^18 hashed features has |s| < 2^45 or so; 64 bits is
# well above any honest linear model and sizes the blinding's mantissa (2^64 * 2 + 1 -> 75 bits).
DEFAULT_MAX_SCORE_BOUND_BITS = 64


@dataclass(frozen=True)
class ScoringCaps:
    """The server's own limits on what a linear model may make it compute.

    Invariant: the verdict layout is a function of (key size, caps, verified attested bound)
    only: slots and the blinding mantissa are sized for |s| <= 2^max_score_bound_bits - 1, or
    for |s| <= min(that, the attested bound) when a trusted auditor's attestation was
    verified for the request; the window by `blinding`. The weak LEGACY blinding (demo mode
    only) sizes them from the declared bound.
    """

    max_score_bound_bits: int
    blinding: Blinding

    @classmethod
    def from_environment(cls) -> ScoringCaps:
        """The caps of this server: scoring processes inherit the SEALDOG_* environment
        (`sealdog server run` exports its validated settings; `LocalServer` passes them)."""
        raw_bits = os.environ.get(MAX_SCORE_BOUND_BITS_ENV, "")
        bits = int(raw_bits) if raw_bits.strip() else DEFAULT_MAX_SCORE_BOUND_BITS
        if bits < 1:
            raise SealdogError(f"{MAX_SCORE_BOUND_BITS_ENV} must be >= 1, got {bits}.")
        blinding = Blinding.parse(os.environ.get(BLINDING_ENV, "") or Blinding.STANDARD)
        return cls(bits, blinding)

    def design_bound(self, declared: int, attested: int | None = None) -> int:
        """The |s| the slots and blinding are sized for: the cap, or min(cap, `attested`).

        `attested` must be the bound of an attestation verified for this model (the caller's
        job: `server.attestations.standing`); one below the declared bound is inconsistent
        (the manifest, which the signed digest covers, says otherwise) and is ignored.
        """
        if self.blinding is Blinding.LEGACY:
            return declared
        cap = (1 << self.max_score_bound_bits) - 1
        if attested is None or attested < declared:
            return cap
        return min(cap, attested)

    def scorer(
        self,
        sealed: SealedLinear,
        mode: Mode,
        *,
        strict_rerandomise: bool = False,
        subset_products: SubsetProducts | None = None,
        attested_score_bound: int | None = None,
    ) -> LinearScorer:
        return LinearScorer(
            sealed,
            mode=mode,
            blinding=self.blinding,
            design_bound=self.design_bound(sealed.score_bound, attested_score_bound),
            strict_rerandomise=strict_rerandomise,
            subset_products=subset_products,
        )


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

    def __init__(self, model: SealedModel, caps: ScoringCaps | None = None) -> None:
        self.featuriser = Featuriser.from_spec(model.featuriser)
        self.sealed = model.linear()
        self.caps = caps or ScoringCaps.from_environment()
        self._scorers: dict[tuple[Mode, bool, int], LinearScorer] = {}
        # subset products of the buckets most frequent in this process's traffic (fewer
        # products per e-mail, same ciphertexts): crypto/paillier/subset_products.py
        self._tables = LearnedTables(self.sealed.weights, self.sealed.public_key.nsquare)

    def _scorer(self, options: ScoringOptions) -> LinearScorer:
        """One scorer per (mode, strictness, slot bound), all sharing the learned tables."""
        attested = options.attested_score_bound
        bound = self.caps.design_bound(self.sealed.score_bound, attested)
        key = (options.mode, options.strict_rerandomise, bound)
        scorer = self._scorers.get(key)
        if scorer is None:
            scorer = self._scorers[key] = self.caps.scorer(
                self.sealed,
                options.mode,
                strict_rerandomise=options.strict_rerandomise,
                subset_products=self._tables.tables,
                attested_score_bound=attested,
            )
        return scorer

    def score(self, batch: Batch, options: ScoringOptions) -> dict[str, Any]:
        """Encrypted verdicts (re-randomised, packed) for the batch's e-mails, in order.

        An attested bound in the options (verified for this request) may narrow the verdict
        slots; without one they are cap-sized (see `ScoringCaps.design_bound`)."""
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
        scorer = self._scorer(options)
        verdicts = scorer.score_batch(vectors)
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


def check_caps(sealed: SealedLinear, caps: ScoringCaps) -> None:
    """A declared score bound above the server's cap is refused, with both figures."""
    bits = sealed.score_bound.bit_length()
    if bits > caps.max_score_bound_bits:
        raise ModelRejectedError(
            f"score bound: the model declares a score bound of {bits} bits, above this "
            f"server's cap of {caps.max_score_bound_bits} bits (SEALDOG_MAX_SCORE_BOUND_BITS); "
            "lower scale_bits, clip the weights or lower max_count"
        )


def check_packing(sealed: SealedLinear, caps: ScoringCaps | None = None) -> None:
    """The packing-width check scoring would run, run once at upload: the slot the caps
    size (the blinding factor and the bound) must fit the key, and the declared bound must
    leave room for the blinding (legacy form), or every later score would fail. A dry run
    packs the bias ciphertext in both modes."""
    caps = caps or ScoringCaps.from_environment()
    bound = sealed.score_bound
    for mode in (Mode.VERDICT, Mode.SCORE):
        slots = ""
        try:
            scorer = caps.scorer(sealed, mode)
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
        caps = ScoringCaps.from_environment()
        if caps.blinding is not Blinding.LEGACY:  # the weak variant has no caps
            check_caps(sealed, caps)
        try:
            check_weight_ciphertexts(sealed.public_key, sealed.weights, sealed.bias)
        except TrivialCiphertextError as exc:
            raise ModelRejectedError(f"ciphertexts: {exc}") from None
        check_packing(sealed, caps)
        return ValidatedModel(
            kind=self.name,
            scheme=SCHEME,
            digest=model.digest,
            key_fingerprint=pk.fingerprint,
            key_bits=pk.bits,
            summary=_summary(model, sealed, featuriser),
        )

    def load(self, model: SealedModel) -> LinearModel:
        return LinearModel(model, ScoringCaps.from_environment())
