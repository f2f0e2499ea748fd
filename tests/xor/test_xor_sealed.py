"""Sealed XOR networks in the sealed-model container: round trip, manifest, payload framing,
refusal of other kinds; the server-side module pulls in no secret-key code."""

from __future__ import annotations

import random
import subprocess
import sys

import numpy as np
import pytest

from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS
from sealdog.sealed_model import SealedModel, SealedModelError
from sealdog.xor.keyholder import decrypt_outputs, seal_xor_network
from sealdog.xor.plaintext import INPUTS, TrainingConfig, train_plaintext
from sealdog.xor.sealed import SealedXor, evaluate_sealed_xor, join_blobs, split_blobs


@pytest.fixture(scope="module")
def keyed():
    net, _ = train_plaintext(TrainingConfig())
    rng = random.Random(11)
    sk = generate_secret_key(PRESETS["test"], 1, rng)
    return net, sk, seal_xor_network(net, sk, rng, metadata={"name": "xor-demo"})


def test_round_trip_through_the_container(keyed, tmp_path) -> None:
    net, sk, sealed = keyed
    model = sealed.to_model()
    assert (model.kind, model.scheme) == ("xor", "vhe")
    m = model.manifest
    assert (m["preset"], m["hidden"], m["key_id"]) == ("test", 2, sealed.public_key.key_id)
    assert m["key_fingerprint"] == sealed.key_fingerprint and m["metadata"] == {"name": "xor-demo"}
    assert set(m["activation"]) == {"c0", "c1", "c3", "fit_range"}
    assert len(split_blobs(model.payload)) == 2 + 3 * 2 + 3

    path = tmp_path / "xor.sealed"
    sealed.write(path)
    data = path.read_bytes()
    assert SealedModel.from_bytes(data).digest == model.digest  # same bytes every time
    again = SealedXor.read(path)
    assert again.to_bytes() == data and again.metadata == {"name": "xor-demo"}
    outputs = decrypt_outputs(sk, evaluate_sealed_xor(again, INPUTS))
    np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=1e-3)


def test_only_xor_containers_decode_and_framing_is_checked(keyed) -> None:
    _, _, sealed = keyed
    model = sealed.to_model()
    linear_like = {
        **{k: v for k, v in model.manifest.items() if k != "digest"},
        "kind": "linear",
        "scheme": "paillier",
    }
    with pytest.raises(SealedModelError, match="not xor/vhe"):
        SealedXor.from_model(SealedModel(linear_like, model.payload))
    assert split_blobs(join_blobs([b"a", b"", b"bcd"])) == [b"a", b"", b"bcd"]
    with pytest.raises(SealedModelError, match="truncated"):
        split_blobs(join_blobs([b"abc"])[:-1])
    with pytest.raises(SealedModelError, match="length prefix"):
        split_blobs(b"\x00\x00")
    short = {k: v for k, v in model.manifest.items() if k != "digest"}
    with pytest.raises(SealedModelError, match="blobs"):
        SealedXor.from_model(SealedModel(short, join_blobs(split_blobs(model.payload)[:-1])))


def test_the_server_side_module_imports_no_secret_key_code() -> None:
    """`sealdog.xor.sealed` (what the server imports) must not load the key holder's
    modules: sealing, encrypted training and decryption live elsewhere."""
    code = (
        "import sys, sealdog.xor.sealed, sealdog.server.kinds.registry\n"
        "bad = [m for m in ('sealdog.xor.keyholder', 'sealdog.xor.encrypted', "
        "'sealdog.trainer', 'sealdog.client') if m in sys.modules]\n"
        "print(bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
