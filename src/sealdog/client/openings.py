"""Checking a sealed linear model against its plaintext model, with or without the secret key.

Every unit c of Z_{n^2} has exactly one representation c = g^m * r^n (g = n + 1, m in Z_n,
r in Z_n^*): m is the plaintext, r the *opening* (encryption randomness).

- Key holder (`recover_openings`): r = (c mod n)^(n^-1 mod phi(n)) mod n, by CRT over p and q
  (two half-size powmods per ciphertext). m comes from the plaintext model itself.
- Auditor, exact (`verify_exact`): re-encrypt, c_i == (1 + m_i*n) * r_i^n mod n^2 for every i
  (`sealdog.crypto.paillier.encrypt`, one full powmod per ciphertext); reports every index
  that differs.
- Auditor, batched (`verify_batched`): with fresh random e_i < 2^128 chosen after the openings
  are fixed, check  prod c_i^e_i == (1 + n*sum e_i m_i) * (prod r_i^e_i)^n  (mod n^2).
  Soundness for the plaintexts: writing d_i = c_i / (g^m_i r_i^n) = g^delta_i * s_i^n, the test
  needs sum e_i*delta_i = 0 (mod n); if some delta_j != 0 its order in Z_n is at least
  min(p, q) > 2^128, so at most one e_j in [0, 2^128) satisfies it: the chance that a wrong
  plaintext passes is at most 2^-128. (Wrong *randomness* can pass with small-order s_i;
  the auditor's question is the plaintexts, and the server re-randomises every output.)
  Cost: two 128-bit-exponent powmods per ciphertext instead of one n-bit one.
- Key holder, batched (`check_with_secret_key`): the same linear test on decryptions,
  Dec(prod c_i^e_i) == sum e_i m_i (mod n), one decryption in all.

Openings file: a `sealdog.crypto.frame` frame, b"SDOP" | u8 version | u32 header length |
header JSON (format, key fingerprint, model digest, count, width) | count fixed-width big-endian
r values. Bound to the model digest.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import gmpy2
import numpy as np
from gmpy2 import mpz

from sealdog.client.errors import AuditError
from sealdog.crypto.frame import Frame
from sealdog.crypto.paillier import Ciphertexts, FixedPoint, PublicKey, SecretKey, encrypt
from sealdog.errors import CorruptDataError
from sealdog.fileio import atomic_write_bytes
from sealdog.sealed_model import SealedModel

OPENINGS_MAGIC = b"SDOP"
OPENINGS_VERSION = 1
OPENINGS_FORMAT = "sealdog-paillier-openings"
OPENINGS_FRAME = Frame(OPENINGS_MAGIC, OPENINGS_VERSION, OPENINGS_FORMAT, "a Sealdog openings file")
BATCH_EXPONENT_BITS = 128
_CHUNK = 512

Progress = Callable[[int, int], None]
"""Called with (done, total)."""

_Job = TypeVar("_Job", bound=tuple[Any, ...])
_Result = TypeVar("_Result")
_Item = TypeVar("_Item")


@dataclass(frozen=True)
class ModelOpenings:
    """r_i of every ciphertext of one sealed model (bias first, as in the payload)."""

    key_fingerprint: str
    model_digest: str
    values: list[mpz]

    def to_bytes(self, n_bits: int) -> bytes:
        width = (n_bits + 7) // 8
        header = {
            "format": OPENINGS_FORMAT,
            "key_fingerprint": self.key_fingerprint,
            "model_digest": self.model_digest,
            "count": len(self.values),
            "width": width,
        }
        body = b"".join(int(r).to_bytes(width, "big") for r in self.values)
        return OPENINGS_FRAME.write(header, body)

    @classmethod
    def from_bytes(cls, data: bytes) -> ModelOpenings:
        try:
            header, body = OPENINGS_FRAME.read(data)
        except CorruptDataError as exc:
            raise AuditError(f"{exc} Export openings with `sealdog export-openings`.") from exc
        try:
            count, width = int(header["count"]), int(header["width"])
            fingerprint, digest = str(header["key_fingerprint"]), str(header["model_digest"])
        except (ValueError, KeyError, TypeError) as exc:
            raise AuditError("Openings file header is malformed.") from exc
        if width <= 0 or len(body) != count * width:
            raise AuditError(
                f"Openings file is truncated: {len(body)} bytes for {count} x {width}."
            )
        values = [mpz.from_bytes(body[i * width : (i + 1) * width], "big") for i in range(count)]
        return cls(fingerprint, digest, values)


def write_openings(path: str | os.PathLike[str], openings: ModelOpenings, n_bits: int) -> None:
    atomic_write_bytes(path, openings.to_bytes(n_bits), mode=0o644)


def read_openings(path: str | os.PathLike[str]) -> ModelOpenings:
    try:
        return ModelOpenings.from_bytes(Path(path).read_bytes())
    except OSError as exc:
        raise AuditError(f"Cannot read openings file {path}: {exc.strerror or exc}.") from exc


def model_ciphertexts(model: SealedModel) -> tuple[PublicKey, Ciphertexts]:
    """[bias, w_0, ..., w_{d-1}] ciphertexts of a validated linear sealed model."""
    sealed = model.linear()
    return sealed.public_key, [sealed.bias, *sealed.weights]


def expected_plaintexts(model: SealedModel, weights: np.ndarray, bias: float) -> list[int]:
    """The fixed-point integers the sealed model must hold: [encode(bias), encode(w_i)...]."""
    scale_bits = int(model.manifest["scale_bits"])
    w = np.asarray(weights, dtype=np.float64).reshape(-1)
    dim = int(model.manifest["dim"])
    if w.size != dim:
        raise AuditError(
            f"The plaintext model has {w.size} weights, the sealed model {dim}: not the same model."
        )
    fp = FixedPoint(scale_bits)
    return [int(fp.encode(float(bias))), *(int(x) for x in fp.encode(w))]


def _pool_map(
    fn: Callable[[_Job], list[_Result]],
    jobs: Sequence[_Job],
    workers: int | None,
    progress: Progress | None,
    total: int,
) -> list[_Result]:
    """fn over jobs (in a process pool unless workers == 1), results concatenated in order;
    progress counts the items of each job's last element."""
    out: list[_Result] = []
    workers = workers or os.cpu_count() or 1
    done = 0
    if workers == 1 or len(jobs) == 1:
        results = map(fn, jobs)
        for job, res in zip(jobs, results):
            out.extend(res)
            done += len(job[-1])
            if progress:
                progress(done, total)
        return out
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for job, res in zip(jobs, pool.map(fn, jobs)):
            out.extend(res)
            done += len(job[-1])
            if progress:
                progress(done, total)
    return out


def _chunks(items: Sequence[_Item], size: int = _CHUNK) -> list[list[_Item]]:
    return [list(items[i : i + size]) for i in range(0, len(items), size)]


# --- key holder ---------------------------------------------------------------------------


def _recover_chunk(job: tuple[int, int, list[int]]) -> list[int]:
    p, q, cts = mpz(job[0]), mpz(job[1]), job[2]
    n = p * q
    dp, dq = gmpy2.invert(n, p - 1), gmpy2.invert(n, q - 1)
    q_inv_p = gmpy2.invert(q, p)
    out = []
    for c in cts:
        rp = gmpy2.powmod(c % p, dp, p)  # int % mpz is an mpz
        rq = gmpy2.powmod(c % q, dq, q)
        out.append(int(rq + q * ((rp - rq) * q_inv_p % p)))
    return out


def recover_openings(
    secret_key: SecretKey,
    model: SealedModel,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> ModelOpenings:
    """The randomness r_i of every ciphertext (needs the secret key; see module doc)."""
    pk, cts = model_ciphertexts(model)
    if pk.fingerprint != secret_key.public_key.fingerprint:
        raise AuditError(
            f"The sealed model is for key {pk.fingerprint[:16]}..., not for this secret key "
            f"({secret_key.public_key.fingerprint[:16]}...)."
        )
    p, q = int(secret_key.p), int(secret_key.q)
    jobs = [(p, q, [int(c) for c in chunk]) for chunk in _chunks(cts)]
    values = _pool_map(_recover_chunk, jobs, workers, progress, len(cts))
    return ModelOpenings(pk.fingerprint, model.digest, [mpz(v) for v in values])


def _short_exponents(count: int) -> list[int]:
    return [secrets.randbits(BATCH_EXPONENT_BITS) | 1 for _ in range(count)]


def _multi_power_chunk(job: tuple[int, list[int], list[int]]) -> list[int]:
    """prod c_i^e_i mod m for one chunk (returned as a one-element list)."""
    modulus, exps, cts = mpz(job[0]), job[1], job[2]
    acc = mpz(1)
    for c, e in zip(cts, exps):
        acc = acc * gmpy2.powmod(mpz(c), e, modulus) % modulus
    return [int(acc)]


def _multi_power(
    values: Sequence[mpz],
    exps: Sequence[int],
    modulus: int,
    workers: int | None,
    progress: Progress | None,
    done_before: int,
    total: int,
) -> mpz:
    jobs = [(modulus, list(e), [int(v) for v in c]) for c, e in zip(_chunks(values), _chunks(exps))]

    def tick(done: int, _: int) -> None:
        if progress:
            progress(done_before + done, total)

    partials = _pool_map(_multi_power_chunk, jobs, workers, tick, len(values))
    acc = mpz(1)
    for part in partials:
        acc = acc * part % modulus
    return acc


def check_with_secret_key(
    secret_key: SecretKey,
    model: SealedModel,
    expected: Sequence[int],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> bool:
    """True iff every ciphertext decrypts to `expected` (error probability <= 2^-128)."""
    pk, cts = model_ciphertexts(model)
    if pk.fingerprint != secret_key.public_key.fingerprint:
        raise AuditError("The sealed model is not sealed for this secret key.")
    if len(expected) != len(cts):
        raise AuditError(f"{len(expected)} expected plaintexts for {len(cts)} ciphertexts.")
    exps = _short_exponents(len(cts))
    combined = _multi_power(cts, exps, int(pk.nsquare), workers, progress, 0, len(cts))
    want = sum(e * m for e, m in zip(exps, expected)) % pk.n
    return secret_key.decrypt_raw(combined) == want


def decrypt_all(
    secret_key: SecretKey,
    model: SealedModel,
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """Signed plaintext of every ciphertext, [bias, w_0, ...] (one decryption each)."""
    _, cts = model_ciphertexts(model)
    sk_json = secret_key.to_json()
    jobs = [(sk_json, [int(c) for c in chunk]) for chunk in _chunks(cts)]
    return _pool_map(_decrypt_chunk, jobs, workers, progress, len(cts))


def _decrypt_chunk(job: tuple[dict[str, Any], list[int]]) -> list[int]:
    sk = SecretKey.from_json(job[0])
    return [sk.decrypt_signed(c) for c in job[1]]


# --- auditor ----------------------------------------------------------------------------


def _check_binding(model: SealedModel, openings: ModelOpenings, count: int) -> None:
    if openings.model_digest != model.digest:
        raise AuditError(
            f"The openings were exported for model {openings.model_digest[:16]}..., but this "
            f"sealed model's digest is {model.digest[:16]}...: the sealed model is not the one "
            "the key holder opened."
        )
    if openings.key_fingerprint != model.key_fingerprint:
        raise AuditError("The openings are for a different public key than the sealed model's.")
    if len(openings.values) != count:
        raise AuditError(f"{len(openings.values)} openings for {count} ciphertexts.")


def _exact_chunk(job: tuple[PublicKey, int, list[tuple[int, int, int]]]) -> list[int]:
    """Indices (from `start`) of the (c, m, r) items whose c is not Enc(m; r^n)."""
    pk, start, items = job
    n, nsq = pk.n, pk.nsquare
    bad = []
    for i, (c, m, r) in enumerate(items):
        if not 0 < r < n or gmpy2.gcd(r, n) != 1:
            bad.append(start + i)
            continue
        if encrypt(pk, m, gmpy2.powmod(r, n, nsq)) != c:
            bad.append(start + i)
    return bad


def verify_exact(
    model: SealedModel,
    openings: ModelOpenings,
    expected: Sequence[int],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> list[int]:
    """Re-encrypt every plaintext with its opening; the indices (0 = bias) that differ."""
    pk, cts = model_ciphertexts(model)
    _check_binding(model, openings, len(cts))
    items = list(zip((int(c) for c in cts), expected, (int(r) for r in openings.values)))
    jobs = [(pk, k * _CHUNK, chunk) for k, chunk in enumerate(_chunks(items))]
    # _pool_map counts progress by the last element of each job: the chunk.
    return _pool_map(_exact_chunk, jobs, workers, progress, len(cts))


def verify_batched(
    model: SealedModel,
    openings: ModelOpenings,
    expected: Sequence[int],
    *,
    workers: int | None = None,
    progress: Progress | None = None,
) -> bool:
    """The 2^-128-sound batched check of every plaintext (see module doc)."""
    pk, cts = model_ciphertexts(model)
    _check_binding(model, openings, len(cts))
    n, nsq = pk.n, pk.nsquare
    for r in openings.values:
        if not 0 < r < n:
            return False
    exps = _short_exponents(len(cts))
    total = 2 * len(cts)
    lhs = _multi_power(cts, exps, int(nsq), workers, progress, 0, total)
    r_part = _multi_power(openings.values, exps, int(nsq), workers, progress, len(cts), total)
    m_sum = sum(e * m for e, m in zip(exps, expected)) % n
    rhs = encrypt(pk, m_sum, gmpy2.powmod(r_part, n, nsq))
    return lhs == rhs
