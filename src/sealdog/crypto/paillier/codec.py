"""Ciphertext vectors on the wire: a compact binary form and a base64 JSON form, both versioned.

Binary layout (big-endian):  b"SDCV" | version u8 | width u16 (bytes per ciphertext) |
count u32 | count * width bytes.  The width is fixed by the key (bytes of n^2), so a vector
for a different key size is rejected before any number is parsed. Every ciphertext is checked
to be a unit of Z_{n^2}: 0 < c < n^2 and gcd(c, n) = 1.
"""

from __future__ import annotations

import base64
import binascii
import struct
from collections.abc import Sequence
from typing import Any

import gmpy2
from gmpy2 import mpz

from sealdog.crypto.frame import check_format, check_version
from sealdog.crypto.paillier.encryption import Ciphertexts
from sealdog.crypto.paillier.keys import PublicKey
from sealdog.errors import CorruptDataError

MAGIC = b"SDCV"
VERSION = 1
JSON_FORMAT = "sealdog-ciphertexts"
_WHAT = "a Sealdog ciphertext vector"
_HEADER = struct.Struct(">4sBHI")


def ciphertext_width(pk: PublicKey) -> int:
    """Bytes per ciphertext for this key: enough for any c < n^2."""
    return width_for_modulus_bits(pk.bits)


def width_for_modulus_bits(n_bits: int) -> int:
    return (2 * n_bits + 7) // 8


def check_ciphertext(pk: PublicKey, c: mpz, what: str = "ciphertext") -> mpz:
    if not 0 < c < pk.nsquare or gmpy2.gcd(c, pk.n) != 1:
        raise CorruptDataError(
            f"Invalid {what}: not a unit modulo n^2 of this key (wrong key or corrupt data)."
        )
    return c


def encode_ciphertexts(ciphertexts: Sequence[mpz | int], *, width: int) -> bytes:
    """Fixed-width big-endian packing; `width` is `ciphertext_width(pk)`."""
    parts = [_HEADER.pack(MAGIC, VERSION, width, len(ciphertexts))]
    limit = mpz(1) << (8 * width)
    for value in ciphertexts:
        c = mpz(value)
        if not 0 < c < limit:
            raise CorruptDataError("Refusing to encode a ciphertext outside 0 < c < 2^(8*width).")
        parts.append(c.to_bytes(width, "big"))
    return b"".join(parts)


def decode_ciphertexts(
    data: bytes | memoryview,
    pk: PublicKey | None = None,
    *,
    width: int | None = None,
    validate_units: bool = True,
) -> Ciphertexts:
    """Parse a binary vector; any malformed, truncated or out-of-range input raises.

    With `pk`, every ciphertext is checked against that key (width, 0 < c < n^2, gcd(c, n) = 1);
    without it only the structure (and `width`, if given) is checked, and the key holder's
    decryption checks ranges later.
    """
    if len(data) < _HEADER.size:
        raise CorruptDataError("Ciphertext vector is truncated (no header).")
    magic, version, width, count = _HEADER.unpack_from(data)
    if magic != MAGIC:
        raise CorruptDataError(f"Not {_WHAT} (bad magic).")
    check_version(version, VERSION, _WHAT)
    expected = ciphertext_width(pk) if pk is not None else width
    if expected is not None and width != expected:
        raise CorruptDataError(
            f"Ciphertext width {width} bytes does not match this key ({expected} bytes): "
            "wrong key size."
        )
    if len(data) != _HEADER.size + count * width:
        raise CorruptDataError(
            f"Ciphertext vector length {len(data)} does not match its header "
            f"({count} x {width} bytes)."
        )
    if width == 0:
        raise CorruptDataError("Ciphertext vector has zero width.")
    out: Ciphertexts = []
    view = memoryview(data)
    for off in range(_HEADER.size, len(data), width):
        c = mpz.from_bytes(view[off : off + width], "big")
        if c == 0:
            raise CorruptDataError(f"Ciphertext #{(off - _HEADER.size) // width} is zero.")
        out.append(c)
    if pk is not None:
        nsq, n = pk.nsquare, pk.n
        # one gcd for the whole vector (`all_units`); per ciphertext only to name a culprit
        check_units = validate_units and not all_units(out, n)
        for i, c in enumerate(out):
            if c >= nsq or (check_units and gmpy2.gcd(c, n) != 1):
                raise CorruptDataError(f"Ciphertext #{i} is not a unit modulo n^2 of this key.")
    return out


def all_units(values: Sequence[mpz], n: mpz) -> bool:
    """True iff gcd(c, n) = 1 for every c: one gcd of the product mod n.

    Exact: a prime divides a product iff it divides a factor, so gcd(prod c mod n, n) = 1 iff
    no prime factor of n divides any c. A product mod n costs far less than a gcd per value
    (a 2^16-weight model at 3072 bits: one modular product each instead of one gcd each).
    """
    acc = mpz(1)
    for c in values:
        acc = acc * (c % n) % n
    return bool(gmpy2.gcd(acc, n) == 1)


def ciphertexts_to_json(ciphertexts: Sequence[mpz | int], *, width: int) -> dict[str, Any]:
    return {
        "format": JSON_FORMAT,
        "version": VERSION,
        "encoding": "base64",
        "data": base64.b64encode(encode_ciphertexts(ciphertexts, width=width)).decode("ascii"),
    }


def ciphertexts_from_json(
    data: object, pk: PublicKey | None = None, *, width: int | None = None
) -> Ciphertexts:
    data = check_format(data, format=JSON_FORMAT, version=VERSION, what=_WHAT)
    if data.get("encoding") != "base64":
        raise CorruptDataError(f"Unsupported encoding {data.get('encoding')!r} of {_WHAT}.")
    try:
        raw = base64.b64decode(str(data["data"]), validate=True)
    except (KeyError, binascii.Error, ValueError) as exc:
        raise CorruptDataError("Ciphertext vector 'data' is not valid base64.") from exc
    return decode_ciphertexts(raw, pk, width=width)
