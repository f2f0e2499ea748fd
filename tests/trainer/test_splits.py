"""Duplicate-aware stratified folds: groups together, balanced, seeded, order-free."""

from __future__ import annotations

import random

import numpy as np
import pytest

from sealdog.trainer.splits import content_key, duplicate_aware_folds, duplicate_groups


def _corpus() -> tuple[list[bytes], list[int]]:
    raws: list[bytes] = []
    labels: list[int] = []
    for i in range(120):
        spam = int(i % 4 == 0)
        body = f"{'Buy now' if spam else 'Meeting notes'} number {i}, long enough to be hashed."
        raws.append(f"Message-ID: <{i}@x>\nSubject: s\n\n{body}\n".encode())
        labels.append(spam)
    # Duplicates: a re-sent copy (same body, new Message-ID) and a same-Message-ID copy.
    raws.append(b"Message-ID: <999@x>\nSubject: again\n\n" + raws[3].split(b"\n\n", 1)[1])
    labels.append(labels[3])
    raws.append(
        b"Message-ID: <8@x>\nSubject: copy\n\nanother body, long enough to be hashed too.\n"
    )
    labels.append(labels[8])
    return raws, labels


def _folds(raws: list[bytes], labels: list[int], seed: int = 0) -> np.ndarray:
    return duplicate_aware_folds(
        labels, duplicate_groups(raws), [content_key(r) for r in raws], k=5, seed=seed
    )


def test_duplicates_share_a_fold_and_folds_are_stratified() -> None:
    raws, labels = _corpus()
    folds = _folds(raws, labels)
    assert folds[120] == folds[3] and folds[121] == folds[8]
    assert set(folds.tolist()) == set(range(5))
    y = np.array(labels)
    for label in (0, 1):
        sizes = np.bincount(folds[y == label], minlength=5)
        assert sizes.max() - sizes.min() <= 2, sizes


def test_folds_do_not_depend_on_input_order_but_on_the_seed() -> None:
    raws, labels = _corpus()
    reference = dict(zip((content_key(r) for r in raws), _folds(raws, labels).tolist()))
    order = list(range(len(raws)))
    random.Random(7).shuffle(order)
    shuffled = _folds([raws[i] for i in order], [labels[i] for i in order])
    assert {content_key(raws[i]): int(f) for i, f in zip(order, shuffled)} == reference
    other_seed = _folds(raws, labels, seed=1)
    assert other_seed.tolist() != [reference[content_key(r)] for r in raws]


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="same length"):
        duplicate_aware_folds([0, 1], [0], ["a", "b"])
    with pytest.raises(ValueError, match="at least 2"):
        duplicate_aware_folds([0, 1], [0, 1], ["a", "b"], k=1)
