"""Versioned, compact binary encoding of VHE keys, evaluation keys and ciphertexts.

Layout: b"SDVH" | version (1 byte) | kind (1 byte) | header length (4 bytes, big endian) |
header (canonical JSON: parameters, key ids, shapes, bounds) | payload (fixed-width
little-endian integers of ceil(log_q / 8) bytes each). A key-switch matrix stores only
its m key rows plus the 32-byte seed of its uniform rows A (SHAKE-256), so an evaluation
key is (m + k) / m times smaller than the matrix it stands for. Decoding checks the magic,
version, kind, every length and that every integer is below its modulus; anything else
raises VheCorruptData. Secret keys are written 0600 via `save_secret_key`.
"""

from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

from sealdog.crypto.vhe.errors import VheCorruptData, VheError
from sealdog.crypto.vhe.keys import SecretKey
from sealdog.crypto.vhe.keyswitch import KeySwitchMatrix, expand_uniform
from sealdog.crypto.vhe.ops import Ciphertext, LinearTransformKey, ProductKey, PublicKey
from sealdog.crypto.vhe.params import VheParams
from sealdog.fileio import atomic_write_bytes

MAGIC = b"SDVH"
VERSION = 1
KINDS = {
    "ciphertext": 1,
    "secret_key": 2,
    "public_key": 3,
    "linear_transform_key": 4,
    "product_key": 5,
}
_KIND_NAMES = {v: k for k, v in KINDS.items()}


def _pack(kind: str, header: dict[str, Any], payload: bytes = b"") -> bytes:
    head = json.dumps(header, sort_keys=True, separators=(",", ":")).encode()
    return MAGIC + bytes([VERSION, KINDS[kind]]) + len(head).to_bytes(4, "big") + head + payload


def _unpack(data: bytes, kind: str) -> tuple[dict[str, Any], bytes]:
    if not isinstance(data, (bytes, bytearray)) or len(data) < 10 or data[:4] != MAGIC:
        raise VheCorruptData("not Sealdog VHE data (bad magic)")
    if data[4] != VERSION:
        raise VheCorruptData(
            f"unsupported VHE encoding version {data[4]} (this build reads {VERSION})"
        )
    found = _KIND_NAMES.get(data[5], "unknown")
    if found != kind:
        raise VheCorruptData(f"expected a VHE {kind}, found a {found}")
    size = int.from_bytes(data[6:10], "big")
    if 10 + size > len(data):
        raise VheCorruptData("truncated VHE header")
    try:
        header = json.loads(data[10 : 10 + size])
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise VheCorruptData(f"VHE header is not valid JSON: {exc}") from None
    if not isinstance(header, dict):
        raise VheCorruptData("VHE header must be a JSON object")
    return header, bytes(data[10 + size :])


def _params(header: dict[str, Any]) -> VheParams:
    try:
        return VheParams.from_dict(header.get("params"))
    except (VheError, TypeError) as exc:
        raise VheCorruptData(f"bad VHE parameters: {exc}") from None


def _field(header: dict[str, Any], name: str, kind: type) -> Any:
    value = header.get(name)
    if not isinstance(value, kind) or isinstance(value, bool):
        raise VheCorruptData(f"VHE header field {name!r} missing or not a {kind.__name__}")
    return value


def _ints_to_bytes(values: Any, log_q: int) -> bytes:
    nbytes = (log_q + 7) // 8
    return b"".join(int(v).to_bytes(nbytes, "little") for v in values)


def _bytes_to_ints(payload: bytes, count: int, log_q: int) -> list[int]:
    nbytes = (log_q + 7) // 8
    if len(payload) != count * nbytes:
        raise VheCorruptData(f"VHE payload has {len(payload)} bytes, expected {count * nbytes}")
    bound = 1 << log_q
    values = [
        int.from_bytes(payload[i * nbytes : (i + 1) * nbytes], "little") for i in range(count)
    ]
    if any(v >= bound for v in values):
        raise VheCorruptData("VHE payload holds an integer outside its modulus")
    return values


# ------------------------------------------------------------------ ciphertexts


def encode_ciphertext(ct: Ciphertext) -> bytes:
    header = {
        "params": ct.params.to_dict(),
        "key_id": ct.key_id,
        "dim": ct.dim,
        "log_q": ct.log_q,
        "scale_bits": ct.scale_bits,
        "noise": ct.noise,
        "bound": ct.bound,
        "count": len(ct.c),
    }
    return _pack("ciphertext", header, _ints_to_bytes(ct.c, ct.log_q))


def decode_ciphertext(data: bytes) -> Ciphertext:
    header, payload = _unpack(data, "ciphertext")
    params = _params(header)
    dim, log_q, count = (
        _field(header, "dim", int),
        _field(header, "log_q", int),
        _field(header, "count", int),
    )
    if dim < 1 or count != dim + params.lwe_dim or not params.min_log_q <= log_q <= params.log_q:
        raise VheCorruptData("VHE ciphertext shape or modulus inconsistent with its parameters")
    noise, bound = _field(header, "noise", int), _field(header, "bound", int)
    if noise < 0 or bound < 0:
        raise VheCorruptData("negative noise or bound")
    try:
        return Ciphertext(
            params=params,
            key_id=_field(header, "key_id", str),
            dim=dim,
            c=tuple(_bytes_to_ints(payload, count, log_q)),
            log_q=log_q,
            scale_bits=_field(header, "scale_bits", int),
            noise=noise,
            bound=bound,
        )
    except VheError as exc:
        raise VheCorruptData(f"VHE ciphertext rejected: {exc}") from None


# ------------------------------------------------------------------ secret keys


def encode_secret_key(sk: SecretKey) -> bytes:
    return _pack(
        "secret_key",
        {"params": sk.params.to_dict(), "key_id": sk.key_id, "t": [list(r) for r in sk.t]},
    )


def decode_secret_key(data: bytes) -> SecretKey:
    header, payload = _unpack(data, "secret_key")
    params = _params(header)
    t = header.get("t")
    if payload or not isinstance(t, list) or not t:
        raise VheCorruptData("VHE secret key malformed")
    for row in t:
        if (
            not isinstance(row, list)
            or len(row) != params.lwe_dim
            or any(v not in (-1, 0, 1) or isinstance(v, bool) for v in row)
        ):
            raise VheCorruptData("VHE secret key rows must hold k ternary entries")
    return SecretKey(
        params=params, t=tuple(tuple(r) for r in t), key_id=_field(header, "key_id", str)
    )


def save_secret_key(path: str | os.PathLike[str], sk: SecretKey) -> None:
    """Write the secret key atomically with mode 0600."""
    atomic_write_bytes(path, encode_secret_key(sk), mode=0o600)


# ------------------------------------------------------------------ key-switch based keys


def _switch_header(ksm: KeySwitchMatrix) -> tuple[dict[str, Any], bytes]:
    m = ksm.target_dim
    header = {
        "params": ksm.params.to_dict(),
        "target_key_id": ksm.target_key_id,
        "target_dim": m,
        "source_width": ksm.source_width,
        "digits": int(ksm.matrix.shape[2]),
        "seed": ksm.seed.hex(),
    }
    return header, _ints_to_bytes(ksm.matrix[:m].reshape(-1), ksm.params.log_q)


def _switch_from(header: dict[str, Any], payload: bytes) -> KeySwitchMatrix:
    params = _params(header)
    m, n_src, digits = (_field(header, f, int) for f in ("target_dim", "source_width", "digits"))
    if m < 1 or n_src < 1 or digits != params.digits(params.log_q) or m * n_src * digits > 1 << 26:
        raise VheCorruptData("VHE key-switch matrix shape inconsistent with its parameters")
    try:
        seed = bytes.fromhex(_field(header, "seed", str))
    except ValueError:
        raise VheCorruptData("VHE key-switch seed is not hex") from None
    if len(seed) != 32:
        raise VheCorruptData("VHE key-switch seed must be 32 bytes")
    top = np.array(_bytes_to_ints(payload, m * n_src * digits, params.log_q), dtype=object)
    matrix = np.empty((m + params.lwe_dim, n_src, digits), dtype=object)
    matrix[:m] = top.reshape(m, n_src, digits)
    matrix[m:] = expand_uniform(seed, params.log_q, (params.lwe_dim, n_src, digits))
    return KeySwitchMatrix(
        params=params,
        target_key_id=_field(header, "target_key_id", str),
        target_dim=m,
        source_width=n_src,
        matrix=matrix,
        seed=seed,
    )


def encode_public_key(pk: PublicKey) -> bytes:
    header, payload = _switch_header(pk.switch)
    zero_header, zero_payload = _switch_header(pk.zero_switch)
    meta = {"switch": header, "zero_switch": zero_header, "dim": pk.dim, "split": len(payload)}
    return _pack("public_key", meta, payload + zero_payload)


def decode_public_key(data: bytes) -> PublicKey:
    header, payload = _unpack(data, "public_key")
    split = _field(header, "split", int)
    if not 0 < split < len(payload):
        raise VheCorruptData("VHE public key payload split out of range")
    switch = _switch_from(_field(header, "switch", dict), payload[:split])
    zero = _switch_from(_field(header, "zero_switch", dict), payload[split:])
    dim = _field(header, "dim", int)
    if (
        switch.source_width != dim
        or switch.target_dim != dim
        or zero.target_dim != dim
        or zero.source_width != dim + switch.params.lwe_dim
        or zero.target_key_id != switch.target_key_id
        or zero.params != switch.params
    ):
        raise VheCorruptData("VHE public key shape inconsistent")
    return PublicKey(key_id=switch.target_key_id, dim=dim, switch=switch, zero_switch=zero)


def encode_linear_transform_key(key: LinearTransformKey) -> bytes:
    header, payload = _switch_header(key.switch)
    meta = {
        "switch": header,
        "source_key_id": key.source_key_id,
        "source_dim": key.source_dim,
        "out_dim": key.out_dim,
        "g_norm": key.g_norm,
    }
    return _pack("linear_transform_key", meta, payload)


def decode_linear_transform_key(data: bytes) -> LinearTransformKey:
    header, payload = _unpack(data, "linear_transform_key")
    switch = _switch_from(_field(header, "switch", dict), payload)
    source_dim, out_dim = _field(header, "source_dim", int), _field(header, "out_dim", int)
    if out_dim != switch.target_dim or switch.source_width != source_dim + switch.params.lwe_dim:
        raise VheCorruptData("VHE linear-transform key shape inconsistent")
    return LinearTransformKey(
        source_key_id=_field(header, "source_key_id", str),
        source_dim=source_dim,
        out_dim=out_dim,
        g_norm=_field(header, "g_norm", int),
        switch=switch,
    )


def encode_product_key(key: ProductKey) -> bytes:
    header, payload = _switch_header(key.switch)
    meta = {
        "switch": header,
        "left_key_id": key.left_key_id,
        "right_key_id": key.right_key_id,
        "left_dim": key.left_dim,
        "right_dim": key.right_dim,
        "h_norm": key.h_norm,
    }
    return _pack("product_key", meta, payload)


def decode_product_key(data: bytes) -> ProductKey:
    header, payload = _unpack(data, "product_key")
    switch = _switch_from(_field(header, "switch", dict), payload)
    left, right = _field(header, "left_dim", int), _field(header, "right_dim", int)
    k = switch.params.lwe_dim
    if switch.target_dim != 1 or switch.source_width != (left + k) * (right + k):
        raise VheCorruptData("VHE product key shape inconsistent")
    return ProductKey(
        left_key_id=_field(header, "left_key_id", str),
        right_key_id=_field(header, "right_key_id", str),
        left_dim=left,
        right_dim=right,
        h_norm=_field(header, "h_norm", int),
        switch=switch,
    )
