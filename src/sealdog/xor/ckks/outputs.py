"""The wire format of a CKKS XOR network's encrypted outputs, and their decryption.

The server answers a scoring request for an "xor-ckks" model with
{"format": "sealdog-xor-ckks-outputs", "version": 1, "scheme": "ckks", "preset",
"key_fingerprint", "count", "outputs": [b64 SEAL ciphertext, ...]} inside the usual
`verdicts` field of a direct answer or an inbox entry. Each output is hardened
(`crypto.ckks.outputs.harden`: re-randomised, noise-flooded, last level);
only the key holder decrypts (`decrypt_ckks_outputs`, slot 0 of each).

Tolerance: a decrypted output differs from the plaintext network's output by at most
`OUTPUT_TOLERANCE` (1e-2): the flooding (width 2^-10, 7 sigma = 6.8e-3) plus the
evaluation's error (about 1e-4 at the `standard` preset). The XOR bit is `output > 0.5`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from sealdog.crypto.ckks.errors import CkksCorruptDataError
from sealdog.crypto.ckks.keys import KeyHolderContext
from sealdog.crypto.ckks.outputs import decrypt_hardened
from sealdog.errors import KeyMismatchError

FORMAT = "sealdog-xor-ckks-outputs"
VERSION = 1
OUTPUT_TOLERANCE = 1e-2
MAX_OUTPUTS = 4096


def encode_outputs(
    outputs: Sequence[bytes], *, preset: str, key_fingerprint: str
) -> dict[str, Any]:
    """JSON-ready encrypted outputs (server side; each already hardened)."""
    if not outputs:
        raise CkksCorruptDataError("no outputs to encode")
    return {
        "format": FORMAT,
        "version": VERSION,
        "scheme": "ckks",
        "preset": preset,
        "key_fingerprint": key_fingerprint,
        "count": len(outputs),
        "outputs": [base64.b64encode(o).decode() for o in outputs],
    }


def decode_outputs(response_json: dict[str, Any]) -> tuple[str, list[bytes]]:
    """(key fingerprint, output ciphertext bytes) of a scoring answer, an inbox entry (both
    have `verdicts`) or the payload itself."""
    if not isinstance(response_json, dict):
        raise CkksCorruptDataError("expected a JSON object (a scoring answer or its verdicts)")
    inner = response_json.get("verdicts", response_json)
    if not isinstance(inner, dict) or inner.get("format") != FORMAT:
        raise CkksCorruptDataError(f"not {FORMAT} data (is this an xor-ckks model's answer?)")
    if inner.get("version") != VERSION:
        raise CkksCorruptDataError(f"{FORMAT}: unsupported version {inner.get('version')!r}")
    blobs = inner.get("outputs")
    count = inner.get("count")
    if not isinstance(blobs, list) or len(blobs) != count or not 0 < len(blobs) <= MAX_OUTPUTS:
        raise CkksCorruptDataError(f"{FORMAT}: 'outputs' missing or not 'count' long")
    try:
        data = [base64.b64decode(b, validate=True) for b in blobs]
    except (binascii.Error, TypeError, ValueError) as exc:
        raise CkksCorruptDataError(f"{FORMAT}: bad base64 ({exc})") from None
    return str(inner.get("key_fingerprint")), data


def decrypt_ckks_outputs(keys: KeyHolderContext, response_json: dict[str, Any]) -> list[float]:
    """Key holder side: the network's outputs, in request order (XOR bit = output > 0.5)."""
    fingerprint, data = decode_outputs(response_json)
    if fingerprint != keys.key_fingerprint:
        raise KeyMismatchError("these outputs are encrypted under another CKKS key")
    return [decrypt_hardened(keys.context, d) for d in data]
