"""Serialisation round trips and malformed input."""

from __future__ import annotations

import os
import random
import stat

import pytest

from sealdog.crypto.vhe import codec, ops
from sealdog.crypto.vhe.errors import VheCorruptData
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS

P = PRESETS["test"]


@pytest.fixture(scope="module")
def material():
    rng = random.Random(7)
    sk = generate_secret_key(P, 2, rng)
    sk1 = generate_secret_key(P, 1, rng)
    return {
        "sk": sk,
        "sk1": sk1,
        "pk": ops.make_public_key(sk, rng),
        "lt": ops.make_linear_transform_key(sk, [[2, -1]], sk1, rng),
        "ip": ops.make_product_key(sk, sk, [[1, 0], [0, 3]], sk1, rng),
        "ct": ops.encrypt(sk, [5, -7], rng),
    }


def test_round_trips_keep_every_operation_working(material, tmp_path):
    sk = codec.decode_secret_key(codec.encode_secret_key(material["sk"]))
    assert sk == material["sk"]
    ct = codec.decode_ciphertext(codec.encode_ciphertext(material["ct"]))
    assert ct == material["ct"]
    pk = codec.decode_public_key(codec.encode_public_key(material["pk"]))
    assert ops.decrypt(sk, ops.encrypt_public(pk, [3, 4])) == [3, 4]
    lt = codec.decode_linear_transform_key(codec.encode_linear_transform_key(material["lt"]))
    assert (lt.switch.matrix == material["lt"].switch.matrix).all()
    assert ops.decrypt(material["sk1"], ops.linear_transform(ct, lt)) == [17]
    ip = codec.decode_product_key(codec.encode_product_key(material["ip"]))
    assert ops.decrypt(material["sk1"], ops.inner_product(ct, ct, ip)) == [25 + 3 * 49]
    path = tmp_path / "vhe.key"
    codec.save_secret_key(path, sk)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert codec.decode_secret_key(path.read_bytes()) == sk


def test_evaluation_keys_are_compact(material):
    blob = codec.encode_product_key(material["ip"])
    full = material["ip"].switch.matrix.size * ((P.log_q + 7) // 8)
    assert len(blob) < full / 2  # only the m key rows + a seed for A


@pytest.mark.parametrize(
    "mutate",
    [
        lambda b: b"XXXX" + b[4:],
        lambda b: b[:4] + bytes([9]) + b[5:],
        lambda b: b[:5] + bytes([3]) + b[6:],
        lambda b: b[:-1],
        lambda b: b + b"\0",
        lambda b: b[:10] + b"[" + b[11:],
        lambda b: b[:-40] + b"\xff" * 40,
    ],
)
def test_malformed_ciphertexts_rejected(material, mutate):
    blob = codec.encode_ciphertext(material["ct"])
    with pytest.raises(VheCorruptData):
        codec.decode_ciphertext(mutate(blob))


def test_malformed_keys_rejected(material):
    with pytest.raises(VheCorruptData):
        codec.decode_product_key(codec.encode_public_key(material["pk"]))
    with pytest.raises(VheCorruptData):
        codec.decode_public_key(codec.encode_public_key(material["pk"])[:-3])
    bad_sk = codec.encode_secret_key(material["sk"]).replace(b'"t":[[', b'"t":[[7,')
    with pytest.raises(VheCorruptData):
        codec.decode_secret_key(bad_sk)
    with pytest.raises(VheCorruptData):
        codec.decode_ciphertext("not bytes")  # type: ignore[arg-type]
