"""A per-mailbox operating point: each mailbox the detector was trained on gets the
threshold that holds the target on its own out-of-fold ham, any other mailbox the pooled one.

On Enron-Spam's posts split the pooled rule gave 1.60% FPR on the end of enron6, whose 500
training ham score higher than the pooled ham; enron6's own threshold gives 0.50%
(docs/trainer.md). Here on generated scores and small generated corpora: each mailbox holds
the target, a mailbox too small for it and an unknown one get the pooled threshold, one
mailbox keeps exactly the pooled rule, and the model file stays file-order free.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from own_mail import make_email, write_corpus

from sealdog.mail.corpora import labelled_sources
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.crossval import training_corpus
from sealdog.trainer.mailset import read_labelled
from sealdog.trainer.selection import (
    cross_fitted_operating_point,
    error_at_fpr,
    mailbox_thresholds,
    row_thresholds,
    threshold_for_fpr,
)
from sealdog.trainer.training import PreparedCorpus, TrainingConfig, train_prepared

V2 = FeaturiserSpec.header_aware(n_buckets=2**12)
TARGET = 0.05


def test_each_mailbox_gets_its_own_threshold_and_others_the_pooled_one() -> None:
    rng = np.random.default_rng(0)
    big = rng.normal(-3.0, 1.0, 2000)  # most of the ham: low scores
    small = rng.normal(-1.0, 1.0, 200)  # another mailbox's ham scores higher
    ham = np.concatenate([big, small])
    boxes = np.array(["big"] * 2000 + ["small"] * 200, dtype=object)
    pooled = threshold_for_fpr(ham, 0.005)
    assert np.mean(small >= pooled) > 0.005  # the pooled rule breaks the small mailbox
    rows = np.array(["small", "big", "unseen"], dtype=object)
    got_pooled, per_row = row_thresholds(ham, boxes, 0.005, rows)
    assert got_pooled == pooled
    assert list(np.asarray(per_row)) == [
        threshold_for_fpr(small, 0.005),
        threshold_for_fpr(big, 0.005),
        pooled,
    ]
    assert threshold_for_fpr(small, 0.005) > pooled > threshold_for_fpr(big, 0.005)
    # no mailboxes: the pooled threshold for every row
    assert row_thresholds(ham, None, 0.005, rows) == (pooled, pooled)


def test_a_mailbox_too_small_for_the_target_gets_the_pooled_threshold() -> None:
    ham = np.concatenate([np.linspace(-5, 0, 1000), [9.0, 8.0]])
    boxes = np.array(["a"] * 1000 + ["tiny"] * 2, dtype=object)
    # 2 ham cannot resolve 0.5%: 'tiny' alone would put its threshold above 9
    assert set(mailbox_thresholds(ham, boxes, 0.005)) == {"a"}
    pooled, per_row = row_thresholds(ham, boxes, 0.005, np.array(["tiny", "a"], dtype=object))
    assert list(np.asarray(per_row)) == [pooled, threshold_for_fpr(ham[:1000], 0.005)]
    # one mailbox: exactly the pooled rule
    one = np.array(["a"] * 1002, dtype=object)
    assert row_thresholds(ham, one, 0.005, one) == (pooled, pooled)


@given(
    st.lists(
        st.tuples(st.floats(-50, 50, allow_nan=False), st.sampled_from("abc")),
        min_size=1,
        max_size=300,
    ),
    st.floats(0.001, 0.5),
)
@settings(max_examples=150, deadline=None)
def test_each_counted_mailbox_and_the_pool_stay_at_or_below_the_target(
    rows: list[tuple[float, str]], target: float
) -> None:
    ham = np.array([s for s, _ in rows])
    boxes = np.array([b for _, b in rows], dtype=object)
    pooled, per_row = row_thresholds(ham, boxes, target, boxes)
    assert np.mean(ham >= pooled) <= target + 1e-12
    counted = mailbox_thresholds(ham, boxes, target)
    for name in counted:
        mine = boxes == name
        assert np.mean(ham[mine] >= np.broadcast_to(per_row, ham.shape)[mine]) <= target + 1e-12
    for name in set(boxes.tolist()) - set(counted):  # too small: the pooled threshold
        assert np.all(np.broadcast_to(per_row, ham.shape)[boxes == name] == pooled)


def test_cross_fitted_figures_and_the_error_use_the_same_rule() -> None:
    rng = np.random.default_rng(1)
    n = 3000
    y = (rng.random(n) < 0.4).astype(np.int64)
    boxes = np.where(rng.random(n) < 0.85, "big", "small").astype(object)
    scores = rng.normal(0, 1, n) + 3 * y + np.where(boxes == "small", 1.5, 0.0)
    folds = rng.integers(0, 5, n)
    pooled = cross_fitted_operating_point(scores, y, folds, 0.01)
    per_box = cross_fitted_operating_point(scores, y, folds, 0.01, boxes)
    fp = fn = 0
    for f in range(5):
        here, ham = folds == f, (folds != f) & (y == 0)
        _, thr = row_thresholds(scores[ham], boxes[ham], 0.01, boxes[here])
        flagged = scores[here] >= thr
        fp += int(np.sum(flagged & (y[here] == 0)))
        fn += int(np.sum(~flagged & (y[here] == 1)))
    assert (per_box.fp, per_box.fn) == (fp, fn) != (pooled.fp, pooled.fn)
    assert per_box.n_ham == pooled.n_ham
    thr, err = error_at_fpr(scores, y, 0.01, boxes)
    _, per_row = row_thresholds(scores[y == 0], boxes[y == 0], 0.01, boxes)
    assert thr == threshold_for_fpr(scores[y == 0], 0.01)
    assert err == np.mean((scores >= per_row) != (y == 1))


def _mailboxes(root: Path) -> list[object]:
    """alice: plain ham; bob: ham that often uses spam words (scores higher)."""
    alice_ham, alice_spam = write_corpus(root / "alice", n_ham=60, n_spam=40, seed=1)
    rng = random.Random(5)
    bob_ham, bob_spam = write_corpus(root / "bob", n_ham=0, n_spam=30, seed=2)
    for i in range(40):
        raw = make_email(0, 500 + i, rng)
        if i % 3 == 0:
            raw = raw.rstrip(b"\n") + b" free offer click prize money cheap\n"
        (bob_ham / f"spammy-{i:03d}.eml").write_bytes(raw)
    return labelled_sources([alice_ham, bob_ham], [alice_spam, bob_spam])


def test_training_keeps_each_mailbox_threshold_as_an_offset_and_stays_order_free(
    tmp_path: Path,
) -> None:
    mail = read_labelled(_mailboxes(tmp_path), V2, workers=1)
    config = TrainingConfig(featuriser=V2, c_grid=(0.3,), target_fpr=TARGET)
    prepared = training_corpus(mail.terms, np.arange(len(mail.labels)), mail, config)
    model, report = train_prepared(prepared, config)
    v = report.validation
    assert v["threshold_rule"] == "per mailbox"
    assert {Path(m).name for m in v["mailbox_thresholds"]} == {"alice", "bob"}
    # the default (folded) threshold is the pooled one; each mailbox's is an offset from it
    assert report.threshold == v["pooled_threshold"]
    assert model.metadata["threshold_folded"] == report.threshold
    assert model.mailbox_offsets == {
        m: t - report.threshold for m, t in v["mailbox_thresholds"].items()
    }
    # bob's ham scores higher: his threshold is above the pooled one
    bob = next(m for m in v["mailbox_thresholds"] if Path(m).name == "bob")
    assert model.mailbox_offsets[bob] > 0
    assert model.for_mailbox(bob).bias == model.bias - model.mailbox_offsets[bob]
    assert model.to_dict()["mailbox_thresholds"] == {"offsets": model.mailbox_offsets}

    # the same mail as one mailbox: exactly the pooled rule (today's code path), no map
    single = PreparedCorpus(
        prepared.featuriser,
        prepared.X,
        prepared.y,
        keys=prepared.keys,
        groups=prepared.groups,
        mailboxes=["one"] * len(prepared.y),
    )
    one_model, one = train_prepared(single, config)
    assert "threshold_rule" not in one.validation and not one_model.mailbox_offsets
    assert one.threshold == v["pooled_threshold"]
    assert "mailbox_thresholds" not in one_model.to_dict()
    assert one_model.to_dict()["version"] == 1
    single.mailboxes = None
    flat_model, flat = train_prepared(single, config)
    assert flat.threshold == one.threshold
    assert flat_model.to_dict() == one_model.to_dict()
    # weights and the default threshold do not depend on the per-mailbox rule
    assert flat_model.bias == model.bias and np.array_equal(flat_model.weights, model.weights)

    # any row order: the same model file, offsets included
    perm = np.random.default_rng(3).permutation(len(prepared.y))
    assert prepared.keys is not None and prepared.groups is not None
    assert prepared.mailboxes is not None
    shuffled = PreparedCorpus(
        prepared.featuriser,
        prepared.X[perm],
        prepared.y[perm],
        keys=[prepared.keys[int(i)] for i in perm],
        groups=[prepared.groups[int(i)] for i in perm],
        mailboxes=[prepared.mailboxes[int(i)] for i in perm],
    )
    again, again_report = train_prepared(shuffled, config)
    assert again_report.threshold == report.threshold
    assert again.to_dict() == model.to_dict()
    assert again_report.validation["expected"] == v["expected"]


def test_cross_validation_judges_each_email_by_its_mailbox_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sealdog.trainer import crossval

    mail = read_labelled(_mailboxes(tmp_path), V2, workers=1)
    config = TrainingConfig(featuriser=V2, c_grid=(0.3,), target_fpr=TARGET, workers=1)
    seen: list[tuple[dict[str, float], list[str]]] = []
    real = crossval.mailbox_scores

    def spy(model: Any, X: Any, boxes: Any) -> np.ndarray:
        seen.append((dict(model.mailbox_offsets), list(boxes)))
        return real(model, X, boxes)

    monkeypatch.setattr(crossval, "mailbox_scores", spy)
    result = crossval.cross_validate(
        mail, config, folds=3, baseline=False, key_bits=512, insecure_key=True
    )
    assert len(seen) == 3
    assert sorted(b for _, boxes in seen for b in boxes) == sorted(mail.mailboxes)
    assert all(set(offsets) == set(mail.mailboxes) for offsets, _ in seen)
    assert result.agreement == 1.0 and result.agreement_fixed_point == 1.0
