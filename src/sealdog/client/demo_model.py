"""The demo's detector: `sealdog.trainer.training.train` (the same pipeline as `sealdog train`),
sealed with `sealdog.sealed_model.seal_model`.

The sample corpus (40 e-mails) gets a small hashing space (2^12 buckets) so that sealing it
takes a second; Enron-Spam gets the trainer's default featuriser.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sealdog.crypto.paillier import PublicKey
from sealdog.data.enron import LabelledEmail
from sealdog.sealed_model import SealedModel, seal_model
from sealdog.trainer.corpus import corpus_terms, index_corpus
from sealdog.trainer.model import LinearModel
from sealdog.trainer.training import TrainingConfig, train

SCALE_BITS = 24
SMALL_CORPUS = 1000
SMALL_CORPUS_BUCKETS = 2**12


def train_spam_model(
    emails: Sequence[LabelledEmail],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    n_buckets: int | None = None,
) -> LinearModel:
    """Train the trainer's default detector on labelled raw e-mails (1 = spam)."""
    config = TrainingConfig(workers=workers)
    if n_buckets is None and len(emails) < SMALL_CORPUS:
        n_buckets = SMALL_CORPUS_BUCKETS
    if n_buckets is not None:
        config = replace(config, featuriser=replace(config.featuriser, n_buckets=n_buckets))
    model, _ = train([e.raw for e in emails], [e.label for e in emails], config, progress=progress)
    return model


def plaintext_verdicts(model: LinearModel, raws: Sequence[bytes], *, workers: int | None = None) -> list[bool]:
    """The plaintext model's verdicts (spam iff score >= 0), featurised exactly as the server does."""
    featuriser = model.make_featuriser()
    matrix = index_corpus(featuriser, corpus_terms(raws, model.featuriser, workers=workers))
    return [bool(v) for v in np.asarray(model.predict(matrix)).reshape(-1)]


def seal_spam_model(model: LinearModel, pk: PublicKey, *, metadata: dict[str, Any] | None = None) -> SealedModel:
    return seal_model(pk, model.weights, model.bias, featuriser=model.featuriser.to_dict(), scale_bits=SCALE_BITS,
                      max_count=model.featuriser.max_count, metadata={**model.metadata, **(metadata or {})})
