"""Featuriser: determinism (in-process, across processes, pinned), spec round trip, invariants."""

from __future__ import annotations

import hashlib
import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.data.sample_corpus import load_samples
from sealdog.mail.featuriser import (
    Featuriser,
    FeaturiserSpec,
    FeaturiserSpecError,
    SparseFeatures,
    fit_vocabulary,
)
from sealdog.mail.message import EmailText, email_to_text
from sealdog.trainer.corpus import corpus_terms, index_corpus

TEXT = (
    "Subject: Cheap meds!!! Buy now\n\n"
    "Buy cheap meds now, cheap cheap $99 only. Visit www.example.com today"
)


def _digest(features: SparseFeatures) -> str:
    return hashlib.sha256(features.indices.tobytes() + b"|" + features.counts.tobytes()).hexdigest()


def test_terms_follow_the_documented_scheme() -> None:
    f = Featuriser.from_spec(FeaturiserSpec(n_buckets=1024, ngram_max=2, length_terms=True))
    terms = f.terms(EmailText.from_text(TEXT))
    assert terms[:5] == ["s:cheap", "s:meds", "s:!", "s:!", "s:!"]
    assert "w:www.example.com" in terms and "w:$" in terms and "w:99" in terms
    assert "b:cheap cheap" in terms and "b:buy cheap" in terms
    body_tokens = f.tokens(EmailText.from_text(TEXT).body)
    assert terms[-1] == f"n:{len(body_tokens).bit_length()}"


def test_features_are_sorted_unique_int64_and_clipped() -> None:
    for max_count in (1, 2, 3):
        f = Featuriser.from_spec(FeaturiserSpec(n_buckets=4096, max_count=max_count))
        feats = f.featurise(TEXT)
        assert feats.indices.dtype == np.int64 and feats.counts.dtype == np.int64
        assert np.all(np.diff(feats.indices) > 0)
        assert feats.counts.min() >= 1 and feats.counts.max() == max_count  # "cheap" occurs 3x


def test_pinned_hashing_output() -> None:
    """Changing this output breaks every sealed model already deployed: bump the spec version."""
    spec = FeaturiserSpec(
        n_buckets=2**18, max_count=1, ngram_max=2, subject_terms=True, length_terms=True
    )
    feats = Featuriser.from_spec(spec).featurise(TEXT)
    assert feats.indices[:6].tolist() == PINNED_FIRST_INDICES
    assert len(feats.indices) == PINNED_LENGTH


PINNED_FIRST_INDICES = [35789, 44322, 46081, 54137, 58037, 73415]
PINNED_LENGTH = 27


def test_same_features_in_fresh_instances_and_from_raw_bytes() -> None:
    spec = FeaturiserSpec(n_buckets=2**16)
    for sample in load_samples():
        a = Featuriser.from_spec(spec).featurise_email(sample.raw)
        b = Featuriser.from_spec(spec.to_dict()).featurise(email_to_text(sample.raw))
        assert _digest(a) == _digest(b), sample.name


def test_parallel_corpus_features_equal_serial() -> None:
    raws = [s.raw for s in load_samples()] * 50  # 2,000 e-mails: above the parallel threshold
    f = Featuriser.from_spec(FeaturiserSpec(n_buckets=2**16))
    serial = index_corpus(f, corpus_terms(raws, f.spec, workers=1))
    parallel = index_corpus(f, corpus_terms(raws, f.spec, workers=2))
    assert (serial != parallel).nnz == 0
    direct = f.featurise_email(raws[3])
    assert serial[3].indices.tolist() == direct.indices.tolist()


def test_vocabulary_mode_indexes_by_position_and_ignores_unknown_terms() -> None:
    spec = FeaturiserSpec(
        mode="vocabulary", vocabulary=("w:buy", "s:cheap", "w:cheap", "w:zzz"), max_count=2
    )
    feats = Featuriser.from_spec(spec).featurise(TEXT)
    assert feats.indices.tolist() == [0, 1, 2]
    assert feats.counts.tolist() == [1, 1, 2]


def test_fit_vocabulary_min_df_and_cap() -> None:
    docs = [["w:a", "w:b", "w:a"], ["w:a", "w:c"], ["w:b", "w:a"]]
    assert fit_vocabulary(docs, min_df=2) == ("w:a", "w:b")
    assert fit_vocabulary(docs, min_df=1, max_terms=1) == ("w:a",)


@pytest.mark.parametrize(
    "spec",
    [
        FeaturiserSpec(),
        FeaturiserSpec(n_buckets=17, hash_key="k", max_count=3, ngram_max=1, subject_terms=False),
        FeaturiserSpec(mode="vocabulary", vocabulary=("w:a", "s:b")),
    ],
)
def test_spec_round_trips_through_json(spec: FeaturiserSpec) -> None:
    data = json.loads(json.dumps(spec.to_dict()))
    assert data["format"] == "sealdog.featuriser" and data["version"] == 1
    assert FeaturiserSpec.from_dict(data) == spec
    assert Featuriser.from_spec(data).n_features == spec.n_features


@pytest.mark.parametrize(
    ("patch", "message"),
    [
        ({"mode": "magic"}, "mode"),
        ({"version": 99}, "version"),
        ({"n_buckets": 0}, "n_buckets"),
        ({"max_count": 0}, "max_count"),
        ({"ngram_max": 3}, "ngram_max"),
        ({"surprise": 1}, "unknown fields"),
        ({"format": "other"}, "not a featuriser spec"),
        ({"mode": "vocabulary", "vocabulary": []}, "non-empty vocabulary"),
        ({"mode": "vocabulary", "vocabulary": ["w:a", "w:a"]}, "duplicate"),
        ({"hash_key": "k" * 65}, "hash_key"),
        ({"tokeniser": "(a+)+$"}, "tokeniser"),
        ({"mode": "vocabulary", "vocabulary": [["w:a"], "w:b"]}, "strings"),
        ({"n_buckets": True}, "n_buckets"),
    ],
)
def test_invalid_specs_are_refused_with_a_clear_error(patch: dict, message: str) -> None:
    data = {**FeaturiserSpec().to_dict(), **patch}
    with pytest.raises(FeaturiserSpecError, match=message):
        FeaturiserSpec.from_dict(data)


def test_spec_from_non_mapping() -> None:
    with pytest.raises(FeaturiserSpecError, match="JSON object"):
        FeaturiserSpec.from_dict(["not", "a", "dict"])  # type: ignore[arg-type]


@settings(max_examples=200, deadline=None)
@given(text=st.text(max_size=400), buckets=st.integers(1, 5000), max_count=st.integers(1, 4))
def test_any_text_gives_in_range_features(text: str, buckets: int, max_count: int) -> None:
    f = Featuriser.from_spec(
        FeaturiserSpec(n_buckets=buckets, max_count=max_count, length_terms=True)
    )
    feats = f.featurise(text)
    assert _digest(feats) == _digest(Featuriser.from_spec(f.spec.to_dict()).featurise(text))
    if len(feats.indices):
        assert feats.indices.min() >= 0 and feats.indices.max() < buckets
        assert feats.counts.min() >= 1 and feats.counts.max() <= max_count
    assert len(feats.indices) >= 1  # the length term is always there
