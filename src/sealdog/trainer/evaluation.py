"""Evaluation on Enron-Spam: three splits, plaintext metrics, and encrypted-path agreement.

Splits (over the corpus in its deterministic order, see `sealdog.data.enron`):

- ``posts``      all six folders; the last 1,000 ham and last 1,000 spam are the test set;
- ``e1_e2``      train enron1, test enron2 (python-paillier's example);
- ``e123_e456``  train enron1-3, test enron4-6 (other mailbox owners).

For each split the model is trained exactly as `sealdog train` does (C and threshold from
out-of-fold scores of a k-fold over the training part, `sealdog.trainer.selection`), then
every test e-mail is judged by the model for its mailbox (`LinearModel.for_mailbox`: posts'
test mail is enron6's, a mailbox the model trained on, so enron6's own threshold; e1_e2's
and e123_e456's test mailboxes are unseen, so the default, pooled threshold), in the clear
and, if a key is available, through that same model sealed: seal (once per mailbox model),
score through `LinearScorer` (verdict mode: blinded, packed, re-randomised), decrypt,
compare.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from sealdog.data.enron import LabelledEmail
from sealdog.mail.featuriser import Featuriser, fit_vocabulary
from sealdog.trainer.corpus import ProgressCallback, corpus_terms, index_corpus
from sealdog.trainer.model import LinearModel
from sealdog.trainer.splits import content_key, duplicate_groups
from sealdog.trainer.training import PreparedCorpus, TrainingConfig, train_prepared

SPLIT_NAMES = ("posts", "e1_e2", "e123_e456")
POSTS_HOLDOUT = 1000


@dataclass(frozen=True)
class Split:
    """Boolean masks over the ordered corpus."""

    name: str
    train: np.ndarray
    test: np.ndarray


def make_split(
    name: str, folders: np.ndarray, labels: np.ndarray, holdout: int = POSTS_HOLDOUT
) -> Split:
    """One of the three named splits; raises KeyError for an unknown name."""
    if name == "posts":
        test = np.zeros(len(labels), dtype=bool)
        for label in (0, 1):
            idx = np.flatnonzero(labels == label)
            test[idx[-holdout:]] = True
        return Split(name, ~test, test)
    if name == "e1_e2":
        return Split(name, folders == "enron1", folders == "enron2")
    if name == "e123_e456":
        train = np.isin(folders, ["enron1", "enron2", "enron3"])
        return Split(name, train, np.isin(folders, ["enron4", "enron5", "enron6"]))
    raise KeyError(f"unknown split {name!r}; choose from {', '.join(SPLIT_NAMES)}")


def classification_metrics(y: np.ndarray, scores: np.ndarray) -> dict[str, float]:
    """Accuracy, precision, recall, FPR, FNR (rates as fractions) at score >= 0, and ROC AUC."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(y).astype(bool)
    predicted = np.asarray(scores) >= 0
    tp = int(np.sum(predicted & y))
    fp = int(np.sum(predicted & ~y))
    tn = int(np.sum(~predicted & ~y))
    fn = int(np.sum(~predicted & y))
    n_pos, n_neg = tp + fn, tn + fp
    auc = float(roc_auc_score(y, scores)) if n_pos and n_neg else float("nan")
    return {
        "accuracy": (tp + tn) / max(1, len(y)),
        "precision": tp / (tp + fp) if tp + fp else 0.0,
        "recall": tp / n_pos if n_pos else 0.0,
        "fpr": fp / n_neg if n_neg else 0.0,
        "fnr": fn / n_pos if n_pos else 0.0,
        "auc": auc,
        "tp": tp,
        "fp": fp,
        "tn": tn,
        "fn": fn,
    }


def plaintext_throughput(model: LinearModel, raws: Sequence[bytes], limit: int = 2000) -> float:
    """E-mails/s of the full plaintext path (parse, featurise, dot product) on one thread."""
    featuriser = model.make_featuriser()
    sample = list(raws[:limit])
    if not sample:
        return 0.0
    t0 = time.perf_counter()
    for raw in sample:
        model.score(featuriser.featurise_email(raw))
    return len(sample) / max(time.perf_counter() - t0, 1e-9)


@dataclass
class EncryptedCheck:
    """Outcome of scoring the test set through the sealed model."""

    agreement: float
    agreement_fixed_point: float
    n_scored: int
    key_bits: int
    emails_per_second: float
    seconds_seal: float


def encrypted_agreement(
    model: LinearModel,
    features: Sequence[tuple[np.ndarray, np.ndarray]],
    *,
    key_bits: int,
    insecure: bool,
    scale_bits: int | None = None,
    batch: int = 256,
    keypair: Any = None,
) -> EncryptedCheck:
    """Seal `model`, score `features` encrypted, decrypt, compare with plaintext verdicts.

    `agreement` compares with the float model's verdicts; `agreement_fixed_point` with
    the exact integer score the sealed weights define (the encrypted path must match it
    exactly; the two differ only if a score lies within the rounding error of 0).
    """
    from sealdog.crypto.paillier import (
        DEFAULT_SCALE_BITS,
        FixedPoint,
        LinearScorer,
        decrypt_verdicts,
        generate_keypair,
    )
    from sealdog.sealed_model import seal_model

    scale_bits = DEFAULT_SCALE_BITS if scale_bits is None else scale_bits

    pk, sk = keypair if keypair is not None else generate_keypair(key_bits, insecure=insecure)
    t0 = time.perf_counter()
    sealed = seal_model(
        pk,
        model.weights,
        model.bias,
        featuriser=model.featuriser.to_dict(),
        scale_bits=scale_bits,
        max_count=model.featuriser.max_count,
    )
    seconds_seal = time.perf_counter() - t0
    scorer = LinearScorer(sealed.linear())
    t0 = time.perf_counter()
    encrypted: list[bool] = []
    for start in range(0, len(features), batch):
        chunk = features[start : start + batch]
        encrypted.extend(decrypt_verdicts(sk, scorer.score_batch(list(chunk))))
    seconds = time.perf_counter() - t0
    fp = FixedPoint(scale_bits)
    w_int = [int(v) for v in fp.encode(model.weights)]
    b_int = int(fp.encode(float(model.bias)))
    plain = [model.bias + float(np.dot(model.weights[i], c)) >= 0 for i, c in features]
    exact = [
        b_int + sum(w_int[j] * int(x) for j, x in zip(i.tolist(), c.tolist())) >= 0
        for i, c in features
    ]
    n = max(1, len(features))
    return EncryptedCheck(
        agreement=sum(a == b for a, b in zip(encrypted, plain)) / n,
        agreement_fixed_point=sum(a == b for a, b in zip(encrypted, exact)) / n,
        n_scored=len(features),
        key_bits=pk.bits,
        emails_per_second=len(features) / max(seconds, 1e-9),
        seconds_seal=seconds_seal,
    )


def mailbox_scores(model: LinearModel, X: Any, mailboxes: Sequence[str] | None) -> np.ndarray:
    """Each row's score under the model that judges its mailbox (`LinearModel.for_mailbox`:
    a mailbox the model was trained on gets its own threshold, any other the default)."""
    scores = model.decision_function(X)
    if mailboxes is None or not model.mailbox_offsets:
        return scores
    boxes = np.asarray(mailboxes, dtype=object)
    for name in model.mailbox_offsets:
        here = np.flatnonzero(boxes == name)
        if len(here):
            scores[here] = model.for_mailbox(name).decision_function(X[here])
    return scores


def encrypted_agreement_by_mailbox(
    model: LinearModel,
    features: Sequence[tuple[np.ndarray, np.ndarray]],
    mailboxes: Sequence[str] | None,
    *,
    key_bits: int,
    insecure: bool,
    keypair: Any = None,
) -> EncryptedCheck:
    """`encrypted_agreement` with each e-mail sealed and scored under the model that judges
    its mailbox (`LinearModel.for_mailbox`): one sealing per distinct model, the counts
    pooled (agreement weighted by e-mails, speed over the total scoring time)."""
    groups: dict[str | None, list[int]] = {}
    for i in range(len(features)):
        name = None if mailboxes is None else str(mailboxes[i])
        key = name if name in model.mailbox_offsets else None
        groups.setdefault(key, []).append(i)
    checks = [
        encrypted_agreement(
            model.for_mailbox(name),
            [features[i] for i in rows],
            key_bits=key_bits,
            insecure=insecure,
            keypair=keypair,
        )
        for name, rows in sorted(groups.items(), key=lambda kv: (kv[0] is not None, kv[0] or ""))
    ]
    if len(checks) == 1:
        return checks[0]
    n = sum(c.n_scored for c in checks)
    seconds = sum(c.n_scored / max(c.emails_per_second, 1e-9) for c in checks)
    return EncryptedCheck(
        agreement=sum(c.agreement * c.n_scored for c in checks) / max(1, n),
        agreement_fixed_point=sum(c.agreement_fixed_point * c.n_scored for c in checks) / max(1, n),
        n_scored=n,
        key_bits=checks[0].key_bits,
        emails_per_second=n / max(seconds, 1e-9),
        seconds_seal=sum(c.seconds_seal for c in checks),
    )


@dataclass
class SplitResult:
    name: str
    metrics: dict[str, float]
    n_train: int
    n_test: int
    chosen_c: float
    threshold: float
    train_seconds: float
    emails_per_second: float
    encrypted: EncryptedCheck | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        """The per-split object of the `--json` line, exactly the documented fields (rates as
        fractions)."""
        m = self.metrics
        return {
            "accuracy": m["accuracy"],
            "precision": m["precision"],
            "recall": m["recall"],
            "fpr": m["fpr"],
            "fnr": m["fnr"],
            "auc": None if math.isnan(m["auc"]) else m["auc"],
            "agreement": None if self.encrypted is None else self.encrypted.agreement,
            "n_test": self.n_test,
        }

    def details(self) -> dict[str, Any]:
        """Everything else measured for the split (counts, speeds, chosen C, key size)."""
        m, enc = self.metrics, self.encrypted
        return {
            "n_train": self.n_train,
            "tp": m["tp"],
            "fp": m["fp"],
            "tn": m["tn"],
            "fn": m["fn"],
            "chosen_c": self.chosen_c,
            "threshold": self.threshold,
            "train_seconds": self.train_seconds,
            "emails_per_second": self.emails_per_second,
            "encrypted_emails_per_second": None if enc is None else enc.emails_per_second,
            "agreement_fixed_point": None if enc is None else enc.agreement_fixed_point,
            "agreement_key_bits": None if enc is None else enc.key_bits,
            "seal_seconds": None if enc is None else enc.seconds_seal,
            **self.extra,
        }


def evaluate(
    emails: Sequence[LabelledEmail],
    config: TrainingConfig,
    *,
    splits: Sequence[str] = SPLIT_NAMES,
    key_bits: int | None = 1024,
    insecure_key: bool = True,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
    stage: Callable[[str, int | None], None] | None = None,
) -> list[SplitResult]:
    """Train and test on each split; `key_bits=None` skips the encrypted path.

    `stage` (if given) hears of each split's training and scoring, so a caller's progress
    line names the step that is running."""
    config = config.validate()
    raws = [e.raw for e in emails]
    folders = np.array([e.folder for e in emails])
    labels = np.array([e.label for e in emails], dtype=np.int64)
    terms = corpus_terms(raws, config.featuriser, workers=config.workers, progress=progress)
    keys = [content_key(r) for r in raws]
    groups = duplicate_groups(raws)
    keypair = None
    if key_bits is not None:
        from sealdog.crypto.paillier import generate_keypair

        keypair = generate_keypair(key_bits, insecure=insecure_key)
    results: list[SplitResult] = []
    for name in splits:
        split = make_split(name, folders, labels)
        if not split.train.any() or not split.test.any():
            if log:
                log(f"{name}: skipped (its folders are not all present)")
            continue
        t0 = time.perf_counter()
        spec = config.featuriser
        if stage:
            stage(f"{name}: training on {int(split.train.sum()):,} e-mails", None)
        train_idx, test_idx = np.flatnonzero(split.train), np.flatnonzero(split.test)
        if spec.mode == "vocabulary":
            vocab = fit_vocabulary(
                (terms[i] for i in train_idx), min_df=config.min_df, max_terms=config.max_terms
            )
            spec = replace(spec, vocabulary=vocab)
        featuriser = Featuriser.from_spec(spec)
        X_train = index_corpus(featuriser, [terms[i] for i in train_idx])
        model, report = train_prepared(
            PreparedCorpus(
                featuriser,
                X_train,
                labels[train_idx],
                keys=[keys[i] for i in train_idx],
                groups=[groups[i] for i in train_idx],
                mailboxes=[str(folders[i]) for i in train_idx],
            ),
            config,
        )
        train_seconds = time.perf_counter() - t0
        test_rows = [featuriser.index_terms(terms[i]) for i in test_idx]
        X_test = index_corpus(featuriser, [terms[i] for i in test_idx])
        test_boxes = [str(folders[i]) for i in test_idx]
        scores = mailbox_scores(model, X_test, test_boxes)
        metrics = classification_metrics(labels[test_idx], scores)
        # The same model at the learner's own threshold (the folded threshold undone).
        at_zero = classification_metrics(
            labels[test_idx], model.decision_function(X_test) + report.threshold
        )
        rate = plaintext_throughput(model, [raws[i] for i in test_idx])
        encrypted = None
        if keypair is not None:
            if stage:
                stage(f"{name}: sealing and scoring {len(test_idx):,} e-mails encrypted", None)
            encrypted = encrypted_agreement_by_mailbox(
                model,
                [(r.indices, r.counts) for r in test_rows],
                test_boxes,
                key_bits=keypair[0].bits,
                insecure=insecure_key,
                keypair=keypair,
            )
        result = SplitResult(
            name=name,
            metrics=metrics,
            n_train=len(train_idx),
            n_test=len(test_idx),
            chosen_c=report.chosen_c,
            threshold=report.threshold,
            train_seconds=train_seconds,
            emails_per_second=rate,
            encrypted=encrypted,
            extra={
                "unthresholded": {k: at_zero[k] for k in ("accuracy", "fpr", "fnr")},
                "judged_by_own_threshold": int(sum(b in model.mailbox_offsets for b in test_boxes)),
            },
        )
        if log:
            log(
                f"{name}: accuracy {metrics['accuracy']:.4f}, FPR {metrics['fpr']:.4f}, "
                f"FNR {metrics['fnr']:.4f}, AUC {metrics['auc']:.5f}"
                + ("" if encrypted is None else f", agreement {encrypted.agreement:.4%}")
            )
        results.append(result)
    return results


def eval_json(results: Sequence[SplitResult]) -> dict[str, Any]:
    """The `--json` object, exactly ``{"eval": "enron", "splits": {name: {...}}}``."""
    return {"eval": "enron", "splits": {r.name: r.summary() for r in results}}


def eval_report(results: Sequence[SplitResult], context: dict[str, Any]) -> dict[str, Any]:
    """The JSON file: `eval_json` plus per-split details and the run's context."""
    return {**eval_json(results), "details": {r.name: r.details() for r in results}, **context}
