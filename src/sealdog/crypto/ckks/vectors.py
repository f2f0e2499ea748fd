"""Encrypted scalars and the operations on them that the networks need.

A value is a TenSEAL `CKKSVector` of size 1 (the value in slot 0). TenSEAL rescales after
every product (`auto_rescale`), relinearises (`auto_relin`) and aligns levels on addition
(`auto_mod_switch`), so network code writes `a * b + c`. What it does not do is say how
many levels are left: `levels_left` reads the chain index from SEAL, and `require_levels`
turns "scale out of bounds" deep inside SEAL into a `CkksLevelsExhaustedError` before the
operation. Raw SEAL ciphertexts (`raw_bytes`/`raw_from_bytes`) carry every slot, for the
hardening of outputs and the masked refresh, which must cover all slots, not only slot 0.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from sealdog.crypto.ckks.backend import sealapi, tenseal
from sealdog.crypto.ckks.errors import CkksCorruptDataError, CkksLevelsExhaustedError

MAX_CIPHERTEXT_BYTES = 64 * 1024 * 1024


def encrypt(context: Any, value: float) -> Any:
    """A fresh encryption (public key) of one real number, at the top level."""
    return tenseal().ckks_vector(context, [float(value)])


def levels_left(vector: Any) -> int:
    """Rescales this ciphertext still allows (its chain index)."""
    ct = vector.ciphertext()[0]
    return int(vector.context().seal_context().data.get_context_data(ct.parms_id()).chain_index())


def require_levels(vectors: Sequence[Any], needed: int, what: str) -> None:
    """CkksLevelsExhaustedError unless every ciphertext has `needed` levels left."""
    have = min(levels_left(v) for v in vectors)
    if have < needed:
        raise CkksLevelsExhaustedError(
            f"{what} needs {needed} levels, the ciphertexts have {have} left: refresh them "
            "first (masked refresh with the key holder)"
        )


def to_bytes(vector: Any) -> bytes:
    """TenSEAL's serialisation of an encrypted vector (no context, no keys)."""
    data: bytes = vector.serialize()
    return data


def from_bytes(context: Any, data: bytes) -> Any:
    """An encrypted vector read from untrusted bytes, linked to `context`."""
    if len(data) > MAX_CIPHERTEXT_BYTES:
        raise CkksCorruptDataError(f"CKKS ciphertext is over {MAX_CIPHERTEXT_BYTES:,} bytes")
    try:
        vector = tenseal().ckks_vector_from(context, bytes(data))
        levels_left(vector)  # SEAL validated it against the context's parameters
    except Exception as exc:  # TenSEAL raises bare C++ exceptions
        raise CkksCorruptDataError(f"not a CKKS ciphertext ({type(exc).__name__})") from None
    return vector


def raw_ciphertext(vector: Any) -> Any:
    """The SEAL ciphertext behind a vector (a copy: changing it leaves the vector alone)."""
    return vector.ciphertext()[0]


@contextmanager
def _scratch_path() -> Iterator[tuple[str, int | None]]:
    """A path SEAL can open: an anonymous memory file (/proc/self/fd/N) where Linux has
    memfd_create, else a file in a private temporary directory. Yields (path, fd)."""
    if hasattr(os, "memfd_create") and os.path.isdir("/proc/self/fd"):
        fd = os.memfd_create("sealdog-ckks")
        try:
            yield f"/proc/self/fd/{fd}", fd
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="sealdog-ckks-") as tmp:
        yield os.path.join(tmp, "ct"), None


def raw_bytes(ciphertext: Any) -> bytes:
    """SEAL's serialisation of a raw ciphertext (the binding only saves to a path)."""
    with _scratch_path() as (path, _fd):
        ciphertext.save(path)
        with open(path, "rb") as f:
            return f.read()


def raw_from_bytes(context: Any, data: bytes) -> Any:
    """A raw SEAL ciphertext from untrusted bytes (SEAL checks it against the parameters)."""
    if len(data) > MAX_CIPHERTEXT_BYTES:
        raise CkksCorruptDataError(f"CKKS ciphertext is over {MAX_CIPHERTEXT_BYTES:,} bytes")
    sa = sealapi()
    seal_context = context.seal_context().data
    ciphertext = sa.Ciphertext(seal_context)
    with _scratch_path() as (path, _fd):
        with open(path, "wb") as f:
            f.write(bytes(data))
        try:
            ciphertext.load(seal_context, path)
        except Exception as exc:  # SEAL's load raises bare C++ exceptions
            raise CkksCorruptDataError(f"not a CKKS ciphertext ({type(exc).__name__})") from None
    if ciphertext.size() != 2:
        raise CkksCorruptDataError("a CKKS ciphertext must have exactly 2 polynomials")
    return ciphertext


def add_to_every_slot(context: Any, ciphertext: Any, values: Sequence[float] | np.ndarray) -> None:
    """ciphertext += encode(values) in place, one value per slot, at its level and scale."""
    sa = sealapi()
    seal_context = context.seal_context().data
    plain = sa.Plaintext()
    sa.CKKSEncoder(seal_context).encode(
        np.asarray(values, dtype=np.float64).tolist(),
        ciphertext.parms_id(),
        ciphertext.scale,
        plain,
    )
    sa.Evaluator(seal_context).add_plain_inplace(ciphertext, plain)


def switch_to_level(context: Any, ciphertext: Any, level: int) -> None:
    """Drop moduli in place until `level` rescales are left (no-op if already there)."""
    sa = sealapi()
    seal_context = context.seal_context().data
    data = seal_context.get_context_data(ciphertext.parms_id())
    if data.chain_index() < level:
        raise CkksLevelsExhaustedError(f"the ciphertext is below level {level} already")
    evaluator = sa.Evaluator(seal_context)
    while data.chain_index() > level:
        evaluator.mod_switch_to_next_inplace(ciphertext)
        data = seal_context.get_context_data(ciphertext.parms_id())


def slot_count(context: Any) -> int:
    return int(sealapi().CKKSEncoder(context.seal_context().data).slot_count())


def decrypt_slots(private_context: Any, ciphertext: Any) -> list[float]:
    """Every slot of a raw ciphertext (key holder only)."""
    sa = sealapi()
    seal_context = private_context.seal_context().data
    plain = sa.Plaintext()
    sa.Decryptor(seal_context, private_context.secret_key().data).decrypt(ciphertext, plain)
    return [float(v) for v in sa.CKKSEncoder(seal_context).decode_double(plain)]
