"""Training: featurise a labelled corpus, fit a logistic regression, pick C and the threshold.

Pipeline (the model depends on the corpus's contents, never on its order):

1. terms of every e-mail (`corpus.corpus_terms`, in parallel);
2. in vocabulary mode, the vocabulary is fitted on the *training* e-mails only (it is
   sorted, so order-free);
3. the rows are put in a canonical order (by the BLAKE2b key of each message's bytes), so
   the solver sees the same problem whatever order the files were read in;
4. C and the threshold are chosen from out-of-fold scores of a stratified, seeded,
   duplicate-aware k-fold (`sealdog.trainer.selection`, `sealdog.trainer.splits`): the C
   with the lowest out-of-fold error at the target false-positive rate wins, and the
   threshold keeps the out-of-fold ham's false-positive rate at or below the target; with
   two or more mailboxes (`PreparedCorpus.mailboxes`), C is the one that ranks mailboxes
   held out whole best (`splits.mailbox_folds`), so it carries over to another mailbox,
   and the operating point is per mailbox (`selection.row_thresholds`): each mailbox with
   enough ham to resolve the target gets the threshold that holds it on its own
   out-of-fold ham, mail of any other mailbox the pooled threshold;
5. the final model is fitted on all training e-mails with that C and the (pooled)
   threshold is folded into the bias; the per-mailbox thresholds are kept as offsets from
   it (`LinearModel.mailbox_offsets`, applied by `LinearModel.for_mailbox`). The report
   carries the cross-fitted expected FPR/FNR with Wilson 95% intervals, and a warning
   when there is too little ham for the target.

Learner: `nb-logistic` (default) is logistic regression on features scaled by their
naive-Bayes log-count ratio (Wang & Manning, 2012, "NBSVM"); the final weights are the
product, so the model stays linear in the small integer counts. `logistic` is plain
logistic regression. Rows may carry a sample weight (a `--base` corpus mixed in with a
weight); such rows have fold -1: they train every fold's model but are never judged.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import scipy.sparse as sp

from sealdog.errors import SealdogError
from sealdog.mail.featuriser import Featuriser, FeaturiserSpec, fit_vocabulary
from sealdog.trainer.corpus import ProgressCallback, corpus_terms, index_corpus
from sealdog.trainer.model import LinearModel
from sealdog.trainer.selection import (
    error_at_fpr,
    select,
    threshold_for_fpr,
)
from sealdog.trainer.splits import (
    content_key,
    duplicate_aware_folds,
    duplicate_groups,
    mailbox_folds,
)

__all__ = [
    "LEARNERS",
    "PreparedCorpus",
    "TrainingConfig",
    "TrainingError",
    "TrainingReport",
    "error_at_fpr",
    "fit_linear",
    "mailbox_folds_for",
    "prepare",
    "threshold_for_fpr",
    "train",
    "train_prepared",
]

LEARNERS = ("nb-logistic", "logistic")
MIN_HAM_PER_TARGET = 20
"""Warn when the ham count is below this many divided by the target FPR: fewer ham than that
cannot say whether the false-positive rate is at the target (0.5% needs 4,000 ham)."""

StageCallback = Callable[[str, int | None], None]
"""Called as training starts each stage, with what it does and how many units the
`progress` callback will count in it (None: uncounted, e.g. one model fit), so a caller can
show that a long step is alive (`sealdog.progress.Progress.stage`)."""


class TrainingError(SealdogError):
    """Training cannot proceed (too few e-mails, one class only, bad configuration)."""


@dataclass(frozen=True)
class TrainingConfig:
    """Knobs of `train`; the defaults are the ones evaluated in docs/trainer.md."""

    featuriser: FeaturiserSpec = field(default_factory=FeaturiserSpec)
    learner: str = "nb-logistic"
    c_grid: tuple[float, ...] = (0.1, 0.3, 1.0)
    target_fpr: float | None = 0.005
    folds: int = 5
    seed: int = 0
    min_df: int = 2
    max_terms: int | None = None
    nb_alpha: float = 1.0
    workers: int | None = None

    def validate(self) -> TrainingConfig:
        if self.learner not in LEARNERS:
            raise TrainingError(
                f"learner must be one of {', '.join(LEARNERS)}, got {self.learner!r}"
            )
        if not self.c_grid or any(c <= 0 for c in self.c_grid):
            raise TrainingError("the C grid needs at least one positive value")
        if self.target_fpr is not None and not 0.0 <= self.target_fpr < 1.0:
            raise TrainingError(f"target FPR must be in [0, 1), got {self.target_fpr}")
        if self.folds < 2:
            raise TrainingError(f"model selection needs at least 2 folds, got {self.folds}")
        self.featuriser.validate()
        return self


@dataclass
class TrainingReport:
    """What happened during `train`: chosen C, threshold, out-of-fold figures and timings."""

    n_train: int
    n_features: int
    chosen_c: float
    threshold: float
    validation: dict[str, Any]
    seconds: dict[str, float]
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_features": self.n_features,
            "chosen_c": self.chosen_c,
            "threshold": self.threshold,
            "validation": self.validation,
            "seconds": self.seconds,
            "warnings": self.warnings,
        }


@dataclass
class PreparedCorpus:
    """Training e-mails turned into a matrix under a fixed featuriser (vocabulary fitted).

    `keys` (content keys, `splits.content_key`) and `groups` (duplicate-group ids) make the
    folds and the canonical row order; without them each row is its own group and its key
    is its position (then the model does depend on the order). `sample_weight` and
    `train_only` (rows never judged, e.g. a `--base` corpus) are optional.
    """

    featuriser: Featuriser
    X: sp.csr_matrix
    y: np.ndarray
    keys: Sequence[str] | None = None
    groups: Sequence[int] | None = None
    sample_weight: np.ndarray | None = None
    train_only: np.ndarray | None = None
    mailboxes: Sequence[str] | None = None
    """The mailbox of each row (`splits.mailbox_folds`); None: one mailbox."""


def prepare(
    raws: Sequence[bytes],
    labels: Sequence[int],
    spec: FeaturiserSpec,
    *,
    min_df: int = 2,
    max_terms: int | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    mailboxes: Sequence[str] | None = None,
) -> tuple[PreparedCorpus, list[list[str]]]:
    """Featurise training e-mails; in vocabulary mode fit the vocabulary on them first.
    `mailboxes` (e.g. each Enron-Spam e-mail's enronN) lets selection hold mailboxes out."""
    y = np.asarray(labels, dtype=np.int64)
    if len(raws) != len(y):
        raise TrainingError(f"{len(raws)} e-mails but {len(y)} labels")
    terms = corpus_terms(raws, spec, workers=workers, progress=progress)
    featuriser = fitted_featuriser(spec, terms, min_df=min_df, max_terms=max_terms)
    corpus = PreparedCorpus(
        featuriser,
        index_corpus(featuriser, terms),
        y,
        keys=[content_key(r) for r in raws],
        groups=duplicate_groups(raws),
        mailboxes=None if mailboxes is None else list(mailboxes),
    )
    return corpus, terms


def fitted_featuriser(
    spec: FeaturiserSpec,
    terms: Sequence[Sequence[str]],
    *,
    min_df: int = 2,
    max_terms: int | None = None,
) -> Featuriser:
    """The featuriser of `spec`; in vocabulary mode with the vocabulary fitted on `terms`."""
    if spec.mode == "vocabulary":
        vocabulary = fit_vocabulary(terms, min_df=min_df, max_terms=max_terms)
        if not vocabulary:
            raise TrainingError(
                f"no term occurs in {min_df} or more e-mails: lower --min-df or add e-mails"
            )
        spec = replace(spec, vocabulary=vocabulary)
    return Featuriser.from_spec(spec)


def fit_linear(
    X: sp.csr_matrix,
    y: np.ndarray,
    *,
    c: float,
    learner: str,
    nb_alpha: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> tuple[np.ndarray, float]:
    """Weights and intercept of one fitted model (NB scaling folded into the weights)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        raise TrainingError("training needs both ham and spam e-mails")
    Xf = X.astype(np.float64)
    scale = None
    if learner == "nb-logistic":
        scale = nb_log_count_ratio(Xf, y, alpha=nb_alpha, sample_weight=sample_weight)
        Xf = Xf @ sp.diags(scale)
    clf = LogisticRegression(C=c, solver="liblinear", max_iter=5000)
    clf.fit(Xf, y, sample_weight=sample_weight)
    weights = clf.coef_.ravel().astype(np.float64)
    if scale is not None:
        weights = weights * scale
    return weights, float(clf.intercept_[0])


def nb_log_count_ratio(
    X: sp.csr_matrix,
    y: np.ndarray,
    *,
    alpha: float = 1.0,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """r_i = log((alpha + spam count_i) / |.|_1) - log((alpha + ham count_i) / |.|_1)
    (counts weighted by `sample_weight` if given)."""
    if sample_weight is not None:
        X = sp.diags(np.asarray(sample_weight, dtype=np.float64)) @ X
    p = np.asarray(X[y == 1].sum(axis=0)).ravel() + alpha
    q = np.asarray(X[y == 0].sum(axis=0)).ravel() + alpha
    ratio: np.ndarray = np.log(p / p.sum()) - np.log(q / q.sum())
    return ratio


@dataclass(frozen=True)
class LinearFit:
    """`fit_linear` with the learner's settings bound: a picklable fit for fold workers."""

    learner: str
    nb_alpha: float = 1.0

    def __call__(
        self, X: sp.csr_matrix, y: np.ndarray, sample_weight: np.ndarray | None, c: float
    ) -> tuple[np.ndarray, float]:
        return fit_linear(
            X, y, c=c, learner=self.learner, nb_alpha=self.nb_alpha, sample_weight=sample_weight
        )


def _fit_workers(workers: int | None) -> int:
    from sealdog.trainer.corpus import default_workers

    return default_workers() if workers is None else max(1, workers)


def canonical_order(keys: Sequence[str]) -> np.ndarray:
    """Row permutation sorting by content key (ties, i.e. byte-identical copies, by position:
    identical rows, so their order cannot matter)."""
    return np.asarray(sorted(range(len(keys)), key=lambda i: keys[i]), dtype=np.int64)


def folds_for(
    y: np.ndarray,
    keys: Sequence[str] | None,
    groups: Sequence[int] | None,
    k: int,
    seed: int,
    train_only: np.ndarray | None = None,
) -> np.ndarray:
    """Fold of every row (-1 for `train_only` rows): duplicate-aware, stratified, seeded.

    Without keys a row's key is its position, without groups each row is its own group.
    k is lowered to the smaller class's judged count (at least 2) for tiny corpora.
    """
    n = len(y)
    judged = np.ones(n, dtype=bool) if train_only is None else ~train_only
    keys = list(keys) if keys is not None else [f"{i:012d}" for i in range(n)]
    groups = list(groups) if groups is not None else list(range(n))
    idx = np.flatnonzero(judged)
    smaller = int(min(np.sum(y[idx] == 0), np.sum(y[idx] == 1)))
    k = max(2, min(k, smaller))
    folds = np.full(n, -1, dtype=np.int64)
    folds[idx] = duplicate_aware_folds(
        [int(y[i]) for i in idx], [groups[i] for i in idx], [keys[i] for i in idx], k=k, seed=seed
    )
    return folds


def mailbox_folds_for(
    y: np.ndarray,
    keys: Sequence[str] | None,
    groups: Sequence[int] | None,
    mailboxes: Sequence[str],
    k: int,
    seed: int,
    train_only: np.ndarray | None = None,
) -> np.ndarray | None:
    """Folds holding out whole mailboxes (`splits.mailbox_folds`; -1 for `train_only`
    rows), or None when the judged rows come from fewer than two mailboxes with ham and
    spam, or a fold's training side would lack a class."""
    n = len(y)
    judged = np.ones(n, dtype=bool) if train_only is None else ~train_only
    keys = list(keys) if keys is not None else [f"{i:012d}" for i in range(n)]
    groups = list(groups) if groups is not None else list(range(n))
    idx = [int(i) for i in np.flatnonzero(judged)]
    by_mailbox = mailbox_folds(
        [int(y[i]) for i in idx],
        [mailboxes[i] for i in idx],
        [groups[i] for i in idx],
        [keys[i] for i in idx],
        k=k,
        seed=seed,
    )
    if by_mailbox is None:
        return None
    yj = y[idx]
    if any(len(np.unique(yj[by_mailbox != f])) < 2 for f in np.unique(by_mailbox)):
        return None
    folds = np.full(n, -1, dtype=np.int64)
    folds[idx] = by_mailbox
    return folds


def train_prepared(
    corpus: PreparedCorpus,
    config: TrainingConfig,
    *,
    log: Callable[[str], None] | None = None,
    stage: StageCallback | None = None,
) -> tuple[LinearModel, TrainingReport]:
    """Choose C and the threshold from out-of-fold scores, then fit on everything."""
    config.validate()
    order = canonical_order(corpus.keys) if corpus.keys is not None else np.arange(len(corpus.y))
    X, y = corpus.X[order], corpus.y[order]
    weight = None if corpus.sample_weight is None else corpus.sample_weight[order]
    ordered = PreparedCorpus(
        corpus.featuriser,
        X,
        y,
        keys=None if corpus.keys is None else [corpus.keys[int(i)] for i in order],
        groups=None if corpus.groups is None else [corpus.groups[int(i)] for i in order],
        sample_weight=weight,
        train_only=None if corpus.train_only is None else corpus.train_only[order],
        mailboxes=None if corpus.mailboxes is None else [corpus.mailboxes[int(i)] for i in order],
    )
    judged = np.ones(len(y), dtype=bool) if ordered.train_only is None else ~ordered.train_only
    n_ham, n_spam = int(np.sum(y[judged] == 0)), int(np.sum(y[judged] == 1))
    if n_ham < 2 or n_spam < 2:
        raise TrainingError("training needs at least two ham and two spam e-mails")
    seconds: dict[str, float] = {}
    warnings: list[str] = []
    target = config.target_fpr
    if target and n_ham * target < 1:
        warnings.append(
            f"only {n_ham:,} ham e-mails: a false-positive rate of {target:.2%} cannot be "
            f"resolved with fewer than {math.ceil(1 / target):,}; the learner's own threshold "
            "(0) is used instead"
        )
        target = None
    elif config.target_fpr and n_ham < MIN_HAM_PER_TARGET / config.target_fpr:
        warnings.append(
            f"only {n_ham:,} ham e-mails: a false-positive rate of {config.target_fpr:.2%} "
            f"needs about {MIN_HAM_PER_TARGET / config.target_fpr:,.0f} to be measured; "
            "the threshold and its expected FPR are uncertain (see the interval)"
        )

    fit = LinearFit(config.learner, config.nb_alpha)
    t0 = time.perf_counter()
    folds = folds_for(
        y, ordered.keys, ordered.groups, config.folds, config.seed, ordered.train_only
    )
    by_mailbox = (
        None
        if ordered.mailboxes is None
        else mailbox_folds_for(
            y,
            ordered.keys,
            ordered.groups,
            ordered.mailboxes,
            config.folds,
            config.seed,
            ordered.train_only,
        )
    )
    k = int(folds.max()) + 1

    def on_c(c: float, i: int) -> None:
        if stage:
            stage(f"choosing C: fitting C={c:g} ({i} of {len(config.c_grid)})", None)

    selection = select(
        X,
        y,
        folds,
        config.c_grid,
        target,
        fit,
        sample_weight=weight,
        on_c=on_c,
        log=log,
        workers=_fit_workers(config.workers),
        mailbox_folds=by_mailbox,
        ham_mailboxes=None if ordered.mailboxes is None else np.asarray(ordered.mailboxes),
    )
    seconds["model_selection"] = time.perf_counter() - t0
    validation: dict[str, Any] = {
        "method": "out-of-fold",
        "folds": k,
        "seed": config.seed,
        "n_judged": int(judged.sum()),
        "grid": selection.grid,
        "expected": selection.expected.to_dict(),
    }
    offsets: dict[str, float] = {}
    if selection.mailbox_thresholds is not None:
        pooled = selection.mailbox_thresholds.pop("")
        validation["threshold_rule"] = "per mailbox"
        validation["pooled_threshold"] = pooled
        validation["mailbox_thresholds"] = selection.mailbox_thresholds
        offsets = {
            name: t - selection.threshold
            for name, t in selection.mailbox_thresholds.items()
            if math.isfinite(t)
        }
    if selection.held_out_mailbox is not None and by_mailbox is not None:
        validation["mailboxes"] = int(by_mailbox.max()) + 1
        validation["held_out_mailbox"] = selection.held_out_mailbox.to_dict()
    t0 = time.perf_counter()
    if stage:
        stage(f"final fit with C={selection.c:g} on {len(y):,} e-mails", None)
    weights, intercept = fit_linear(
        X, y, c=selection.c, learner=config.learner, nb_alpha=config.nb_alpha, sample_weight=weight
    )
    seconds["final_fit"] = time.perf_counter() - t0
    metadata = {
        "learner": config.learner,
        "c": selection.c,
        "intercept": intercept,
        "target_fpr": target,
        "n_train": len(y),
        "n_train_spam": int(np.sum(y == 1)),
        "selection": f"{k}-fold out-of-fold scores, seed {config.seed}",
    }
    model = LinearModel(
        weights, intercept, corpus.featuriser.spec, metadata, offsets
    ).with_threshold(selection.threshold)
    report = TrainingReport(
        n_train=len(y),
        n_features=corpus.featuriser.n_features,
        chosen_c=selection.c,
        threshold=selection.threshold,
        validation=validation,
        seconds=seconds,
        warnings=warnings,
    )
    return model, report


def train(
    raws: Sequence[bytes],
    labels: Sequence[int],
    config: TrainingConfig | None = None,
    *,
    progress: ProgressCallback | None = None,
    log: Callable[[str], None] | None = None,
    stage: StageCallback | None = None,
    mailboxes: Sequence[str] | None = None,
) -> tuple[LinearModel, TrainingReport]:
    """Raw e-mails and labels (1 = spam) to a thresholded `LinearModel` and a report.

    `progress` counts the e-mails parsed; `stage` (if given) hears of every stage;
    `mailboxes` names each e-mail's mailbox (`splits.mailbox_folds`).
    """
    config = (config or TrainingConfig()).validate()
    t0 = time.perf_counter()
    if stage:
        stage("parsing e-mails", len(raws))
    corpus, _ = prepare(
        raws,
        labels,
        config.featuriser,
        min_df=config.min_df,
        max_terms=config.max_terms,
        workers=config.workers,
        progress=progress,
        mailboxes=mailboxes,
    )
    featurise_seconds = time.perf_counter() - t0
    model, report = train_prepared(corpus, config, log=log, stage=stage)
    report.seconds["featurise"] = featurise_seconds
    return model, report
