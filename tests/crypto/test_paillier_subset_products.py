"""Subset-product tables give exactly the plain path's ciphertexts (same integers mod n^2)."""

from __future__ import annotations

import numpy as np
import pytest
from gmpy2 import mpz
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.paillier import (
    LinearScorer,
    decrypt_scores,
    decrypt_verdicts,
    generate_keypair,
    seal_linear,
)
from sealdog.crypto.paillier.subset_products import (
    BucketCounts,
    LearnedTables,
    SubsetProducts,
    SubsetTableError,
    subset_table,
)
from sealdog.crypto.paillier.verdicts import Mode

PK, SK = generate_keypair(512, insecure=True)
DIM = 40
RNG = np.random.default_rng(7)
W = np.round(RNG.normal(0, 2, DIM), 3)
SEALED = seal_linear(PK, W, 0.25, scale_bits=10, max_count=3)


def plain_product(acc: mpz, idx: list[int], counts: list[int] | None) -> mpz:
    nsq = PK.nsquare
    for pos, i in enumerate(idx):
        x = 1 if counts is None else counts[pos]
        for _ in range(x):
            acc = acc * SEALED.weights[i] % nsq
    return acc


@settings(max_examples=120, deadline=None)
@given(
    ranking=st.lists(st.integers(0, DIM - 1), unique=True, max_size=DIM),
    group_bits=st.integers(1, 6),
    features=st.dictionaries(st.integers(0, DIM - 1), st.integers(1, 3), max_size=DIM),
    binary=st.booleans(),
)
def test_table_product_is_the_plain_product(
    ranking: list[int], group_bits: int, features: dict[int, int], binary: bool
) -> None:
    tables = SubsetProducts.build(SEALED.weights, PK.nsquare, ranking, group_bits=group_bits)
    idx = sorted(features)
    counts = None if binary else [features[i] for i in idx]
    got = tables.product(SEALED.bias, SEALED.weights, idx, counts)
    assert got == plain_product(SEALED.bias, idx, counts)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(2, 10**9), max_size=7), st.integers(11, 10**6))
def test_subset_table_entries_are_subset_products(values: list[int], modulus: int) -> None:
    table = subset_table([mpz(v) for v in values], mpz(modulus))
    assert len(table) == 1 << len(values)
    for mask, entry in enumerate(table):
        expected = mpz(1)
        for bit, v in enumerate(values):
            if mask >> bit & 1:
                expected = expected * v % modulus
        # entry 0 and single-bit entries are stored unreduced (1 and the ciphertext itself)
        assert entry % modulus == expected


@pytest.mark.parametrize("mode", [Mode.VERDICT, Mode.SCORE])
def test_scorer_with_tables_matches_plaintext_and_plain_scorer(mode: Mode) -> None:
    rng = np.random.default_rng(3)
    vectors = []
    for _ in range(25):
        idx = np.sort(rng.choice(DIM, size=int(rng.integers(0, 15)), replace=False))
        vectors.append((idx.astype(np.int64), rng.integers(1, 4, size=idx.size)))
    counts = BucketCounts(DIM)
    for idx, _ in vectors:
        counts.add(idx)
    tables = SubsetProducts.build(SEALED.weights, PK.nsquare, counts.top(24), group_bits=4)
    fast = LinearScorer(SEALED, mode=mode, subset_products=tables)
    plain = LinearScorer(SEALED, mode=mode)
    for idx, cnt in vectors:
        i, c = fast.check_vector(idx, cnt)
        assert fast.encrypted_score(i, c) == plain.encrypted_score(i, c)
    ev = fast.score_batch(vectors)
    w_ints = np.round(W * 2**10).astype(np.int64)
    b_int = round(0.25 * 2**10)
    scores = [b_int + int(np.dot(w_ints[i], c)) for i, c in vectors]
    assert decrypt_verdicts(SK, ev) == [s >= 0 for s in scores]
    if mode is Mode.SCORE:
        assert decrypt_scores(SK, ev) == scores


def test_tables_for_another_model_are_refused() -> None:
    other = seal_linear(PK, W[:10], 0.0, scale_bits=10)
    tables = SubsetProducts.build(other.weights, PK.nsquare, [0, 1, 2])
    with pytest.raises(SubsetTableError):
        LinearScorer(SEALED, subset_products=tables)


@pytest.mark.parametrize("ranking", [[0, 0], [DIM], [-1]])
def test_bad_rankings_are_refused(ranking: list[int]) -> None:
    with pytest.raises(SubsetTableError):
        SubsetProducts.build(SEALED.weights, PK.nsquare, ranking)


def test_bucket_counts_rank_by_frequency_then_index() -> None:
    counts = BucketCounts(10)
    for idx in ([1, 5, 7], [5, 7], [7, 9], [3]):
        counts.add(np.array(idx))
    assert counts.emails == 4
    assert counts.top(3) == [7, 5, 1]
    assert counts.top(10) == [7, 5, 1, 3, 9]  # never-seen buckets are not ranked


def test_table_geometry_and_memory() -> None:
    tables = SubsetProducts.build(SEALED.weights, PK.nsquare, list(range(20)), group_bits=8)
    assert [len(g) for g in tables.groups] == [8, 8, 4]
    assert tables.entries == 256 + 256 + 16
    assert tables.table_bytes() == tables.entries * ((PK.nsquare.bit_length() + 7) // 8 + 32)


def test_learned_tables_are_built_once_after_enough_emails() -> None:
    learned = LearnedTables(SEALED.weights, PK.nsquare, learn_emails=3, buckets=4, group_bits=2)
    one = np.ones(2, dtype=np.int64)
    assert learned.observe([(np.array([3, 9]), one), (np.array([3, 5]), one)]) is None
    assert learned.tables is None
    built = learned.observe([(np.array([3, 5]), one)])
    assert built is learned.tables and built is not None
    assert built.groups == ((3, 5), (9,))  # 3 (3 e-mails), 5 (2), 9 (1)
    assert learned.observe([(np.array([1, 2]), one)]) is None  # counting has stopped
    assert learned.tables is built
