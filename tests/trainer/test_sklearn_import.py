"""Import of a user's fitted scikit-learn pipeline: same scores as sklearn, clear refusals."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
from sklearn.feature_extraction.text import CountVectorizer, HashingVectorizer, TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.svm import LinearSVC

from sealdog.data.sample_corpus import load_samples
from sealdog.trainer.sklearn_import import (
    UnsupportedPipelineError,
    import_sklearn,
    text_for_sklearn,
)

SAMPLES = load_samples()
TEXTS = [text_for_sklearn(s.raw) for s in SAMPLES]
LABELS = [s.label for s in SAMPLES]
EXTRA = [
    b"Subject: don't miss it\n\nDon't miss the user_id field, e-mail me: it's 100% free_stuff!",
    b"Subject: re: numbers\n\nThe \xe9t\xe9 forecast: 45 Bcf vs 38 Bcf.",
]


def _assert_same_scores(pipeline, model) -> None:
    f = model.make_featuriser()
    raws = [s.raw for s in SAMPLES] + EXTRA
    ours = np.array([model.score(f.featurise_email(r)) for r in raws])
    theirs = pipeline.decision_function([text_for_sklearn(r) for r in raws])
    assert np.allclose(ours, theirs, atol=1e-9)


@pytest.mark.parametrize(
    "vectoriser",
    [
        CountVectorizer(binary=True),
        CountVectorizer(binary=True, ngram_range=(1, 2)),
        TfidfVectorizer(norm=None, binary=True),
        CountVectorizer(binary=True, stop_words="english"),
    ],
)
def test_imported_pipeline_scores_like_sklearn(vectoriser) -> None:
    pipeline = make_pipeline(vectoriser, LogisticRegression(C=10)).fit(TEXTS, LABELS)
    model = import_sklearn(pipeline)
    assert model.featuriser.mode == "vocabulary" and model.featuriser.max_count == 1
    _assert_same_scores(pipeline, model)


def test_counts_with_explicit_cap_and_separate_objects() -> None:
    vec = CountVectorizer()
    X = vec.fit_transform(TEXTS)
    X.data = np.minimum(X.data, 3)  # the user trained on counts clipped at 3
    clf = LinearSVC(C=1.0).fit(X, LABELS)
    model = import_sklearn(clf, vec, max_count=3)
    f = model.make_featuriser()
    raws = [s.raw for s in SAMPLES]
    Xr = vec.transform([text_for_sklearn(r) for r in raws])
    Xr.data = np.minimum(Xr.data, 3)
    expected = np.asarray(Xr @ clf.coef_.ravel()).ravel() + clf.intercept_[0]
    ours = [model.score(f.featurise_email(r)) for r in raws]
    assert np.allclose(ours, expected)


@pytest.mark.parametrize(
    ("vectoriser", "message"),
    [
        (TfidfVectorizer(), "norm="),
        (CountVectorizer(binary=True, analyzer="char"), "analyzer"),
        (CountVectorizer(binary=True, ngram_range=(1, 3)), "ngram_range"),
        (CountVectorizer(binary=True, lowercase=False), "lowercase"),
        (CountVectorizer(binary=True, token_pattern=r"\w+"), "token_pattern"),
        (CountVectorizer(binary=True, ngram_range=(1, 2), stop_words="english"), "stop_words"),
        (CountVectorizer(), "max_count"),
        (CountVectorizer(binary=True, strip_accents="unicode"), "strip_accents"),
    ],
)
def test_unsupported_vectorisers_are_refused_clearly(vectoriser, message: str) -> None:
    pipeline = make_pipeline(vectoriser, LogisticRegression()).fit(TEXTS, LABELS)
    with pytest.raises(UnsupportedPipelineError, match=message):
        import_sklearn(pipeline)


def test_unsupported_classifiers_are_refused() -> None:
    three = [0, 1, 2] * 13 + [0]
    pipeline = make_pipeline(CountVectorizer(binary=True), LogisticRegression()).fit(TEXTS, three)
    with pytest.raises(UnsupportedPipelineError, match="3 classes"):
        import_sklearn(pipeline)
    with pytest.raises(UnsupportedPipelineError, match="no coef_"):
        import_sklearn(object(), CountVectorizer(binary=True).fit(TEXTS))
    hashing = make_pipeline(HashingVectorizer(), LogisticRegression()).fit(TEXTS, LABELS)
    with pytest.raises(UnsupportedPipelineError, match="CountVectorizer"):
        import_sklearn(hashing)
    with pytest.raises(UnsupportedPipelineError, match="not fitted"):
        import_sklearn(LogisticRegression().fit(np.eye(2), [0, 1]), CountVectorizer())


def test_cli_import(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sealdog.cli import app
    from sealdog.cli_errors import ExitStatus
    from sealdog.trainer.model import LinearModel

    pipeline = make_pipeline(CountVectorizer(binary=True), LogisticRegression()).fit(TEXTS, LABELS)
    pkl = tmp_path / "pipe.pkl"
    pkl.write_bytes(pickle.dumps(pipeline))
    out = tmp_path / "model.json"
    result = CliRunner().invoke(app, ["import-sklearn", str(pkl), "--out", str(out)])
    assert result.exit_code == 0, result.output
    _assert_same_scores(pipeline, LinearModel.load(out))
    (tmp_path / "junk.pkl").write_bytes(b"not a pickle")
    result = CliRunner().invoke(
        app, ["import-sklearn", str(tmp_path / "junk.pkl"), "--out", str(out)]
    )
    assert result.exit_code == ExitStatus.BAD_INPUT and "cannot load" in result.output
