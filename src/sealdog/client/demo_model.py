"""The demo's detector: `sealdog.trainer.training.train` with the configuration `sealdog train`
uses by default (hashing into 2^16 buckets, words, counts clipped at 2, NB-weighted logistic
regression, threshold for a 0.5% validation false-positive rate folded into the bias), sealed
with `sealdog.trainer.sealing.seal_plaintext_model` (which keeps C, intercept and threshold
away from the server).

The sample corpus (40 e-mails) gets 2^12 buckets, as `sealdog train --samples` does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from sealdog.crypto.paillier import PublicKey
from sealdog.data.enron import LabelledEmail
from sealdog.sealed_model import SealedModel
from sealdog.trainer.corpus import corpus_terms, index_corpus
from sealdog.trainer.model import LinearModel
from sealdog.trainer.sealing import seal_plaintext_model
from sealdog.trainer.training import StageCallback, TrainingConfig, train

SMALL_CORPUS = 1000
SMALL_CORPUS_BUCKETS = 2**12
DEMO_BUCKETS = 2**16
DEMO_MAX_COUNT = 2
DEMO_NGRAM = 1


def train_spam_model(
    emails: Sequence[LabelledEmail],
    *,
    workers: int | None = None,
    progress: Callable[[int], None] | None = None,
    n_buckets: int | None = None,
    stage: StageCallback | None = None,
) -> LinearModel:
    """Train the trainer's default detector on labelled raw e-mails (1 = spam)."""
    if n_buckets is None:
        n_buckets = SMALL_CORPUS_BUCKETS if len(emails) < SMALL_CORPUS else DEMO_BUCKETS
    base = TrainingConfig(workers=workers)
    spec = replace(
        base.featuriser,
        mode="hashing",
        n_buckets=n_buckets,
        max_count=DEMO_MAX_COUNT,
        ngram_max=DEMO_NGRAM,
    )
    config = replace(base, featuriser=spec)
    model, _ = train(
        [e.raw for e in emails],
        [e.label for e in emails],
        config,
        progress=progress,
        stage=stage,
        mailboxes=[e.folder for e in emails],
    )
    return model


def plaintext_verdicts(
    model: LinearModel, raws: Sequence[bytes], *, workers: int | None = None
) -> list[bool]:
    """The plaintext model's verdicts (spam iff score >= 0), featurised as the server does."""
    featuriser = model.make_featuriser()
    matrix = index_corpus(featuriser, corpus_terms(raws, model.featuriser, workers=workers))
    return [bool(v) for v in np.asarray(model.predict(matrix)).reshape(-1)]


def seal_spam_model(
    model: LinearModel, pk: PublicKey, *, metadata: dict[str, Any] | None = None
) -> SealedModel:
    return seal_plaintext_model(model, pk, metadata=metadata)  # `sealdog seal`'s default scale
