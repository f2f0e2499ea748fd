"""Key switching: turn a ciphertext under any integer key matrix into one under S' = [I, T'].

For a source key S_src (m x n_src) and target S' = [I_m, T'] (T' is m x k), the switch matrix is

    M = [ S_src* - T' A + E ;  A ]   mod q,        (n' x n_src * l),   n' = m + k,

where S_src* multiplies column j of S_src by each power of the gadget base (2**(b*d), d < l),
A is uniform mod q and E is uniform on [-B, B]. Then S' M = S_src* + E, and for the digit
decomposition c* of c (so S_src* c* = S_src c):  S' (M c*) = S_src c + E c*  (mod q).
Every column is an LWE sample with secret T': that is what hides S_src (and, for linear
transform keys, the matrix G) from whoever holds M.

Matrices are made at the top modulus 2**log_q. A ciphertext at a lower modulus q_c (a
power of two dividing q) uses the first l_c digit columns reduced mod q_c: the identity
S' M = S_src* + E still holds mod q_c.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from sealdog.crypto.vhe.errors import VheShapeError
from sealdog.crypto.vhe.keys import Rng, SecretKey, system_rng
from sealdog.crypto.vhe.params import VheParams


@dataclass(frozen=True, repr=False)
class KeySwitchMatrix:
    """M (object array, shape (n', n_src, l_top)) switching from a source key to `target_key_id`."""

    params: VheParams
    target_key_id: str
    target_dim: int
    source_width: int
    matrix: np.ndarray
    seed: bytes  # the uniform rows A are SHAKE-256(seed): serialised keys store the seed only

    def __repr__(self) -> str:
        return (
            f"KeySwitchMatrix({self.source_width} -> dim {self.target_dim}, "
            f"target={self.target_key_id!r}, {self.matrix.shape[2]} digits)"
        )

    @property
    def columns(self) -> int:
        return self.source_width * int(self.matrix.shape[2])


def digit_decompose(values: Sequence[int], log_q: int, bits: int) -> np.ndarray:
    """Base-2**bits digits (least significant first) of each value in [0, 2**log_q).

    Shape (len(values), l)."""
    count = -(-log_q // bits)
    nbytes = (log_q + 7) // 8
    raw = np.frombuffer(b"".join(int(v).to_bytes(nbytes, "little") for v in values), dtype=np.uint8)
    bit_matrix = np.unpackbits(raw.reshape(len(values), nbytes), axis=1, bitorder="little")[
        :, :log_q
    ]
    if bits == 1:
        return bit_matrix.astype(np.int64)
    pad = count * bits - log_q
    if pad:
        bit_matrix = np.pad(bit_matrix, ((0, 0), (0, pad)))
    weights = (1 << np.arange(bits)).astype(np.int64)
    return bit_matrix.reshape(len(values), count, bits).astype(np.int64) @ weights


def expand_uniform(seed: bytes, log_q: int, shape: tuple[int, ...]) -> np.ndarray:
    """Uniform integers mod 2**log_q from SHAKE-256(seed): the public matrix A of a switch key."""
    count = int(np.prod(shape))
    nbytes = (log_q + 7) // 8
    stream = hashlib.shake_256(b"sealdog-vhe-A" + seed).digest(count * nbytes)
    mask = (1 << log_q) - 1
    values = [
        int.from_bytes(stream[i * nbytes : (i + 1) * nbytes], "little") & mask for i in range(count)
    ]
    return np.array(values, dtype=object).reshape(shape)


def make_key_switch(
    source: Sequence[Sequence[int]], target: SecretKey, rng: Rng | None = None
) -> KeySwitchMatrix:
    """The key holder's switch matrix from integer key `source` (m x n_src) to `target`."""
    params = target.params
    m = len(source)
    if m != target.dim:
        raise VheShapeError(
            f"source key has {m} rows but the target key decrypts {target.dim}-vectors"
        )
    n_src = len(source[0])
    if any(len(row) != n_src for row in source):
        raise VheShapeError("source key rows differ in length")
    rng = rng or system_rng()
    q, k, b = params.q, params.lwe_dim, params.decomposition_bits
    digits = params.digits(params.log_q)
    bound = params.error_bound
    matrix = np.empty((m + k, n_src, digits), dtype=object)
    seed = rng.getrandbits(256).to_bytes(32, "little")
    matrix[m:] = expand_uniform(seed, params.log_q, (k, n_src, digits))
    a_part = matrix[m:]
    powers = np.array([1 << (b * d) for d in range(digits)], dtype=object)
    for i in range(m):
        t_row = np.array(target.t[i], dtype=object)
        mask = np.tensordot(t_row, a_part, axes=1)  # (T' A) row i, shape (n_src, digits)
        gadget = np.outer(np.array([int(v) for v in source[i]], dtype=object), powers)
        errors = np.array(
            [rng.randint(-bound, bound) for _ in range(n_src * digits)], dtype=object
        ).reshape(n_src, digits)
        matrix[i] = (gadget - mask + errors) % q
    return KeySwitchMatrix(
        params=params,
        target_key_id=target.key_id,
        target_dim=m,
        source_width=n_src,
        matrix=matrix,
        seed=seed,
    )


def apply_key_switch(ksm: KeySwitchMatrix, c: Sequence[int], log_q: int) -> tuple[int, ...]:
    """M c* mod 2**log_q for a ciphertext vector c (entries in [0, 2**log_q))."""
    params = ksm.params
    if len(c) != ksm.source_width:
        raise VheShapeError(
            f"ciphertext has {len(c)} entries, the switch key expects {ksm.source_width}"
        )
    digits_needed = params.digits(log_q)
    decomposed = digit_decompose(c, log_q, params.decomposition_bits)  # (n_src, l_c)
    sub = ksm.matrix[:, :, :digits_needed].reshape(ksm.matrix.shape[0], -1)
    flat = decomposed.reshape(-1)
    if params.decomposition_bits == 1:
        selected = sub[:, flat.astype(bool)]
        sums = selected.sum(axis=1) if selected.shape[1] else np.zeros(sub.shape[0], dtype=object)
    else:
        sums = sub.dot(flat.astype(object))
    q_c = 1 << log_q
    return tuple(int(v) % q_c for v in sums)
