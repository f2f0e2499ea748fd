"""Precomputed subset products of frequent buckets: fewer modular products per e-mail.

Mail is not random: a few hundred buckets ("the", "to", "re", the sender's domain, ...)
occur in most e-mails. The K most frequent buckets are split into groups of g (in frequency
order) and, for every group, the product mod n^2 of every subset of its weight ciphertexts is
stored (2^g entries, entry 0 = 1). An e-mail's tokens in one group then cost one product
instead of one per token.

Counts (clipping at max_count, 1 or 2 in practice) stay exact by levels:
prod_i w_i^(x_i) = prod_{l >= 1} prod_{i : x_i >= l} w_i, so level l looks up, per group, the
subset of its buckets with count >= l. The result is the same integer mod n^2 as the plain
product (multiplication mod n^2 is commutative and associative): the same ciphertext, not
merely one that decrypts to the same score.

Where the ranking comes from, and what it reveals: bucket frequency is a property of mail,
not of the model's weights (a bucket is frequent whether its weight is large, small or zero),
so a ranking says nothing about which buckets matter to the model. Sealdog's server counts
it from the e-mails it scores (`BucketCounts`): it already reads every e-mail in the clear,
so it learns nothing new. A ranking taken from the key holder's training corpus would tell
the server that corpus's most frequent buckets (statistics of the owner's mail). Timing: an
e-mail whose tokens are frequent scores faster; a submitter timing its own requests could
learn, roughly, which buckets are frequent in the server's traffic (other submitters' mail
statistics in aggregate, never a single e-mail or any weight).

Memory: ceil(K/g) * 2^g ciphertexts of bitlen(n^2) bits each (`table_bytes`); building costs
one product per entry.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from gmpy2 import mpz

from sealdog.crypto.paillier.small_powers import small_power
from sealdog.errors import SealdogError

DEFAULT_TABLE_BUCKETS = 512  # K: chosen by measurement on Enron-Spam (docs/paillier.md, speed)
DEFAULT_GROUP_BITS = 8  # g: 2^g entries per group
MAX_GROUP_BITS = 12  # 4096 entries per group: beyond this the memory outgrows the gain


class SubsetTableError(SealdogError):
    """A ranking or table geometry that cannot be used (duplicate or out-of-range buckets)."""


@dataclass(frozen=True)
class SubsetProducts:
    """Subset products of grouped weight ciphertexts, for exact sparse products mod n^2.

    Invariants: groups are disjoint, each of at most `group_bits` buckets in 0..dim-1;
    tables[j][mask] = prod over set bits b of mask of weights[groups[j][b]] mod n^2 (entry 0
    is 1); group_of[i] = -1 for a bucket in no group, else its group (bit_of[i] its bit).
    """

    nsquare: mpz
    group_bits: int
    groups: tuple[tuple[int, ...], ...]
    tables: tuple[tuple[mpz, ...], ...] = field(repr=False)
    group_of: np.ndarray = field(repr=False)
    bit_of: np.ndarray = field(repr=False)

    @classmethod
    def build(
        cls,
        weights: Sequence[mpz],
        nsquare: mpz,
        buckets: Sequence[int],
        *,
        group_bits: int = DEFAULT_GROUP_BITS,
    ) -> SubsetProducts:
        """Tables for `buckets` (most frequent first), in consecutive groups of group_bits.

        One product per table entry: entry mask = entry (mask without its lowest bit) times
        the weight of that bit.
        """
        dim = len(weights)
        if not 1 <= group_bits <= MAX_GROUP_BITS:
            raise SubsetTableError(f"group_bits must be in 1..{MAX_GROUP_BITS}, got {group_bits}.")
        ranked = [int(b) for b in buckets]
        if any(not 0 <= b < dim for b in ranked) or len(set(ranked)) != len(ranked):
            raise SubsetTableError(f"Table buckets must be distinct and in 0..{dim - 1}.")
        group_of = np.full(dim, -1, dtype=np.int64)
        bit_of = np.zeros(dim, dtype=np.int64)
        groups: list[tuple[int, ...]] = []
        tables: list[tuple[mpz, ...]] = []
        for j, start in enumerate(range(0, len(ranked), group_bits)):
            group = tuple(ranked[start : start + group_bits])
            group_of[list(group)] = j
            bit_of[list(group)] = np.arange(len(group))
            groups.append(group)
            tables.append(subset_table([weights[b] for b in group], nsquare))
        return cls(mpz(nsquare), group_bits, tuple(groups), tuple(tables), group_of, bit_of)

    @property
    def entries(self) -> int:
        return sum(len(t) for t in self.tables)

    def table_bytes(self) -> int:
        """Approximate memory of the tables: entries * (bytes of n^2 + mpz object overhead)."""
        return self.entries * ((int(self.nsquare.bit_length()) + 7) // 8 + 32)

    def product(
        self, acc: mpz, weights: Sequence[mpz], idx: Sequence[int], counts: Sequence[int] | None
    ) -> mpz:
        """acc * prod_i weights[i]^counts[i] mod n^2 (counts None: all 1), exactly.

        Tokens in a group cost one product per group and count level; the others one
        product each (`small_power` for a count above 1), as in the plain path.
        """
        nsq = self.nsquare
        group_of, bit_of = self.group_of, self.bit_of
        levels: list[dict[int, int]] = [{}]
        for pos, i in enumerate(idx):
            x = 1 if counts is None else counts[pos]
            j = int(group_of[i])
            if j < 0:
                acc = acc * (weights[i] if x == 1 else small_power(weights[i], x, nsq)) % nsq
                continue
            bit = 1 << int(bit_of[i])
            while len(levels) < x:
                levels.append({})
            for level in levels[:x]:
                level[j] = level.get(j, 0) | bit
        tables = self.tables
        for level in levels:
            for j, mask in level.items():
                acc = acc * tables[j][mask] % nsq
        return acc


def subset_table(cts: Sequence[mpz], nsquare: mpz) -> tuple[mpz, ...]:
    """[prod over set bits b of mask of cts[b] mod n^2 for mask in 0..2^len-1]; entry 0 = 1.

    Invariant: 2^len - 1 - len products (each entry with one bit set is its ciphertext).
    """
    table: list[mpz] = [mpz(1)]
    for bit, c in enumerate(cts):
        table.append(c)
        for mask in range(1, 1 << bit):
            table.append(table[mask] * c % nsquare)
    return tuple(table)


class BucketCounts:
    """In how many e-mails each bucket occurred: the ranking a server learns from traffic.

    Counting reads only indices the server already holds in the clear. `top(k)` is
    deterministic (frequency descending, then bucket index ascending).
    """

    def __init__(self, dim: int) -> None:
        self.counts = np.zeros(dim, dtype=np.int64)
        self.emails = 0

    def add(self, indices: np.ndarray) -> None:
        """Count one e-mail's distinct bucket indices (validated by the scorer beforehand)."""
        self.counts[np.asarray(indices, dtype=np.int64)] += 1
        self.emails += 1

    def top(self, k: int) -> list[int]:
        """The k most frequent buckets that occurred at least once, most frequent first."""
        seen = np.flatnonzero(self.counts)
        order = np.lexsort((seen, -self.counts[seen]))
        return [int(b) for b in seen[order][:k]]


DEFAULT_LEARN_EMAILS = 500  # e-mails counted before the tables are built (once per process)


class LearnedTables:
    """Subset-product tables ranked by the traffic a scoring process sees (see module doc).

    Counts the buckets of the first `learn_emails` scored e-mails, then builds the tables
    once (about ceil(buckets/g) * 2^g products, a fraction of a second at 3072 bits) and
    stops counting. Until then `tables` is None and scoring takes the plain path: the
    ciphertexts are the same either way.
    """

    def __init__(
        self,
        weights: Sequence[mpz],
        nsquare: mpz,
        *,
        learn_emails: int = DEFAULT_LEARN_EMAILS,
        buckets: int = DEFAULT_TABLE_BUCKETS,
        group_bits: int = DEFAULT_GROUP_BITS,
    ) -> None:
        self._weights, self._nsquare = weights, nsquare
        self._learn_emails, self._buckets, self._group_bits = learn_emails, buckets, group_bits
        self._counts: BucketCounts | None = BucketCounts(len(weights))
        self.tables: SubsetProducts | None = None

    def observe(self, vectors: Sequence[tuple[np.ndarray, np.ndarray]]) -> SubsetProducts | None:
        """Count these (already validated) inputs; the tables when this call built them."""
        counts = self._counts
        if counts is None:
            return None
        for indices, _ in vectors:
            counts.add(indices)
        if counts.emails < self._learn_emails:
            return None
        self.tables = SubsetProducts.build(
            self._weights, self._nsquare, counts.top(self._buckets), group_bits=self._group_bits
        )
        self._counts = None
        return self.tables
