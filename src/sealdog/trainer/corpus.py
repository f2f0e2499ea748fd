"""Corpus to sparse matrix: parse and tokenise many e-mails (in parallel), then index them.

The per-e-mail work is exactly `Featuriser.email_terms(raw)` followed by
`Featuriser.index_terms`, the same calls the server makes for one e-mail, so training
features and scoring features cannot drift apart.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np
import scipy.sparse as sp

from sealdog.mail.featuriser import Featuriser, FeaturiserSpec, SparseFeatures
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES

ProgressCallback = Callable[[int], None]
"""Called with the number of e-mails just finished."""

_CHUNK = 400
_PARALLEL_MIN = 2_000


def default_workers() -> int:
    return max(1, min(2, os.cpu_count() or 1))


def _terms_chunk(args: tuple[dict[str, Any], list[bytes], int]) -> list[list[str]]:
    spec_dict, raws, max_bytes = args
    featuriser = Featuriser.from_spec(spec_dict)
    return [featuriser.email_terms(raw, max_bytes=max_bytes) for raw in raws]


def corpus_terms(
    raws: Sequence[bytes],
    spec: FeaturiserSpec,
    *,
    workers: int | None = None,
    progress: ProgressCallback | None = None,
    max_bytes: int = DEFAULT_MAX_EMAIL_BYTES,
) -> list[list[str]]:
    """Term lists of every raw e-mail, in input order (only `spec`'s tokeniser settings matter)."""
    workers = default_workers() if workers is None else max(1, workers)
    # Terms do not depend on the mode or vocabulary: ship a light spec to the workers.
    light = FeaturiserSpec(**{**spec.__dict__, "mode": "hashing", "vocabulary": (), "n_buckets": 1})
    light_dict = light.to_dict()
    chunks = [list(raws[i : i + _CHUNK]) for i in range(0, len(raws), _CHUNK)]
    out: list[list[str]] = []
    if workers == 1 or len(raws) < _PARALLEL_MIN:
        for chunk in chunks:
            out.extend(_terms_chunk((light_dict, chunk, max_bytes)))
            if progress:
                progress(len(chunk))
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        jobs = ((light_dict, chunk, max_bytes) for chunk in chunks)
        for chunk, result in zip(chunks, pool.map(_terms_chunk, jobs)):
            out.extend(result)
            if progress:
                progress(len(chunk))
    return out


def index_corpus(featuriser: Featuriser, term_lists: Sequence[Sequence[str]]) -> sp.csr_matrix:
    """Rows of `featuriser.index_terms`, stacked into a CSR matrix of int64 counts."""
    return rows_to_matrix([featuriser.index_terms(t) for t in term_lists], featuriser.n_features)


def rows_to_matrix(rows: Sequence[SparseFeatures], n_features: int) -> sp.csr_matrix:
    """Stack `SparseFeatures` rows into an (n_rows, n_features) CSR matrix."""
    indptr = np.zeros(len(rows) + 1, dtype=np.int64)
    np.cumsum([len(r.indices) for r in rows], out=indptr[1:])
    if rows:
        indices = np.concatenate([r.indices for r in rows])
        data = np.concatenate([r.counts for r in rows])
    else:
        indices = np.zeros(0, dtype=np.int64)
        data = np.zeros(0, dtype=np.int64)
    return sp.csr_matrix((data, indices, indptr), shape=(len(rows), n_features))
