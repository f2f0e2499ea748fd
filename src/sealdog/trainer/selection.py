"""Model selection on out-of-fold scores: C, the threshold, and what to expect from them.

The trainer used to pick C and the threshold on "the last 500 ham and 500 spam" of the
training mail, which made the operating point depend on file order (measured on raw mail:
FNR 94% in folder order, 19.6% shuffled, for the same ranking quality). Here every choice
is made from out-of-fold scores of a stratified, seeded, duplicate-aware k-fold
(`sealdog.trainer.splits.duplicate_aware_folds`):

- for each C of the grid, k models are fitted (each without one fold) and every training
  message gets the score of the model that did not see it;
- C = the one with the lowest out-of-fold error at the target false-positive rate (ties:
  higher ROC AUC, then the smaller C);
- the threshold = the smallest one that keeps the out-of-fold ham's false-positive rate at
  or below the target (`threshold_for_fpr`); when the ham comes from two or more mailboxes
  (`ham_mailboxes`), a per-mailbox operating point (`row_thresholds`): each mailbox that
  holds enough ham to resolve the target gets the threshold that holds it on its own ham
  (a small mailbox whose ham scores higher is not averaged away by a large one), and mail
  of any other mailbox the pooled threshold (measured in docs/trainer.md);
- the expected FPR/FNR are *cross-fitted*: each fold's messages are judged at the threshold
  chosen on the other folds' out-of-fold scores, so no message judges a threshold it chose;
  the intervals are Wilson 95% score intervals on those counts.

When the training mail comes from two or more mailboxes holding ham and spam (Enron-Spam
users, `splits.mailbox_folds`), C is chosen for carrying over to *another* mailbox: each C
is also fitted on folds that hold out whole mailboxes, and the C whose out-of-fold scores
rank the held-out mailboxes best (ROC AUC; ties: the smaller C) wins. The threshold still
comes from the stratified folds (set on held-out mailboxes it was far too conservative,
measured in docs/trainer.md, and a user's detector meets mail of the mailboxes it was
trained on), per mailbox as above. The held-out-mailbox FPR/FNR at the pooled threshold
(what a mailbox the detector never saw gets) are reported (`Selection.held_out_mailbox`).

Rows that may train but never be judged (a `--base` corpus mixed in) have fold -1.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.sparse as sp

from sealdog.errors import SealdogError

Z_95 = 1.959963984540054
"""The standard normal's 97.5% quantile: two-sided 95% intervals."""

FitFunction = Callable[
    [sp.csr_matrix, np.ndarray, np.ndarray | None, float], tuple[np.ndarray, float]
]
"""(X, y, sample_weight, C) -> (weights, intercept) of one fitted linear model."""


class SelectionError(SealdogError):
    """Model selection cannot run (a fold without ham or spam, no C to try)."""


def wilson_interval(k: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """Wilson score interval for a binomial proportion k/n (n = 0: the whole [0, 1])."""
    if n <= 0:
        return 0.0, 1.0
    p = k / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    lo = 0.0 if k == 0 else max(0.0, centre - half)
    hi = 1.0 if k == n else min(1.0, centre + half)
    return lo, hi


def threshold_for_fpr(ham_scores: np.ndarray, target_fpr: float) -> float:
    """Smallest threshold t with  #(ham score >= t) / #ham <= target_fpr.

    With k = floor(target_fpr * n_ham) ham allowed above, t sits just above the
    (k+1)-th highest ham score, so at most k ham are flagged as spam.
    """
    scores = np.sort(np.asarray(ham_scores, dtype=np.float64))[::-1]
    if len(scores) == 0:
        return 0.0
    allowed = int(np.floor(target_fpr * len(scores) + 1e-9))
    if allowed >= len(scores):
        return float(-np.inf)
    return float(np.nextafter(scores[allowed], np.inf))


def row_thresholds(
    ham_scores: np.ndarray,
    ham_mailboxes: np.ndarray | None,
    target_fpr: float,
    mailboxes: np.ndarray | None,
) -> tuple[float, np.ndarray | float]:
    """(pooled threshold, the threshold each row of `mailboxes` is judged at) under the
    per-mailbox operating point: a row of a mailbox whose ham resolves the target gets that
    mailbox's own threshold (`mailbox_thresholds`), any other row the pooled one. Without
    mailboxes (or with one) every row gets the pooled threshold (a float)."""
    pooled = threshold_for_fpr(ham_scores, target_fpr)
    if ham_mailboxes is None or mailboxes is None:
        return pooled, pooled
    own = mailbox_thresholds(ham_scores, ham_mailboxes, target_fpr)
    if not own:
        return pooled, pooled
    return pooled, np.array([own.get(str(m), pooled) for m in mailboxes], dtype=np.float64)


def mailbox_thresholds(
    ham_scores: np.ndarray, ham_mailboxes: np.ndarray, target_fpr: float
) -> dict[str, float]:
    """`threshold_for_fpr` of each mailbox whose ham can resolve the target (sorted by name;
    empty with fewer than two mailboxes)."""
    names = sorted({str(m) for m in ham_mailboxes})
    if len(names) < 2:
        return {}
    out: dict[str, float] = {}
    for name in names:
        mine = ham_scores[ham_mailboxes == name]
        if len(mine) * target_fpr >= 1 - 1e-9:
            out[name] = threshold_for_fpr(mine, target_fpr)
    return out


_SHARED: dict[str, Any] = {}
"""The problem a fold worker process fits on (set once per process by `_init_worker`)."""


def _init_worker(
    X: sp.csr_matrix, y: np.ndarray, folds: np.ndarray, w: np.ndarray | None, fit: FitFunction
) -> None:
    _SHARED.update(X=X, y=y, folds=folds, w=w, fit=fit)


def _fold_scores(job: tuple[int, float]) -> tuple[np.ndarray, np.ndarray]:
    """(rows of the fold, their scores) of the model fitted without the fold."""
    fold, c = job
    X, y, folds, w, fit = (_SHARED[k] for k in ("X", "y", "folds", "w", "fit"))
    test = folds == fold
    train = ~test
    if len(np.unique(y[train])) < 2:
        raise SelectionError(f"fold {fold}: its training side lacks ham or spam")
    weights, bias = fit(X[train], y[train], None if w is None else w[train], c)
    return np.flatnonzero(test), np.asarray(X[test] @ weights).ravel() + bias


class FoldRunner:
    """Fits the k fold models of one C, in this process or in a pool of `workers` processes
    (each fit is deterministic, so the scores do not depend on the number of workers)."""

    def __init__(
        self,
        X: sp.csr_matrix,
        y: np.ndarray,
        folds: np.ndarray,
        fit: FitFunction,
        sample_weight: np.ndarray | None = None,
        workers: int = 1,
    ) -> None:
        self.n = len(y)
        self.fold_ids = [int(f) for f in np.unique(folds[folds >= 0])]
        self.pool: Any = None
        _init_worker(X, y, folds, sample_weight, fit)
        if workers > 1 and len(self.fold_ids) > 1:
            from concurrent.futures import ProcessPoolExecutor

            self.pool = ProcessPoolExecutor(
                max_workers=min(workers, len(self.fold_ids)),
                initializer=_init_worker,
                initargs=(X, y, folds, sample_weight, fit),
            )

    def scores(self, c: float) -> np.ndarray:
        """Out-of-fold score of every row (NaN for fold -1 rows, which only ever train)."""
        out = np.full(self.n, np.nan)
        jobs = [(f, c) for f in self.fold_ids]
        results = (
            map(_fold_scores, jobs) if self.pool is None else self.pool.map(_fold_scores, jobs)
        )
        for rows, values in results:
            out[rows] = values
        return out

    def close(self) -> None:
        if self.pool is not None:
            self.pool.shutdown()
        _SHARED.clear()


def out_of_fold_scores(
    X: sp.csr_matrix,
    y: np.ndarray,
    folds: np.ndarray,
    c: float,
    fit: FitFunction,
    sample_weight: np.ndarray | None = None,
) -> np.ndarray:
    """Score of every row with fold >= 0 by the model fitted without its fold (NaN for fold
    -1 rows, which only ever train)."""
    runner = FoldRunner(X, y, folds, fit, sample_weight)
    try:
        return runner.scores(c)
    finally:
        runner.close()


def error_at_fpr(
    scores: np.ndarray,
    y: np.ndarray,
    target_fpr: float | None,
    mailboxes: np.ndarray | None = None,
) -> tuple[float, float]:
    """(pooled threshold, error rate) on labelled scores when the threshold is set for
    target_fpr (each row at its own mailbox's threshold when `mailboxes` names each row's,
    `row_thresholds`)."""
    ham = y == 0
    if target_fpr is None:
        threshold: float = 0.0
        per_row: np.ndarray | float = 0.0
    else:
        threshold, per_row = row_thresholds(
            scores[ham], None if mailboxes is None else mailboxes[ham], target_fpr, mailboxes
        )
    predicted = scores >= per_row
    return threshold, float(np.mean(predicted != (y == 1)))


@dataclass(frozen=True)
class OperatingPoint:
    """Expected error rates at the chosen threshold, cross-fitted, with Wilson 95% intervals."""

    fp: int
    n_ham: int
    fn: int
    n_spam: int

    @property
    def fpr(self) -> float:
        return self.fp / self.n_ham if self.n_ham else 0.0

    @property
    def fnr(self) -> float:
        return self.fn / self.n_spam if self.n_spam else 0.0

    def to_dict(self) -> dict[str, Any]:
        return {
            "fpr": self.fpr,
            "fpr_ci95": list(wilson_interval(self.fp, self.n_ham)),
            "fnr": self.fnr,
            "fnr_ci95": list(wilson_interval(self.fn, self.n_spam)),
            "fp": self.fp,
            "n_ham": self.n_ham,
            "fn": self.fn,
            "n_spam": self.n_spam,
        }


def cross_fitted_operating_point(
    scores: np.ndarray,
    y: np.ndarray,
    folds: np.ndarray,
    target_fpr: float | None,
    mailboxes: np.ndarray | None = None,
) -> OperatingPoint:
    """Errors when each fold is judged at the threshold chosen on the other folds' scores
    (by the same rule as the model's: each row at its own mailbox's threshold when
    `mailboxes` is given, `row_thresholds`)."""
    fp = fn = 0
    judged = folds >= 0
    for fold in np.unique(folds[judged]):
        here = folds == fold
        others = judged & ~here
        thr: np.ndarray | float = 0.0
        if target_fpr is not None:
            ham = others & (y == 0)
            _, thr = row_thresholds(
                scores[ham],
                None if mailboxes is None else mailboxes[ham],
                target_fpr,
                None if mailboxes is None else mailboxes[here],
            )
        predicted = scores[here] >= thr
        fp += int(np.sum(predicted & (y[here] == 0)))
        fn += int(np.sum(~predicted & (y[here] == 1)))
    return OperatingPoint(fp, int(np.sum(judged & (y == 0))), fn, int(np.sum(judged & (y == 1))))


@dataclass
class Selection:
    """Outcome of `select`: the chosen C and threshold, and how each C did."""

    c: float
    threshold: float
    """The pooled threshold: the default, for mail of a mailbox not in `mailbox_thresholds`."""
    grid: list[dict[str, Any]]
    expected: OperatingPoint
    scores: np.ndarray
    """Out-of-fold scores of the chosen C (NaN for fold -1 rows)."""
    held_out_mailbox: OperatingPoint | None = None
    """Errors at the chosen threshold on mailboxes held out whole (None: one mailbox)."""
    mailbox_thresholds: dict[str, float] | None = None
    """Each mailbox's own threshold (those whose ham resolves the target; mail of any other
    mailbox gets `threshold`), with the pooled one under ``""`` (None: the ham is from one
    mailbox, the pooled threshold alone)."""


def select(
    X: sp.csr_matrix,
    y: np.ndarray,
    folds: np.ndarray,
    c_grid: Sequence[float],
    target_fpr: float | None,
    fit: FitFunction,
    *,
    sample_weight: np.ndarray | None = None,
    on_c: Callable[[float, int], None] | None = None,
    log: Callable[[str], None] | None = None,
    workers: int = 1,
    mailbox_folds: np.ndarray | None = None,
    ham_mailboxes: np.ndarray | None = None,
) -> Selection:
    """C and threshold from out-of-fold scores (see module doc); `fit` must be picklable
    when `workers` > 1 (the folds of each C are fitted in parallel). `mailbox_folds`
    (whole mailboxes held out, -1 for rows never judged) makes C the one that carries over
    best to an unseen mailbox. `ham_mailboxes` (each row's mailbox, when the judged ham
    comes from two or more) gives each mailbox its own threshold (`row_thresholds`);
    `Selection.threshold` is then the pooled one, for mail of any other mailbox."""
    from sklearn.metrics import roc_auc_score

    if not c_grid:
        raise SelectionError("the C grid is empty")
    judged = folds >= 0
    yj = y[judged]
    by_box = None
    if ham_mailboxes is not None:
        by_box = np.asarray([str(m) for m in ham_mailboxes], dtype=object)
        if len(set(by_box[judged & (y == 0)].tolist())) < 2:
            by_box = None
    boxes_j = None if by_box is None else by_box[judged]
    best: tuple[float, float, float] | None = None
    chosen: tuple[float, float, np.ndarray] | None = None
    grid: list[dict[str, Any]] = []
    carry: dict[float, np.ndarray] = {}
    if mailbox_folds is not None:
        boxes = FoldRunner(X, y, mailbox_folds, fit, sample_weight, workers)
        try:
            for k, c in enumerate(c_grid, 1):
                if on_c:
                    on_c(c, k)
                carry[c] = boxes.scores(c)
        finally:
            boxes.close()
    runner = FoldRunner(X, y, folds, fit, sample_weight, workers)
    try:
        for k, c in enumerate(c_grid, 1):
            if on_c:
                on_c(c, k)
            scores = runner.scores(c)
            sj = scores[judged]
            thr, err = error_at_fpr(sj, yj, target_fpr, boxes_j)
            auc = float(roc_auc_score(yj, sj)) if len(np.unique(yj)) == 2 else float("nan")
            entry: dict[str, Any] = {"c": c, "error_at_target": err, "auc": auc, "threshold": thr}
            key = (err, -auc if math.isfinite(auc) else 0.0, c)
            if c in carry:
                held = carry[c][mailbox_folds >= 0] if mailbox_folds is not None else sj
                yh = y[mailbox_folds >= 0] if mailbox_folds is not None else yj
                mailbox_auc = float(roc_auc_score(yh, held))
                entry["held_out_mailbox_auc"] = mailbox_auc
                key = (-mailbox_auc, c, 0.0)
            grid.append(entry)
            if log:
                log(
                    f"C={c:g}: out-of-fold error {err:.4f} at the target FPR, AUC {auc:.5f}"
                    + (
                        f", held-out-mailbox AUC {entry['held_out_mailbox_auc']:.5f}"
                        if c in carry
                        else ""
                    )
                )
            if best is None or key < best:
                best, chosen = key, (c, thr, scores)
    finally:
        runner.close()
    assert chosen is not None
    c, thr, scores = chosen
    expected = cross_fitted_operating_point(scores, y, folds, target_fpr, by_box)
    per_box = None
    if boxes_j is not None and target_fpr is not None:
        ham = yj == 0
        sj = scores[judged]
        per_box = {
            "": threshold_for_fpr(sj[ham], target_fpr),
            **mailbox_thresholds(sj[ham], boxes_j[ham], target_fpr),
        }
    if not math.isfinite(thr):
        thr = 0.0
    held_out = None
    if mailbox_folds is not None:
        rows = mailbox_folds >= 0
        flagged = carry[c] >= thr
        ham, spam = rows & (y == 0), rows & (y == 1)
        held_out = OperatingPoint(
            int(np.sum(flagged & ham)),
            int(ham.sum()),
            int(np.sum(~flagged & spam)),
            int(spam.sum()),
        )
    return Selection(c, thr, grid, expected, scores, held_out, per_box)
