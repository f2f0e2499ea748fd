"""Training: featurise a labelled corpus, fit a logistic regression, pick C and the threshold.

Pipeline (every step deterministic for a given corpus order):

1. terms of every e-mail (`corpus.corpus_terms`, in parallel);
2. in vocabulary mode, the vocabulary is fitted on the *training* e-mails only;
3. validation split = the last `validation_per_class` ham and spam of the training
   e-mails, the same "most recent held out" shape as the posts' test split, so C and the
   threshold are chosen on data that looks like what comes next;
4. for each C in the grid a model is fitted on the rest and scored on the validation
   split; the C with the lowest validation error at the target false-positive rate wins
   (ties: higher ROC AUC);
5. the final model is fitted on all training e-mails with that C;
6. the threshold is the smallest validation score that keeps the validation
   false-positive rate at or below `target_fpr`, and is folded into the bias.

Learner: `nb-logistic` (default) is logistic regression on features scaled by their
naive-Bayes log-count ratio (Wang & Manning, 2012, "NBSVM"); the final weights are the
product, so the model stays linear in the small integer counts. `logistic` is plain
logistic regression.
"""

from __future__ import annotations

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

LEARNERS = ("nb-logistic", "logistic")

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
    validation_per_class: int = 500
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
        if self.validation_per_class < 0:
            raise TrainingError("validation_per_class must be >= 0")
        self.featuriser.validate()
        return self


@dataclass
class TrainingReport:
    """What happened during `train`: chosen C, threshold, validation figures and timings."""

    n_train: int
    n_features: int
    chosen_c: float
    threshold: float
    validation: dict[str, Any]
    seconds: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {
            "n_train": self.n_train,
            "n_features": self.n_features,
            "chosen_c": self.chosen_c,
            "threshold": self.threshold,
            "validation": self.validation,
            "seconds": self.seconds,
        }


@dataclass
class PreparedCorpus:
    """Training e-mails turned into a matrix under a fixed featuriser (vocabulary fitted)."""

    featuriser: Featuriser
    X: sp.csr_matrix
    y: np.ndarray


def prepare(
    raws: Sequence[bytes],
    labels: Sequence[int],
    spec: FeaturiserSpec,
    *,
    min_df: int = 2,
    max_terms: int | None = None,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
) -> tuple[PreparedCorpus, list[list[str]]]:
    """Featurise training e-mails; in vocabulary mode fit the vocabulary on them first."""
    y = np.asarray(labels, dtype=np.int64)
    if len(raws) != len(y):
        raise TrainingError(f"{len(raws)} e-mails but {len(y)} labels")
    terms = corpus_terms(raws, spec, workers=workers, progress=progress)
    if spec.mode == "vocabulary":
        vocabulary = fit_vocabulary(terms, min_df=min_df, max_terms=max_terms)
        if not vocabulary:
            raise TrainingError(
                f"no term occurs in {min_df} or more e-mails: lower --min-df or add e-mails"
            )
        spec = replace(spec, vocabulary=vocabulary)
    featuriser = Featuriser.from_spec(spec)
    return PreparedCorpus(featuriser, index_corpus(featuriser, terms), y), terms


def holdout_last(y: np.ndarray, per_class: int) -> np.ndarray:
    """Boolean mask of the last `per_class` ham and last `per_class` spam (in corpus order)."""
    mask = np.zeros(len(y), dtype=bool)
    if per_class <= 0:
        return mask
    for label in (0, 1):
        idx = np.flatnonzero(y == label)
        mask[idx[-per_class:]] = True
    return mask


def threshold_for_fpr(ham_scores: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold t with  #(ham score >= t) / #ham <= target_fpr.

    With k = floor(target_fpr * n_ham) ham allowed above, t sits just above the
    (k+1)-th highest ham score, so exactly at most k ham are flagged as spam. The result is
    never below 0.0's neighbour of the data: it is a plain float the bias absorbs.
    """
    scores = np.sort(np.asarray(ham_scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        return 0.0
    allowed = int(np.floor(target_fpr * len(scores) + 1e-9))
    if allowed >= len(scores):
        return float(-np.inf)
    return float(np.nextafter(scores[allowed], np.inf))


def fit_linear(
    X: sp.csr_matrix, y: np.ndarray, *, c: float, learner: str, nb_alpha: float = 1.0
) -> tuple[np.ndarray, float]:
    """Weights and intercept of one fitted model (NB scaling folded into the weights)."""
    from sklearn.linear_model import LogisticRegression

    if len(np.unique(y)) < 2:
        raise TrainingError("training needs both ham and spam e-mails")
    Xf = X.astype(np.float64)
    scale = None
    if learner == "nb-logistic":
        scale = nb_log_count_ratio(Xf, y, alpha=nb_alpha)
        Xf = Xf @ sp.diags(scale)
    clf = LogisticRegression(C=c, solver="liblinear", max_iter=5000)
    clf.fit(Xf, y)
    weights = clf.coef_.ravel().astype(np.float64)
    if scale is not None:
        weights = weights * scale
    return weights, float(clf.intercept_[0])


def nb_log_count_ratio(X: sp.csr_matrix, y: np.ndarray, *, alpha: float = 1.0) -> np.ndarray:
    """r_i = log((alpha + spam count_i) / |.|_1) - log((alpha + ham count_i) / |.|_1)."""
    p = np.asarray(X[y == 1].sum(axis=0)).ravel() + alpha
    q = np.asarray(X[y == 0].sum(axis=0)).ravel() + alpha
    ratio: np.ndarray = np.log(p / p.sum()) - np.log(q / q.sum())
    return ratio


def error_at_fpr(
    scores: np.ndarray, y: np.ndarray, target_fpr: float | None
) -> tuple[float, float]:
    """(threshold, error rate) on a labelled set when the threshold is set for target_fpr."""
    threshold = 0.0 if target_fpr is None else threshold_for_fpr(scores[y == 0], target_fpr)
    predicted = scores >= threshold
    return threshold, float(np.mean(predicted != (y == 1)))


def train_prepared(
    corpus: PreparedCorpus,
    config: TrainingConfig,
    *,
    log: Callable[[str], None] | None = None,
    stage: StageCallback | None = None,
) -> tuple[LinearModel, TrainingReport]:
    """Choose C and the threshold on the validation split, then fit on everything."""
    from sklearn.metrics import roc_auc_score

    config.validate()
    X, y = corpus.X, corpus.y
    if len(y) < 4 or len(np.unique(y)) < 2:
        raise TrainingError("training needs at least two ham and two spam e-mails")
    seconds: dict[str, float] = {}
    per_class = min(config.validation_per_class, int(min(np.sum(y == 0), np.sum(y == 1)) // 5))
    val = holdout_last(y, per_class)
    chosen_c, threshold = config.c_grid[0], 0.0
    validation: dict[str, Any] = {"per_class": per_class, "grid": []}
    t0 = time.perf_counter()
    if per_class >= 2 and len(config.c_grid) + (config.target_fpr is not None) > 1:
        best: tuple[float, float] | None = None
        for k, c in enumerate(config.c_grid, 1):
            if stage:
                stage(f"choosing C: fitting C={c:g} ({k} of {len(config.c_grid)})", None)
            w, b = fit_linear(
                X[~val], y[~val], c=c, learner=config.learner, nb_alpha=config.nb_alpha
            )
            scores = np.asarray(X[val] @ w).ravel() + b
            thr, err = error_at_fpr(scores, y[val], config.target_fpr)
            auc = float(roc_auc_score(y[val], scores))
            validation["grid"].append(
                {"c": c, "error_at_target": err, "auc": auc, "threshold": thr}
            )
            if log:
                log(f"C={c:g}: validation error {err:.4f} at target FPR, AUC {auc:.5f}")
            if best is None or (err, -auc) < best:
                best, chosen_c, threshold = (err, -auc), c, thr
    seconds["model_selection"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    if stage:
        stage(f"final fit with C={chosen_c:g} on {len(y):,} e-mails", None)
    weights, intercept = fit_linear(
        X, y, c=chosen_c, learner=config.learner, nb_alpha=config.nb_alpha
    )
    seconds["final_fit"] = time.perf_counter() - t0
    if not np.isfinite(threshold):
        threshold = 0.0
    metadata = {
        "learner": config.learner,
        "c": chosen_c,
        "intercept": intercept,
        "target_fpr": config.target_fpr,
        "n_train": len(y),
        "n_train_spam": int(np.sum(y == 1)),
    }
    model = LinearModel(weights, intercept, corpus.featuriser.spec, metadata).with_threshold(
        threshold
    )
    report = TrainingReport(
        n_train=len(y),
        n_features=corpus.featuriser.n_features,
        chosen_c=chosen_c,
        threshold=threshold,
        validation=validation,
        seconds=seconds,
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
) -> tuple[LinearModel, TrainingReport]:
    """Raw e-mails and labels (1 = spam) to a thresholded `LinearModel` and a report.

    `progress` counts the e-mails parsed; `stage` (if given) hears of every stage.
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
    )
    featurise_seconds = time.perf_counter() - t0
    model, report = train_prepared(corpus, config, log=log, stage=stage)
    report.seconds["featurise"] = featurise_seconds
    return model, report
