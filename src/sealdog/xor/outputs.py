"""The wire format of a sealed XOR network's encrypted outputs, and their decryption.

The server answers a scoring request for an `xor` model with
{"format": "sealdog-xor-outputs", "version": 1, "scheme": "vhe", "preset", "key_id", "count",
"outputs": [b64 ciphertext, ...]} (each a `crypto.vhe.codec` ciphertext, re-randomised),
inside the usual `verdicts` field of a direct answer or an inbox entry. Only the key holder
decrypts (`decrypt_xor_outputs`).

Tolerance: a decrypted output differs from the plaintext network's output by at most
`OUTPUT_TOLERANCE` (1e-3). The error comes from rounding every weight and activation
coefficient to 20 fractional bits (w = 2^20 and the 2^20 constant scale of the presets),
the rescale after each product and the scheme's noise (tracked; decrypt_real reports its
bound); measured: about 2e-4 on the trained net. The XOR bit is `output > 0.5`.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from typing import Any

from sealdog.crypto.vhe import codec
from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe.errors import VheCorruptData
from sealdog.crypto.vhe.keys import SecretKey
from sealdog.crypto.vhe.ops import Ciphertext

FORMAT = "sealdog-xor-outputs"
VERSION = 1
OUTPUT_TOLERANCE = 1e-3


def encode_outputs(outputs: Sequence[Ciphertext]) -> dict[str, Any]:
    """JSON-ready encrypted outputs (server side; the ciphertexts must already be re-randomised)."""
    if not outputs:
        raise VheCorruptData("no outputs to encode")
    first = outputs[0]
    return {
        "format": FORMAT,
        "version": VERSION,
        "scheme": "vhe",
        "preset": first.params.name,
        "key_id": first.key_id,
        "count": len(outputs),
        "outputs": [base64.b64encode(codec.encode_ciphertext(ct)).decode() for ct in outputs],
    }


def _payload(response_json: dict[str, Any]) -> dict[str, Any]:
    """Accept a direct scoring answer, an inbox entry (both have `verdicts`) or the payload."""
    if not isinstance(response_json, dict):
        raise VheCorruptData(
            "expected a JSON object (a scoring answer, an inbox entry or its verdicts)"
        )
    inner = response_json.get("verdicts", response_json)
    if (
        not isinstance(inner, dict)
        or inner.get("format") != FORMAT
        or inner.get("version") != VERSION
    ):
        raise VheCorruptData(
            f"not {FORMAT} version {VERSION} data (is this an xor model's answer?)"
        )
    return inner


def decode_outputs(response_json: dict[str, Any]) -> list[Ciphertext]:
    payload = _payload(response_json)
    blobs = payload.get("outputs")
    if not isinstance(blobs, list) or len(blobs) != payload.get("count"):
        raise VheCorruptData("encrypted outputs: 'outputs' missing or not 'count' long")
    try:
        return [codec.decode_ciphertext(base64.b64decode(b, validate=True)) for b in blobs]
    except (binascii.Error, TypeError, ValueError) as exc:
        raise VheCorruptData(f"encrypted outputs: bad base64 ({exc})") from None


def decrypt_xor_outputs(secret_key: SecretKey, response_json: dict[str, Any]) -> list[float]:
    """Key holder side: the network's outputs, in request order (XOR bit = output > 0.5)."""
    return [float(fp.decrypt_real(secret_key, ct)[0][0]) for ct in decode_outputs(response_json)]


def xor_bits(outputs: Sequence[float]) -> list[int]:
    """The XOR bit of each decrypted output."""
    return [int(v > 0.5) for v in outputs]
