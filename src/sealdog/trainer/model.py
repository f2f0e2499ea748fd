"""The plaintext linear model file: weights, bias (threshold folded in), featuriser spec, metadata.

Decision rule, the one the sealed model computes under encryption:
``spam  <=>  bias + sum_i weights[i] * counts[i] >= 0``. The operating threshold chosen
at training time is already subtracted from `bias`, so sealing needs nothing else.

Per-mailbox operating point: a model trained on two or more mailboxes folds the *pooled*
threshold into `bias` (the default, for mail of any mailbox it never saw) and keeps each
known mailbox's threshold as an offset from it (`mailbox_offsets`: that mailbox's
threshold minus the pooled one). `for_mailbox` is the one place that applies an offset;
the weights are shared. The offsets are the key holder's secret like the threshold itself:
`sealdog.trainer.sealing` never puts them in a sealed model.

File format: one JSON object (``format: sealdog-plaintext-model``), written atomically.
Version 1: weights, bias, featuriser, metadata. Version 2 (written only when there are
offsets, so an older reader refuses the file rather than silently dropping the per-mailbox
thresholds): version 1 plus ``mailbox_thresholds: {"offsets": {name: offset}}``. Weights
and offsets are stored as JSON floats, which round-trip float64 exactly.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse as sp

from sealdog.errors import SealdogError
from sealdog.fileio import atomic_write_text
from sealdog.mail.errors import FeaturiserSpecError
from sealdog.mail.featuriser import Featuriser, FeaturiserSpec, SparseFeatures

MODEL_FORMAT = "sealdog-plaintext-model"
MODEL_VERSION = 1
MODEL_VERSION_MAILBOXES = 2
"""The version of a file that carries per-mailbox threshold offsets."""


class ModelFileError(SealdogError):
    """A plaintext model file is missing, malformed or inconsistent with its featuriser."""


class UnknownMailboxError(SealdogError):
    """A mailbox was named (`--mailbox`) that the model has no threshold of its own for."""


@dataclass(frozen=True)
class LinearModel:
    """A linear spam detector in the clear. Invariant: ``len(weights) == featuriser.n_features``."""

    weights: np.ndarray
    bias: float
    featuriser: FeaturiserSpec
    metadata: dict[str, Any] = field(default_factory=dict)
    mailbox_offsets: dict[str, float] = field(default_factory=dict)
    """Threshold offset of each mailbox the model was trained on (its threshold minus the
    folded pooled one); any other mailbox gets the folded threshold. Empty: one threshold."""

    def __post_init__(self) -> None:
        weights = np.asarray(self.weights, dtype=np.float64)
        object.__setattr__(self, "weights", weights)
        if weights.ndim != 1 or len(weights) != self.featuriser.n_features:
            raise ModelFileError(
                f"model has {weights.size} weights but its featuriser has "
                f"{self.featuriser.n_features} features"
            )
        if not np.all(np.isfinite(weights)) or not math.isfinite(self.bias):
            raise ModelFileError("model weights and bias must be finite numbers")
        offsets = self.mailbox_offsets
        if not isinstance(offsets, dict) or not all(
            isinstance(k, str)
            and isinstance(v, (int, float))
            and not isinstance(v, bool)
            and math.isfinite(v)
            for k, v in offsets.items()
        ):
            raise ModelFileError(
                "mailbox threshold offsets must map mailbox names (strings) to finite numbers"
            )
        object.__setattr__(self, "mailbox_offsets", {k: float(offsets[k]) for k in sorted(offsets)})

    def make_featuriser(self) -> Featuriser:
        return Featuriser.from_spec(self.featuriser)

    def decision_function(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        """Scores ``bias + X @ weights``; spam iff >= 0."""
        return np.asarray(X @ self.weights).ravel() + self.bias

    def score(self, features: SparseFeatures) -> float:
        return float(self.bias + np.dot(self.weights[features.indices], features.counts))

    def predict(self, X: sp.spmatrix | np.ndarray) -> np.ndarray:
        return self.decision_function(X) >= 0

    def with_threshold(self, threshold: float) -> LinearModel:
        """The same model with decision ``score >= threshold`` folded into the bias."""
        meta = dict(self.metadata)
        meta["threshold_folded"] = float(meta.get("threshold_folded", 0.0)) + float(threshold)
        return LinearModel(
            self.weights, self.bias - float(threshold), self.featuriser, meta, self.mailbox_offsets
        )

    def for_mailbox(self, name: str | None) -> LinearModel:
        """The model that judges mail of mailbox `name`: its threshold offset folded into
        the bias (score = default score - offset), no offsets left. A mailbox the model
        does not know (or None) gets the default, i.e. this model itself."""
        if name is None or name not in self.mailbox_offsets:
            return self
        folded = self.with_threshold(self.mailbox_offsets[name])
        return replace(folded, metadata={**folded.metadata, "mailbox": name}, mailbox_offsets={})

    def for_named_mailbox(self, name: str | None) -> LinearModel:
        """`for_mailbox` for a name a user typed (`--mailbox`; None: the default): as at
        training, or a path to the mailbox's folder; a name the model does not know is
        refused, listing the known ones (silently sealing the default for a typo would
        change the FPR unnoticed)."""
        if name is None:
            return self
        known = self.mailbox_offsets
        key = name if name in known else os.path.abspath(name)
        if key not in known:
            listed = ", ".join(known) if known else "none (the model has one threshold)"
            raise UnknownMailboxError(
                f"the model has no threshold for mailbox {name!r}; known mailboxes: {listed}"
            )
        return self.for_mailbox(key)

    # -- serialisation -------------------------------------------------------------------

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": MODEL_FORMAT,
            "version": MODEL_VERSION_MAILBOXES if self.mailbox_offsets else MODEL_VERSION,
            "kind": "linear",
            "bias": float(self.bias),
            "weights": self.weights.tolist(),
            "featuriser": self.featuriser.to_dict(),
            "metadata": self.metadata,
        }
        if self.mailbox_offsets:
            data["mailbox_thresholds"] = {"offsets": dict(self.mailbox_offsets)}
        return data

    @classmethod
    def from_dict(cls, data: Any) -> LinearModel:
        if not isinstance(data, dict) or data.get("format") != MODEL_FORMAT:
            raise ModelFileError(
                f"not a Sealdog plaintext model (expected format {MODEL_FORMAT!r})"
            )
        version = data.get("version")
        if version not in (MODEL_VERSION, MODEL_VERSION_MAILBOXES):
            raise ModelFileError(
                f"unsupported model version {version!r} (expected {MODEL_VERSION} or "
                f"{MODEL_VERSION_MAILBOXES})"
            )
        if (version == MODEL_VERSION_MAILBOXES) != ("mailbox_thresholds" in data):
            raise ModelFileError(
                f"malformed model file: version {MODEL_VERSION_MAILBOXES} and only it carries "
                "mailbox_thresholds"
            )
        try:
            spec = FeaturiserSpec.from_dict(data["featuriser"])
            weights = np.asarray(data["weights"], dtype=np.float64)
            bias = float(data["bias"])
            metadata = dict(data.get("metadata") or {})
            offsets: Any = {}
            if version == MODEL_VERSION_MAILBOXES:
                offsets = data["mailbox_thresholds"]["offsets"]
                if not isinstance(offsets, dict) or not offsets:
                    raise ValueError("mailbox_thresholds.offsets must be a non-empty object")
        except FeaturiserSpecError:
            raise
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelFileError(f"malformed model file: {exc}") from exc
        return cls(weights, bias, spec, metadata, dict(offsets))

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the model as JSON, atomically (a reader never sees half a file)."""
        atomic_write_text(path, json.dumps(self.to_dict(), separators=(",", ":")) + "\n")

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> LinearModel:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise ModelFileError(
                f"no model file at {path}; create one with `sealdog train`"
            ) from exc
        except (OSError, UnicodeDecodeError) as exc:
            raise ModelFileError(f"cannot read model file {path}: {exc}") from exc
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ModelFileError(f"model file {path} is not valid JSON: {exc}") from exc
        return cls.from_dict(data)
