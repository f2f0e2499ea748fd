"""Evaluation on a user's own labelled mail: k-fold CV of the whole training procedure, and
an existing model on labelled mail.

`cross_validate` splits the mail into k stratified, seeded, duplicate-aware folds
(`splits.duplicate_aware_folds`, the same as training's inner folds, with another seed).
For each fold the *whole* training procedure runs on the other folds (vocabulary fitting,
the inner k-fold choice of C and threshold, the final fit), and the fold is scored by that
model at its folded threshold (each e-mail by the model for its mailbox,
`LinearModel.for_mailbox`, when the mail comes from several); the figures pool all folds'
scores. A mixed-in `--base`
corpus only ever trains. The baseline is scikit-learn's ``CountVectorizer(binary=True)``
+ ``LogisticRegression()`` (defaults) at threshold 0 on the subject + body text
(`email_parts(raw).as_text()`), on the same folds, in the same run. With a key size, every
fold's model is also sealed and the fold is scored through it
(`encrypted_agreement_by_mailbox`).

`evaluate_model` scores a model file's verdicts on labelled mail: pooled metrics, per PATH,
and the same encrypted-path check.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from sealdog.trainer.corpus import index_corpus
from sealdog.trainer.evaluation import (
    EncryptedCheck,
    classification_metrics,
    encrypted_agreement,
    encrypted_agreement_by_mailbox,
    mailbox_scores,
)
from sealdog.trainer.mailset import LabelledMail
from sealdog.trainer.model import LinearModel
from sealdog.trainer.training import (
    PreparedCorpus,
    TrainingConfig,
    TrainingError,
    fitted_featuriser,
    folds_for,
    train_prepared,
)

OUTER_SEED_OFFSET = 1_000_003
"""The outer folds use seed + this, so they are not the inner folds of training."""

Log = Callable[[str], None]
Stage = Callable[[str, int | None], None]


@dataclass
class BaseCorpus:
    """A corpus mixed into training with a weight (`--base`): terms, labels, keys, groups."""

    terms: list[list[str]]
    labels: list[int]
    keys: list[str]
    groups: list[int]
    weight: float
    name: str


@dataclass
class CvResult:
    """Pooled out-of-fold figures of the training procedure and of the baseline."""

    n: int
    folds: int
    metrics: dict[str, float]
    baseline: dict[str, float] | None
    agreement: float | None
    agreement_fixed_point: float | None
    fold_details: list[dict[str, Any]] = field(default_factory=list)
    seconds: float = 0.0

    def to_json(self) -> dict[str, Any]:
        """The `sealdog eval --json` line for a CV run (the issue's exact fields)."""
        m = self.metrics
        out: dict[str, Any] = {
            "eval": "cv",
            "n": self.n,
            "folds": self.folds,
            "accuracy": m["accuracy"],
            "precision": m["precision"],
            "recall": m["recall"],
            "fpr": m["fpr"],
            "fnr": m["fnr"],
            "auc": m["auc"],
        }
        if self.baseline is not None:
            out["baseline"] = {k: self.baseline[k] for k in ("accuracy", "fpr", "fnr", "auc")}
        out["agreement"] = self.agreement
        return out


def training_corpus(
    featuriser_terms: Sequence[Sequence[str]],
    rows: np.ndarray,
    mail: LabelledMail,
    config: TrainingConfig,
    base: BaseCorpus | None = None,
) -> PreparedCorpus:
    """The PreparedCorpus of `mail`'s `rows` (plus `base`, train-only and weighted)."""
    terms = [featuriser_terms[i] for i in rows]
    labels = [mail.labels[i] for i in rows]
    keys = [mail.keys[i] for i in rows]
    groups = [mail.groups[i] for i in rows]
    mailboxes = [mail.mailboxes[i] for i in rows] if mail.mailboxes else None
    n_user = len(rows)
    weight = None
    train_only = None
    if base is not None:
        offset = max(groups, default=-1) + 1
        if mailboxes is not None:
            mailboxes += ["base:"] * len(base.labels)
        terms += base.terms
        labels += base.labels
        keys += ["base:" + k for k in base.keys]
        groups += [offset + g for g in base.groups]
        weight = np.concatenate([np.ones(n_user), np.full(len(base.labels), base.weight)])
        train_only = np.concatenate([np.zeros(n_user, bool), np.ones(len(base.labels), bool)])
    featuriser = fitted_featuriser(
        config.featuriser, terms, min_df=config.min_df, max_terms=config.max_terms
    )
    return PreparedCorpus(
        featuriser,
        index_corpus(featuriser, terms),
        np.asarray(labels, dtype=np.int64),
        keys=keys,
        groups=groups,
        sample_weight=weight,
        train_only=train_only,
        mailboxes=mailboxes,
    )


def baseline_scores(texts: Sequence[str], y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """scikit-learn's CountVectorizer(binary=True) + LogisticRegression() out-of-fold
    decision values (spam iff >= 0) on the same folds."""
    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    scores = np.zeros(len(y))
    for fold in range(int(folds.max()) + 1):
        test = folds == fold
        vectoriser = CountVectorizer(binary=True)
        X_train = vectoriser.fit_transform([texts[int(i)] for i in np.flatnonzero(~test)])
        clf = LogisticRegression()
        clf.fit(X_train, y[~test])
        X_test = vectoriser.transform([texts[int(i)] for i in np.flatnonzero(test)])
        scores[test] = clf.decision_function(X_test)
    return scores


def cross_validate(
    mail: LabelledMail,
    config: TrainingConfig,
    *,
    folds: int = 5,
    base: BaseCorpus | None = None,
    baseline: bool = True,
    key_bits: int | None = 1024,
    insecure_key: bool = True,
    log: Log | None = None,
    stage: Stage | None = None,
) -> CvResult:
    """k-fold CV of `train_prepared` on `mail` (see module doc)."""
    t0 = time.perf_counter()
    y = mail.y
    n = len(y)
    if n < 4 or len(np.unique(y)) < 2:
        raise TrainingError("cross-validation needs ham and spam e-mails (at least two of each)")
    outer = folds_for(y, mail.keys, mail.groups, folds, config.seed + OUTER_SEED_OFFSET)
    k = int(outer.max()) + 1
    keypair = None
    if key_bits is not None:
        from sealdog.crypto.paillier import generate_keypair

        keypair = generate_keypair(key_bits, insecure=insecure_key)
    scores = np.zeros(n)
    agree: list[EncryptedCheck] = []
    details: list[dict[str, Any]] = []
    for fold in range(k):
        test = np.flatnonzero(outer == fold)
        train_rows = np.flatnonzero(outer != fold)
        if stage:
            stage(f"fold {fold + 1} of {k}: training on {len(train_rows):,} e-mails", None)
        corpus = training_corpus(mail.terms, train_rows, mail, config, base)
        model, report = train_prepared(corpus, config)
        featuriser = corpus.featuriser
        rows = [featuriser.index_terms(mail.terms[i]) for i in test]
        X_test = index_corpus(featuriser, [mail.terms[i] for i in test])
        test_boxes = [mail.mailboxes[i] for i in test] if mail.mailboxes else None
        scores[test] = mailbox_scores(model, X_test, test_boxes)
        detail: dict[str, Any] = {
            "fold": fold,
            "n_test": len(test),
            "chosen_c": report.chosen_c,
            "threshold": report.threshold,
            "expected": report.validation["expected"],
        }
        if keypair is not None:
            if stage:
                stage(f"fold {fold + 1} of {k}: sealing and scoring encrypted", None)
            check = encrypted_agreement_by_mailbox(
                model,
                [(r.indices, r.counts) for r in rows],
                test_boxes,
                key_bits=keypair[0].bits,
                insecure=insecure_key,
                keypair=keypair,
            )
            agree.append(check)
            detail["agreement"] = check.agreement
        details.append(detail)
        if log:
            m = classification_metrics(y[test], scores[test])
            log(
                f"fold {fold + 1}/{k}: accuracy {m['accuracy']:.4f}, FPR {m['fpr']:.4f}, "
                f"FNR {m['fnr']:.4f} (C={report.chosen_c:g})"
                + ("" if not agree or keypair is None else f", agreement {agree[-1].agreement:.2%}")
            )
    metrics = classification_metrics(y, scores)
    base_metrics = None
    if baseline and mail.texts is not None:
        if stage:
            stage("baseline: CountVectorizer(binary=True) + LogisticRegression()", None)
        base_metrics = classification_metrics(y, baseline_scores(mail.texts, y, outer))
    n_scored = sum(c.n_scored for c in agree)
    return CvResult(
        n=n,
        folds=k,
        metrics=metrics,
        baseline=base_metrics,
        agreement=(sum(c.agreement * c.n_scored for c in agree) / n_scored) if agree else None,
        agreement_fixed_point=(
            sum(c.agreement_fixed_point * c.n_scored for c in agree) / n_scored if agree else None
        ),
        fold_details=details,
        seconds=time.perf_counter() - t0,
    )


@dataclass
class ModelEvaluation:
    """An existing model's verdicts on labelled mail."""

    metrics: dict[str, float]
    per_path: dict[str, dict[str, Any]]
    agreement: float | None

    def to_json(self) -> dict[str, Any]:
        m = self.metrics
        return {
            "eval": "model",
            "n": m["tp"] + m["fp"] + m["tn"] + m["fn"],
            "accuracy": m["accuracy"],
            "fpr": m["fpr"],
            "fnr": m["fnr"],
            "auc": m["auc"],
            "per_path": self.per_path,
            "agreement": self.agreement,
        }


def evaluate_model(
    model: LinearModel,
    mail: LabelledMail,
    *,
    key_bits: int | None = 1024,
    insecure_key: bool = True,
) -> ModelEvaluation:
    """`model`'s verdicts (score >= 0) on `mail`, pooled and per PATH, plus the encrypted
    path's agreement. `mail` must have been read with the model's featuriser spec."""
    featuriser = model.make_featuriser()
    rows = [featuriser.index_terms(t) for t in mail.terms]
    X = index_corpus(featuriser, mail.terms)
    scores = model.decision_function(X)
    y = mail.y
    metrics = classification_metrics(y, scores)
    per_path: dict[str, dict[str, Any]] = {}
    sources = np.asarray(mail.sources)
    for source in dict.fromkeys(mail.sources):
        here = sources == source
        correct = (scores[here] >= 0) == (y[here] == 1)
        per_path[source] = {"n": int(here.sum()), "accuracy": float(correct.mean())}
    agreement = None
    if key_bits is not None:
        check = encrypted_agreement(
            model, [(r.indices, r.counts) for r in rows], key_bits=key_bits, insecure=insecure_key
        )
        agreement = check.agreement
    return ModelEvaluation(metrics, per_path, agreement)
