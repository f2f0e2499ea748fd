"""The bytes the two training roles exchange (besides the refresh, `crypto.ckks.refresh`).

Every message is a `crypto.frame.Frame` (magic, version, canonical JSON header) whose body
is length-prefixed blobs (`sealdog.xor.sealed.join_blobs`):

- STATE (key holder -> data holder, once): the initial encrypted weights and velocities
  in the trainer's coordinates (`training.STATE_ORDER`), TenSEAL ciphertexts;
- PREDICTIONS (data holder -> key holder, each iteration): four hardened outputs;
- DECISION (key holder -> data holder): {"outcome": running | converged | diverged};
- RESTART (data holder -> key holder, header only): {"attempt": k}, answered by a STATE for
  attempt k (fresh initial weights from sub-seed [seed, k], `momentum.MomentumConfig`);
- FINAL (data holder -> key holder, once): the hardened final weights W1, W2.

Header fields are checked on reading; a wrong count or key is a `CkksCorruptDataError`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sealdog.crypto.ckks.errors import CkksCorruptDataError
from sealdog.crypto.frame import Frame
from sealdog.errors import SealdogError
from sealdog.xor.sealed import join_blobs, split_blobs

STATE = Frame(b"SDXS", 1, "sealdog-xor-ckks-state", "an encrypted XOR training state")
PREDICTIONS = Frame(b"SDXP", 1, "sealdog-xor-ckks-predictions", "encrypted XOR predictions")
DECISION = Frame(b"SDXD", 1, "sealdog-xor-ckks-decision", "a training decision")
RESTART = Frame(b"SDXR", 1, "sealdog-xor-ckks-restart", "a request for a fresh training state")
FINAL = Frame(b"SDXF", 1, "sealdog-xor-ckks-final", "final encrypted XOR weights")
MAX_BLOBS = 4096


def write(frame: Frame, header: dict[str, Any], blobs: Sequence[bytes] = ()) -> bytes:
    return frame.write(
        {"format": frame.format, "count": len(blobs), **header}, join_blobs(list(blobs))
    )


def read(frame: Frame, data: bytes, *, key_fingerprint: str) -> tuple[dict[str, Any], list[bytes]]:
    """(header, blobs) of a message for this key; the count must match the blobs."""
    header, body = frame.read(data)
    if header.get("key_fingerprint") != key_fingerprint:
        raise CkksCorruptDataError(f"{frame.what} is for another key")
    count = header.get("count")
    if not isinstance(count, int) or isinstance(count, bool) or not 0 <= count <= MAX_BLOBS:
        raise CkksCorruptDataError(f"{frame.what}: bad 'count'")
    try:
        blobs = split_blobs(bytes(body))
    except SealdogError as exc:
        raise CkksCorruptDataError(f"{frame.what}: {exc}") from None
    if len(blobs) != count:
        raise CkksCorruptDataError(f"{frame.what}: holds {len(blobs)} blobs, says {count}")
    return header, blobs
