"""Bit strings and their parity labels for the recurrent-parity experiments (NumPy only).

Strings are stored padded in a `(count, max_length)` uint8 array with a `lengths` vector;
positions at or beyond a string's length are zero and carry no meaning. Kept free of
PyTorch so the labels can be tested, and reused by the encrypted experiment, without it.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from sealdog.errors import SealdogError


class ParityDataError(SealdogError):
    """Invalid request for parity data (a length or a count out of range)."""


@dataclass(frozen=True)
class BitStrings:
    """Padded bit strings. Invariant: `bits[i, j] == 0` for every `j >= lengths[i]`."""

    bits: np.ndarray  # (count, max_length) uint8 in {0, 1}
    lengths: np.ndarray  # (count,) int64 in [1, max_length]

    def __len__(self) -> int:
        return int(self.bits.shape[0])

    @property
    def max_length(self) -> int:
        return int(self.bits.shape[1])

    def end_parity(self) -> np.ndarray:
        """Parity (XOR) of each whole string: shape (count,), values 0/1."""
        parity: np.ndarray = (self.bits.sum(axis=1, dtype=np.int64) % 2).astype(np.uint8)
        return parity

    def running_parity(self) -> np.ndarray:
        """Parity of every prefix: `out[i, t]` is the XOR of `bits[i, : t + 1]`.

        Past a string's end the padding zeros keep the value constant, so
        `out[i, lengths[i] - 1] == end_parity()[i]`.
        """
        return np.bitwise_xor.accumulate(self.bits, axis=1)

    def step_mask(self) -> np.ndarray:
        """True where position t is inside the string (t < length)."""
        return np.arange(self.max_length)[None, :] < self.lengths[:, None]


def random_bit_strings(
    rng: np.random.Generator, lengths: np.ndarray, max_length: int | None = None
) -> BitStrings:
    """Uniform random bits, one string per entry of `lengths` (each 1..max_length)."""
    lengths = np.asarray(lengths, dtype=np.int64)
    if lengths.ndim != 1 or lengths.size == 0:
        raise ParityDataError("lengths must be a non-empty 1-D array of string lengths")
    top = int(lengths.max()) if max_length is None else int(max_length)
    if int(lengths.min()) < 1 or int(lengths.max()) > top:
        raise ParityDataError(
            f"every length must lie in 1..{top}, got {lengths.min()}..{lengths.max()}"
        )
    bits = rng.integers(0, 2, size=(lengths.size, top), dtype=np.uint8)
    bits[np.arange(top)[None, :] >= lengths[:, None]] = 0
    return BitStrings(bits=bits, lengths=lengths)


def fixed_length_strings(rng: np.random.Generator, count: int, length: int) -> BitStrings:
    """`count` random strings, all of length `length` (the OpenAI warm-up's first set)."""
    _check_count(count)
    return random_bit_strings(rng, np.full(count, length, dtype=np.int64), length)


def random_length_strings(rng: np.random.Generator, count: int, max_length: int) -> BitStrings:
    """`count` random strings of lengths uniform in 1..max_length (the second set)."""
    _check_count(count)
    if max_length < 1:
        raise ParityDataError(f"max_length must be >= 1, got {max_length}")
    lengths = rng.integers(1, max_length + 1, size=count, dtype=np.int64)
    return random_bit_strings(rng, lengths, max_length)


def strings_of_each_length(
    rng: np.random.Generator, per_length: int, max_length: int
) -> BitStrings:
    """`per_length` strings of every length 1..max_length: the held-out evaluation grid."""
    _check_count(per_length)
    lengths = np.repeat(np.arange(1, max_length + 1, dtype=np.int64), per_length)
    return random_bit_strings(rng, lengths, max_length)


def _check_count(count: int) -> None:
    if count < 1:
        raise ParityDataError(f"need at least one string, got count={count}")
