"""Training, threshold/FPR logic, the model file, and sealing agreement on the sample corpus."""

from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.corpus import corpus_terms, index_corpus
from sealdog.trainer.evaluation import classification_metrics, encrypted_agreement, make_split
from sealdog.trainer.model import LinearModel, ModelFileError
from sealdog.trainer.sealing import public_metadata
from sealdog.trainer.selection import cross_fitted_operating_point, wilson_interval
from sealdog.trainer.training import (
    TrainingConfig,
    TrainingError,
    threshold_for_fpr,
    train,
)

SMALL = TrainingConfig(
    featuriser=FeaturiserSpec(n_buckets=2**12, ngram_max=1, max_count=2), c_grid=(0.3, 1.0, 3.0)
)


@pytest.fixture(scope="module")
def sample_model() -> tuple[LinearModel, object]:
    samples = load_samples()
    return train([s.raw for s in samples], [s.label for s in samples], SMALL)


@given(st.lists(st.floats(-50, 50, allow_nan=False), min_size=1, max_size=300), st.floats(0, 0.99))
@settings(max_examples=200, deadline=None)
def test_threshold_keeps_fpr_at_or_below_target(ham: list[float], target: float) -> None:
    t = threshold_for_fpr(np.array(ham), target)
    flagged = sum(h >= t for h in ham)
    assert flagged / len(ham) <= target + 1e-12
    # and it is the smallest such threshold: one notch lower flags one more ham than allowed
    allowed = int(np.floor(target * len(ham) + 1e-9))
    if allowed < len(ham):
        lower = np.nextafter(t, -np.inf)
        assert sum(h >= lower for h in ham) > allowed


def test_threshold_examples() -> None:
    ham = np.array([-3.0, -1.0, 0.5, 2.0])
    assert threshold_for_fpr(ham, 0.0) > 2.0
    t = threshold_for_fpr(ham, 0.25)  # one of four may be flagged
    assert 0.5 < t <= 2.0 and np.sum(ham >= t) == 1


def test_wilson_interval_known_values() -> None:
    lo, hi = wilson_interval(0, 100)
    assert lo == 0.0 and hi == pytest.approx(0.03699, abs=1e-5)
    lo, hi = wilson_interval(5, 10)
    assert lo == pytest.approx(0.23659, abs=1e-5) and hi == pytest.approx(0.76341, abs=1e-5)
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_cross_fitted_operating_point_judges_each_fold_at_the_others_threshold() -> None:
    # fold 0: ham scores high; the other folds' ham set the threshold just above 0.5.
    y = np.array([0, 0, 1, 0, 0, 1])
    folds = np.array([0, 0, 0, 1, 1, 1])
    scores = np.array([3.0, -1.0, 4.0, 0.5, -2.0, 1.0])
    point = cross_fitted_operating_point(scores, y, folds, 0.0)
    # fold 0 judged at threshold > 0.5: ham 3.0 is a false positive, spam 4.0 caught;
    # fold 1 judged at threshold > 3.0: spam 1.0 missed.
    assert (point.fp, point.n_ham, point.fn, point.n_spam) == (1, 4, 1, 2)
    assert cross_fitted_operating_point(scores, y, np.array([-1, 0, 0, 1, 1, 1]), None).n_ham == 3


def test_threshold_is_folded_into_the_bias() -> None:
    spec = FeaturiserSpec(n_buckets=4)
    model = LinearModel(np.array([1.0, -2.0, 0.5, 0.0]), 0.25, spec)
    shifted = model.with_threshold(0.75)
    X = np.array([[1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 1, 0]], dtype=float)
    assert shifted.predict(X).tolist() == (model.decision_function(X) >= 0.75).tolist()
    assert shifted.bias == pytest.approx(-0.5)
    assert shifted.metadata["threshold_folded"] == 0.75


def test_training_on_the_samples_separates_them(sample_model) -> None:
    model, report = sample_model
    samples = load_samples()
    featuriser = model.make_featuriser()
    scores = [model.score(featuriser.featurise_email(s.raw)) for s in samples]
    metrics = classification_metrics(np.array([s.label for s in samples]), np.array(scores))
    assert metrics["accuracy"] >= 0.95 and metrics["auc"] == 1.0
    assert report.chosen_c in SMALL.c_grid
    assert report.validation["method"] == "out-of-fold" and report.validation["folds"] == 5
    assert report.validation["n_judged"] == 40 and report.validation["expected"]["n_ham"] == 20
    assert len(model.weights) == 2**12 and model.metadata["learner"] == "nb-logistic"


def test_unseen_sample_like_mail(sample_model) -> None:
    model, _ = sample_model
    f = model.make_featuriser()
    spam = (
        b"Subject: WIN a FREE prize!!!\n\n"
        b"Claim your free prize now, click here, no prescription, order today!!!"
    )
    ham = (
        b"Subject: agenda for the budget review\n\n"
        b"Hi team, the minutes and the forecast are attached. Thanks"
    )
    assert model.score(f.featurise_email(spam)) > model.score(f.featurise_email(ham))


def test_vocabulary_mode_fits_on_training_mail_only() -> None:
    samples = load_samples()
    config = replace(
        SMALL,
        featuriser=FeaturiserSpec(mode="vocabulary", vocabulary=("w:x",), ngram_max=1),
        min_df=2,
    )
    model, _ = train([s.raw for s in samples], [s.label for s in samples], config)
    vocab = model.featuriser.vocabulary
    assert "w:free" in vocab and "w:x" not in vocab
    assert list(vocab) == sorted(vocab)


def test_training_refuses_a_single_class() -> None:
    samples = [s for s in load_samples() if s.label == 0]
    with pytest.raises(TrainingError, match="ham and"):
        train([s.raw for s in samples], [s.label for s in samples], SMALL)
    with pytest.raises(TrainingError, match="learner"):
        replace(SMALL, learner="forest").validate()


def test_model_file_round_trip_is_exact_and_atomic(sample_model, tmp_path: Path) -> None:
    model, _ = sample_model
    path = tmp_path / "m.json"
    model.save(path)
    loaded = LinearModel.load(path)
    assert np.array_equal(loaded.weights, model.weights) and loaded.bias == model.bias
    assert loaded.featuriser == model.featuriser and loaded.metadata == model.metadata
    assert sorted(os.listdir(tmp_path)) == ["m.json"]  # no temp file left behind


def test_bad_model_files(tmp_path: Path) -> None:
    with pytest.raises(ModelFileError, match="sealdog train"):
        LinearModel.load(tmp_path / "missing.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ModelFileError, match="not valid JSON"):
        LinearModel.load(tmp_path / "bad.json")
    spec = FeaturiserSpec(n_buckets=3).to_dict()
    (tmp_path / "short.json").write_text(
        json.dumps(
            {
                "format": "sealdog-plaintext-model",
                "version": 1,
                "bias": 0,
                "weights": [1, 2],
                "featuriser": spec,
            }
        )
    )
    with pytest.raises(ModelFileError, match="2 weights"):
        LinearModel.load(tmp_path / "short.json")


def test_public_metadata_drops_threshold_and_intercept(sample_model) -> None:
    model, _ = sample_model
    meta = public_metadata(model, {"name": "x"})
    assert "intercept" not in meta and "threshold_folded" not in meta and "c" not in meta
    assert meta["name"] == "x" and meta["learner"] == "nb-logistic"


def test_encrypted_path_agrees_with_plaintext_on_samples(sample_model) -> None:
    model, _ = sample_model
    f = model.make_featuriser()
    feats = [f.featurise_email(s.raw) for s in load_samples()]
    check = encrypted_agreement(
        model, [(x.indices, x.counts) for x in feats], key_bits=512, insecure=True
    )
    assert check.agreement == 1.0 and check.agreement_fixed_point == 1.0 and check.n_scored == 40


def test_metrics_and_splits() -> None:
    y = np.array([0, 0, 0, 1, 1])
    m = classification_metrics(y, np.array([-1.0, 0.5, -2.0, 1.0, -0.1]))
    assert (m["tp"], m["fp"], m["tn"], m["fn"]) == (1, 1, 2, 1)
    assert m["fpr"] == pytest.approx(1 / 3) and m["fnr"] == 0.5 and m["precision"] == 0.5
    folders = np.array(["enron1"] * 3 + ["enron2"] * 2 + ["enron4"] * 2)
    labels = np.array([0, 1, 0, 0, 1, 1, 0])
    posts = make_split("posts", folders, labels, holdout=1)
    assert np.flatnonzero(posts.test).tolist() == [5, 6]
    assert (
        make_split("e1_e2", folders, labels).test.tolist() == [False] * 3 + [True] * 2 + [False] * 2
    )
    assert make_split("e123_e456", folders, labels).test.sum() == 2
    with pytest.raises(KeyError):
        make_split("nope", folders, labels)


def test_corpus_matrix_rows_equal_single_email_features(sample_model) -> None:
    model, _ = sample_model
    raws = [s.raw for s in load_samples()]
    X = index_corpus(model.make_featuriser(), corpus_terms(raws, model.featuriser, workers=1))
    scores = model.decision_function(X)
    f = model.make_featuriser()
    assert np.allclose(scores, [model.score(f.featurise_email(r)) for r in raws])
