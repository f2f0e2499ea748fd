"""Parity labels and string generation, checked against a plain-Python XOR (no torch)."""

from __future__ import annotations

import functools
import operator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.experiments.parity_data import (
    BitStrings,
    ParityDataError,
    fixed_length_strings,
    random_bit_strings,
    random_length_strings,
    strings_of_each_length,
)


def _xor(bits: list[int]) -> int:
    return functools.reduce(operator.xor, bits, 0)


@settings(max_examples=50, deadline=None)
@given(st.lists(st.lists(st.integers(0, 1), min_size=1, max_size=12), min_size=1, max_size=8))
def test_labels_match_python_xor(strings: list[list[int]]) -> None:
    width = max(len(s) for s in strings)
    bits = np.zeros((len(strings), width), dtype=np.uint8)
    for i, s in enumerate(strings):
        bits[i, : len(s)] = s
    data = BitStrings(bits=bits, lengths=np.array([len(s) for s in strings], dtype=np.int64))

    assert data.end_parity().tolist() == [_xor(s) for s in strings]
    running = data.running_parity()
    for i, s in enumerate(strings):
        assert running[i, : len(s)].tolist() == [_xor(s[: t + 1]) for t in range(len(s))]


def test_generated_strings_respect_lengths_and_padding() -> None:
    rng = np.random.default_rng(1)
    data = random_length_strings(rng, 2000, 50)
    assert data.bits.shape == (2000, 50)
    assert data.lengths.min() >= 1 and data.lengths.max() <= 50
    assert len(np.unique(data.lengths)) == 50  # every length occurs in 2,000 draws
    assert not data.bits[~data.step_mask()].any()  # padding is zero
    # the running parity at the last real step is the end parity
    last = data.running_parity()[np.arange(len(data)), data.lengths - 1]
    assert np.array_equal(last, data.end_parity())
    # bits are balanced, labels are balanced (a fair coin, not a constant)
    assert 0.45 < data.bits[data.step_mask()].mean() < 0.55
    assert 0.45 < data.end_parity().mean() < 0.55


def test_fixed_and_grid_sets() -> None:
    rng = np.random.default_rng(2)
    fixed = fixed_length_strings(rng, 100, 50)
    assert set(fixed.lengths.tolist()) == {50}
    grid = strings_of_each_length(rng, 3, 50)
    assert len(grid) == 150
    assert np.array_equal(np.bincount(grid.lengths)[1:], np.full(50, 3))


def test_generation_is_seeded() -> None:
    a = random_length_strings(np.random.default_rng(7), 50, 50)
    b = random_length_strings(np.random.default_rng(7), 50, 50)
    assert np.array_equal(a.bits, b.bits) and np.array_equal(a.lengths, b.lengths)


@pytest.mark.parametrize(
    "call",
    [
        lambda rng: fixed_length_strings(rng, 0, 50),
        lambda rng: random_length_strings(rng, 10, 0),
        lambda rng: random_bit_strings(rng, np.array([0, 3])),
        lambda rng: random_bit_strings(rng, np.array([5]), max_length=4),
        lambda rng: random_bit_strings(rng, np.array([], dtype=np.int64)),
    ],
)
def test_bad_requests_raise_clear_errors(call) -> None:
    with pytest.raises(ParityDataError):
        call(np.random.default_rng(0))
