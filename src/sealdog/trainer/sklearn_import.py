"""Import a user's fitted scikit-learn linear classifier and vectoriser as a Sealdog model.

Sealdog scores ``bias + sum_i w_i * x_i`` over small integer counts ``x_i`` made by its own
featuriser, so a user's pipeline maps onto it only when its vectoriser is a pure count
(or presence) of word n-grams from a fixed vocabulary:

- `CountVectorizer` / `TfidfVectorizer` with ``analyzer="word"``, the default token
  pattern, no custom tokenizer or preprocessor, no accent stripping, lower-casing on,
  ``ngram_range`` (1, 1) or (1, 2), and no stop words when bigrams are used (removing them
  changes which words are adjacent);
- `TfidfVectorizer` only with ``norm=None`` and ``sublinear_tf=False``: the idf factors are
  folded into the weights (l2 normalisation divides by a per-e-mail length, which a
  linear model over counts cannot express);
- counts: ``binary=True`` maps exactly (``max_count=1``); otherwise pass ``max_count``
  and counts above it are clipped (so scores match sklearn's only up to that count);
- any fitted binary linear classifier with ``coef_`` of shape (1, n) and ``intercept_``
  (LogisticRegression, LinearSVC, SGDClassifier, RidgeClassifier, ...).

The imported model sees an e-mail as the user's vectoriser would see the string
``subject + "\\n" + body`` (`text_for_sklearn`): train the pipeline on that text.
Anything else is refused with `UnsupportedPipelineError` saying which setting is in the way.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from sealdog.errors import SealdogError
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES, email_parts
from sealdog.trainer.model import LinearModel

SKLEARN_TOKEN_PATTERN = r"(?u)\b\w\w+\b"


class UnsupportedPipelineError(SealdogError):
    """A scikit-learn classifier or vectoriser cannot be expressed as a Sealdog linear model."""


def text_for_sklearn(raw: bytes, *, max_bytes: int = DEFAULT_MAX_EMAIL_BYTES) -> str:
    """The text an imported pipeline should be trained on: subject, newline, body."""
    parts = email_parts(raw, max_bytes=max_bytes)
    return f"{parts.subject}\n{parts.body}"


def import_sklearn(
    classifier: Any,
    vectoriser: Any | None = None,
    *,
    max_count: int | None = None,
    metadata: dict[str, Any] | None = None,
) -> LinearModel:
    """A `LinearModel` equivalent to ``classifier(vectoriser(text))`` (see module doc).

    `classifier` may be a fitted `sklearn.pipeline.Pipeline` whose last two steps are the
    vectoriser and the classifier; then `vectoriser` is left out.
    """
    if vectoriser is None:
        steps = getattr(classifier, "steps", None)
        if not steps or len(steps) != 2:
            raise UnsupportedPipelineError(
                "pass a fitted classifier and its vectoriser, or a Pipeline of exactly "
                "(vectoriser, classifier)"
            )
        vectoriser, classifier = steps[0][1], steps[1][1]
    coef = getattr(classifier, "coef_", None)
    intercept = getattr(classifier, "intercept_", 0.0)
    if coef is None:
        raise UnsupportedPipelineError(
            f"{type(classifier).__name__} is not a fitted linear classifier (no coef_)"
        )
    coef = np.asarray(coef.toarray() if hasattr(coef, "toarray") else coef, dtype=np.float64)
    if coef.ndim == 2 and coef.shape[0] != 1:
        raise UnsupportedPipelineError(
            f"{type(classifier).__name__} has {coef.shape[0]} classes; Sealdog seals binary "
            "(spam / not spam) classifiers only"
        )
    coef = coef.ravel()
    bias = float(np.ravel(intercept)[0]) if np.size(intercept) else 0.0
    classes = getattr(classifier, "classes_", None)
    spec, column_weights = _vectoriser_spec(vectoriser, max_count)
    if len(coef) != len(spec.vocabulary):
        raise UnsupportedPipelineError(
            f"the classifier has {len(coef)} weights but the vectoriser has "
            f"{len(spec.vocabulary)} terms: were they fitted together?"
        )
    weights = coef * column_weights
    meta = {
        "imported_from": f"{type(vectoriser).__name__} + {type(classifier).__name__}",
        "positive_class": None if classes is None else str(classes[-1]),
        "learner": type(classifier).__name__,
        **(metadata or {}),
    }
    return LinearModel(weights, bias, spec, meta)


def _vectoriser_spec(vectoriser: Any, max_count: int | None) -> tuple[FeaturiserSpec, np.ndarray]:
    from sklearn.feature_extraction.text import CountVectorizer, TfidfVectorizer

    name = type(vectoriser).__name__
    if not isinstance(vectoriser, CountVectorizer):
        raise UnsupportedPipelineError(
            f"{name} is not a CountVectorizer or TfidfVectorizer; Sealdog needs a fixed "
            "vocabulary of word n-grams (use one of those, or train with `sealdog train`)"
        )
    vocabulary = getattr(vectoriser, "vocabulary_", None)
    if not vocabulary:
        raise UnsupportedPipelineError(f"{name} is not fitted (no vocabulary_)")
    problems: list[str] = []
    if vectoriser.analyzer != "word":
        problems.append(f"analyzer={vectoriser.analyzer!r} (needs 'word')")
    if vectoriser.tokenizer is not None or vectoriser.preprocessor is not None:
        problems.append("a custom tokenizer/preprocessor")
    if vectoriser.token_pattern != SKLEARN_TOKEN_PATTERN:
        problems.append(f"token_pattern={vectoriser.token_pattern!r} (needs the default)")
    if vectoriser.strip_accents is not None:
        problems.append(f"strip_accents={vectoriser.strip_accents!r} (needs None)")
    if not vectoriser.lowercase:
        problems.append("lowercase=False")
    lo, hi = vectoriser.ngram_range
    if (lo, hi) not in ((1, 1), (1, 2)):
        problems.append(f"ngram_range={vectoriser.ngram_range} (needs (1, 1) or (1, 2))")
    if hi == 2 and vectoriser.stop_words is not None:
        problems.append("stop_words together with bigrams")
    column_weights = np.ones(len(vocabulary), dtype=np.float64)
    if isinstance(vectoriser, TfidfVectorizer):
        if vectoriser.norm is not None:
            problems.append(
                f"norm={vectoriser.norm!r} (needs None: per-e-mail normalisation is not linear)"
            )
        if vectoriser.sublinear_tf:
            problems.append("sublinear_tf=True")
        if vectoriser.use_idf:
            column_weights = np.asarray(vectoriser.idf_, dtype=np.float64)
    if vectoriser.binary:
        if max_count not in (None, 1):
            problems.append(f"max_count={max_count} with binary=True (binary means max_count 1)")
        count_cap = 1
    elif max_count is None:
        problems.append("binary=False needs an explicit max_count (counts above it are clipped)")
        count_cap = 1
    else:
        count_cap = int(max_count)
    if problems:
        raise UnsupportedPipelineError(f"cannot import {name}: " + "; ".join(problems))
    terms: list[str] = [""] * len(vocabulary)
    for term, column in vocabulary.items():
        words = term.split(" ")
        terms[column] = ("w:" if len(words) == 1 else "b:") + " ".join(words)
    spec = FeaturiserSpec(
        mode="vocabulary",
        tokeniser="sklearn-default",
        vocabulary=tuple(terms),
        max_count=count_cap,
        ngram_max=hi,
        subject_terms=False,
        length_terms=False,
        min_token_len=1,
        max_token_len=10_000,
    )
    return spec.validate(), column_weights
