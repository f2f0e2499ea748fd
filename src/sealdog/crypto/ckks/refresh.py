"""The masked refresh: new levels for the trainer's ciphertexts, without bootstrapping.

CKKS as TenSEAL ships it has no bootstrapping, so a ciphertext that has used up its levels
goes back to the key holder. Two halves, transport-agnostic (each exchanges only bytes):

- trainer (`Refresher.request`): for each ciphertext c = Enc(w) with at least one level
  left, draw a mask m uniformly from [-2^MASK_BITS s, 2^MASK_BITS s] for *every* slot (OS
  CSPRNG; s is the value's scale, 1 unless the caller stores a scaled weight such as c3 w),
  compute c + m (plaintext addition), drop to the lowest level that holds it, send the raw
  ciphertexts;
- key holder (`answer_refresh`): decrypt slot 0, get w + m (+ noise), encrypt it afresh at
  the top level with the public key, send back TenSEAL ciphertexts;
- trainer (`Refresher.complete`): subtract m: a top-level encryption of w.

What each party learns:

- The key holder sees w + m + e per slot (e = the evaluation's noise). For a weight bounded
  by |w + e| <= B, the uniform mask hides it statistically: the distributions of w + m and
  w' + m are at statistical distance |w - w'| / 2^(MASK_BITS+1) <= B / 2^MASK_BITS. With
  MASK_BITS = 30 and weights below 2^5 (the trainer's divergence guard stops far earlier),
  that is at most 2^-25 per value per refresh: the key holder learns (at most) that much
  about each intermediate weight and about the noise (hence about the data holder's
  inputs). The other slots are masked the same way, so their noise is hidden too.
- The trainer sees only ciphertexts: the answer is a fresh public-key encryption, so by
  IND-CPA it reveals nothing about the decryption the key holder made. No decrypted value
  ever reaches the party without the key, which is what the IND-CPA^D key-recovery attacks
  on CKKS (Li & Micciancio, 2021) need: they feed an adversary's *decryption results* back
  into the attack. The key holder refuses values beyond 2^(MASK_BITS+1) (a wrapped or
  crafted ciphertext) with an error that carries no decrypted value.

Precision it costs: the key holder decodes w + m in double precision: about 2^(MASK_BITS-52)
times a small FFT factor, measured below 1e-5 per refresh in the tests (plus CKKS's own
encoding error). A ciphertext refreshed at its last level would wrap: `request` needs one
level left (values up to 2^(MASK_BITS+1) times the 2^40 scale fit in 60 + 40 bits).
"""

from __future__ import annotations

import math
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sealdog.crypto.ckks.errors import CkksCorruptDataError, CkksError
from sealdog.crypto.ckks.keys import KeyHolderContext
from sealdog.crypto.ckks.randomness import RandomBytes, uniform
from sealdog.crypto.ckks.vectors import (
    add_to_every_slot,
    decrypt_slots,
    encrypt,
    from_bytes,
    levels_left,
    raw_bytes,
    raw_ciphertext,
    raw_from_bytes,
    require_levels,
    slot_count,
    switch_to_level,
    to_bytes,
)
from sealdog.crypto.frame import Frame

MASK_BITS = 30
MAX_REFRESH_COUNT = 4096
REQUEST = Frame(b"SDKR", 1, "sealdog-ckks-refresh-request", "a CKKS refresh request")
ANSWER = Frame(b"SDKA", 1, "sealdog-ckks-refresh-answer", "a CKKS refresh answer")
_LENGTH = struct.Struct(">I")


class RefreshRefusedError(CkksError):
    """The key holder refused a refresh request (wrong key, wrapped values, too many)."""


def _join(blobs: Sequence[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(b)) + b for b in blobs)


def _split(body: memoryview, count: int, what: str) -> list[bytes]:
    blobs, pos = [], 0
    for _ in range(count):
        if pos + _LENGTH.size > len(body):
            raise CkksCorruptDataError(f"{what} is truncated")
        (size,) = _LENGTH.unpack_from(body, pos)
        pos += _LENGTH.size
        if pos + size > len(body):
            raise CkksCorruptDataError(f"{what} is truncated")
        blobs.append(bytes(body[pos : pos + size]))
        pos += size
    if pos != len(body):
        raise CkksCorruptDataError(f"{what} has trailing bytes")
    return blobs


def _count(header: dict[str, Any], what: str) -> int:
    count = header.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 1 <= count <= MAX_REFRESH_COUNT:
        raise CkksCorruptDataError(f"{what}: 'count' must be 1..{MAX_REFRESH_COUNT}")
    return count


@dataclass(frozen=True)
class PendingRefresh:
    """What the trainer keeps between request and answer: the slot-0 masks (secret)."""

    masks: tuple[float, ...]
    key_fingerprint: str


class Refresher:
    """The trainer's half: holds the public context only (no secret key)."""

    def __init__(
        self, public_context: Any, key_fingerprint: str, random_bytes: RandomBytes = os.urandom
    ) -> None:
        self.context = public_context
        self.key_fingerprint = key_fingerprint
        self._random_bytes = random_bytes

    def request(
        self, vectors: Sequence[Any], scales: Sequence[float] | None = None
    ) -> tuple[bytes, PendingRefresh]:
        """Masked raw ciphertexts for the key holder, and the masks to remove afterwards.

        `scales[i]` (default 1, |s| <= 1): vector i holds s times a weight; its mask is
        scaled alike, so it hides the weight as well and costs s times less precision."""
        if not 1 <= len(vectors) <= MAX_REFRESH_COUNT:
            raise CkksError(f"a refresh takes 1 to {MAX_REFRESH_COUNT} ciphertexts")
        scales = [1.0] * len(vectors) if scales is None else [float(s) for s in scales]
        if len(scales) != len(vectors) or not all(0 < abs(s) <= 1 for s in scales):
            raise CkksError("a refresh needs one scale per ciphertext, each 0 < |s| <= 1")
        require_levels(vectors, 1, "a masked refresh")
        slots = slot_count(self.context)
        blobs, masks = [], []
        for vector, scale in zip(vectors, scales, strict=True):
            mask = uniform(slots, float(2**MASK_BITS) * abs(scale), self._random_bytes)
            ciphertext = raw_ciphertext(vector)
            add_to_every_slot(self.context, ciphertext, mask)
            switch_to_level(self.context, ciphertext, 1)
            blobs.append(raw_bytes(ciphertext))
            masks.append(float(mask[0]))
        header = {
            "format": REQUEST.format,
            "count": len(blobs),
            "key_fingerprint": self.key_fingerprint,
            "mask_bits": MASK_BITS,
        }
        return REQUEST.write(header, _join(blobs)), PendingRefresh(
            tuple(masks), self.key_fingerprint
        )

    def complete(self, pending: PendingRefresh, answer: bytes) -> list[Any]:
        """Top-level encryptions of the original values: the fresh ciphertexts minus masks."""
        header, body = ANSWER.read(answer)
        count = _count(header, ANSWER.what)
        if count != len(pending.masks) or header.get("key_fingerprint") != pending.key_fingerprint:
            raise CkksCorruptDataError("the refresh answer does not match the request")
        out = []
        for blob, mask in zip(_split(body, count, ANSWER.what), pending.masks, strict=True):
            vector = from_bytes(self.context, blob)
            out.append(vector - mask)
        top = max(levels_left(v) for v in out)
        require_levels(out, top, "a refreshed ciphertext")  # all at one (the top) level
        return out


def answer_refresh(keys: KeyHolderContext, request: bytes, *, key_fingerprint: str) -> bytes:
    """The key holder's half: decrypt slot 0 of each masked ciphertext, re-encrypt it fresh.

    Never returns or logs a decrypted value; refuses (RefreshRefusedError) a request for
    another key, or values too large to be a masked weight."""
    header, body = REQUEST.read(request)
    count = _count(header, REQUEST.what)
    if header.get("key_fingerprint") != key_fingerprint:
        raise RefreshRefusedError("this refresh request is for another key")
    limit = 2.0 ** (MASK_BITS + 1)
    answers = []
    for blob in _split(body, count, REQUEST.what):
        value = decrypt_slots(keys.context, raw_from_bytes(keys.context, blob))[0]
        if not math.isfinite(value) or abs(value) > limit:
            raise RefreshRefusedError(
                "a masked value is out of range (a ciphertext without a level left, or not a "
                "masked weight); nothing was re-encrypted"
            )
        answers.append(to_bytes(encrypt(keys.context, value)))
    header = {"format": ANSWER.format, "count": count, "key_fingerprint": key_fingerprint}
    return ANSWER.write(header, _join(answers))
