"""The sealed-model artifact: round trips, digest, tamper detection, validation of ciphertexts."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pytest

from sealdog.crypto.paillier import (
    FixedPoint,
    KeyMismatchError,
    LinearScorer,
    decrypt_scores,
    generate_keypair,
)
from sealdog.errors import CorruptDataError
from sealdog.sealed_model import SealedModel, SealedModelError, compute_digest, seal_model

PK, SK = generate_keypair(768, insecure=True)
FEATURISER = {"kind": "hashing", "buckets": 16, "lowercase": True}
W = np.linspace(-1, 1, 16)


def _model() -> SealedModel:
    return seal_model(PK, W, 0.25, featuriser=FEATURISER, metadata={"name": "demo"})


def _rezip(manifest: dict, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("weights.bin", payload)
    return buf.getvalue()


def test_round_trip_file_and_scoring(tmp_path) -> None:
    model = _model()
    path = tmp_path / "m.sealed"
    model.write(path)
    loaded = SealedModel.read(path)
    assert loaded.digest == model.digest == model.manifest["digest"]
    assert loaded.manifest == model.manifest and loaded.payload == model.payload
    assert loaded.kind == "linear" and loaded.scheme == "paillier"
    assert loaded.featuriser == FEATURISER and loaded.metadata == {"name": "demo"}
    assert loaded.key_fingerprint == PK.fingerprint
    linear = loaded.linear()
    fp = FixedPoint(loaded.manifest["scale_bits"])
    w_ints, b_int = fp.encode(W), fp.encode(0.25)
    ev = LinearScorer(linear, mode="score").score_batch(
        [(np.array([1, 5, 9]), np.array([1, 1, 1]))]
    )
    assert decrypt_scores(SK, ev) == [b_int + w_ints[1] + w_ints[5] + w_ints[9]]
    assert model.to_bytes() == loaded.to_bytes()  # deterministic encoding


def test_digest_changes_with_any_content() -> None:
    model = _model()
    base = model.digest
    assert compute_digest({**model.manifest, "metadata": {"name": "other"}}, model.payload) != base
    assert (
        compute_digest(model.manifest, model.payload[:-1] + bytes([model.payload[-1] ^ 1])) != base
    )
    assert (
        compute_digest({**model.manifest, "digest": "x"}, model.payload) == base
    )  # digest excludes itself


def test_tampered_files_are_rejected() -> None:
    model = _model()
    manifest, payload = dict(model.manifest), model.payload
    flipped = payload[:-1] + bytes([payload[-1] ^ 1])
    with pytest.raises(SealedModelError, match="digest"):
        SealedModel.from_bytes(_rezip(manifest, flipped))
    with pytest.raises(SealedModelError, match="digest"):
        SealedModel.from_bytes(_rezip({**manifest, "scale_bits": 10}, payload))
    with pytest.raises(SealedModelError):
        SealedModel.from_bytes(model.to_bytes()[:-20])
    with pytest.raises(SealedModelError):
        SealedModel.from_bytes(b"not a zip")
    no_digest = {k: v for k, v in manifest.items() if k != "digest"}
    with pytest.raises(SealedModelError, match="no digest"):
        SealedModel.from_bytes(_rezip(no_digest, payload))


def test_linear_validates_key_and_ciphertexts() -> None:
    model = _model()
    other, _ = generate_keypair(768, insecure=True)
    wrong_key = {k: v for k, v in model.manifest.items() if k != "digest"}
    wrong_key["public_key"] = other.to_json()
    with pytest.raises(KeyMismatchError):
        SealedModel(wrong_key, model.payload).linear()
    # a payload whose "ciphertext" is a multiple of n is refused even with a valid digest
    width = (2 * PK.bits + 7) // 8
    bad_payload = (
        model.payload[: 11 + width]
        + int(PK.n * 3).to_bytes(width, "big")
        + model.payload[11 + 2 * width :]
    )
    manifest = {k: v for k, v in model.manifest.items() if k != "digest"}
    with pytest.raises(CorruptDataError, match="not a unit"):
        SealedModel(manifest, bad_payload).linear()
    short = {**manifest, "dim": 3}
    with pytest.raises(SealedModelError, match="weights"):
        SealedModel(short, model.payload).linear()


def test_other_kinds_are_carried_but_not_read_as_linear() -> None:
    manifest = {k: v for k, v in _model().manifest.items() if k != "digest"}
    manifest.update(kind="xor", scheme="vhe")
    model = SealedModel(manifest, b"opaque")
    again = SealedModel.from_bytes(model.to_bytes())
    assert again.kind == "xor" and again.digest == model.digest
    with pytest.raises(SealedModelError, match="not linear/paillier"):
        again.linear()


def test_max_count_follows_the_featuriser() -> None:
    """A model sealed for smaller counts than its featuriser emits would reject real e-mails."""
    spec = {**FEATURISER, "max_count": 2}
    model = seal_model(PK, W, 0.25, featuriser=spec)
    assert model.manifest["max_count"] == 2 and model.linear().max_count == 2
    with pytest.raises(SealedModelError, match="max_count=2"):
        seal_model(PK, W, 0.25, featuriser=spec, max_count=1)
    manifest = {**model.manifest, "max_count": 1}
    manifest.pop("digest", None)
    forged = SealedModel(manifest, model.payload)
    with pytest.raises(SealedModelError, match="counts up to 2"):
        forged.linear()


def test_digest_is_computed_once_and_tampering_still_detected(monkeypatch) -> None:
    """Reading a file hashes it once; every later use (digest, verify, linear(), to_bytes)
    reuses that digest, and a file altered after sealing is still refused on read."""
    import sealdog.sealed_model as sm

    data = _model().to_bytes()
    calls = []
    real = sm.compute_digest
    monkeypatch.setattr(sm, "compute_digest", lambda m, p: calls.append(1) or real(m, p))
    model = SealedModel.from_bytes(data)
    assert len(calls) == 1
    for _ in range(4):
        assert model.digest == model.manifest["digest"]
    model.verify_digest()
    model.linear()
    assert model.to_bytes() == data
    assert len(calls) == 1
    manifest, payload = model.manifest_dict(), model.payload
    with pytest.raises(SealedModelError, match="digest mismatch"):
        SealedModel.from_bytes(_rezip(manifest, payload[:-1] + bytes([payload[-1] ^ 1])))
    with pytest.raises(SealedModelError, match="digest mismatch"):
        SealedModel(manifest, payload + b"\x00").verify_digest()


def test_a_sealed_model_cannot_be_changed_in_place() -> None:
    """The cached digest stays true: the model is frozen, its manifest read-only, and the
    nested dicts it hands out are copies."""
    import dataclasses

    model = _model()
    with pytest.raises(TypeError):
        model.manifest["scale_bits"] = 10  # type: ignore[index]
    with pytest.raises(dataclasses.FrozenInstanceError):
        model.payload = b""  # type: ignore[misc]
    with pytest.raises(TypeError, match="read-only"):
        model.manifest["metadata"]["name"] = "changed"  # type: ignore[index]
    with pytest.raises(TypeError, match="read-only"):
        model.manifest["featuriser"].update(buckets=1)  # type: ignore[attr-defined]
    assert json.loads(json.dumps(model.manifest)) == model.manifest_dict()
    model.metadata["name"] = "changed"
    model.featuriser["buckets"] = 1
    model.manifest_dict()["metadata"]["name"] = "changed"
    assert model.metadata == {"name": "demo"} and model.featuriser == FEATURISER
    caller_manifest = {k: v for k, v in model.manifest_dict().items() if k != "digest"}
    copy = SealedModel(caller_manifest, model.payload)
    caller_manifest["metadata"]["name"] = "edited later"
    assert copy.metadata == {"name": "demo"} and copy.digest == model.digest
    copy.verify_digest()
    import pickle

    again = pickle.loads(pickle.dumps(model))
    assert again == model and again.digest == model.digest


def test_old_xor_json_files_are_refused_with_how_to_reseal(tmp_path) -> None:
    legacy = json.dumps({"format": "sealdog-xor", "version": 1, "preset": "demo"}).encode()
    path = tmp_path / "net.sealed"
    path.write_bytes(legacy)
    for read in (lambda: SealedModel.from_bytes(legacy), lambda: SealedModel.read(path)):
        with pytest.raises(SealedModelError, match="old JSON format") as exc:
            read()
        assert "seal_xor_network" in str(exc.value)
    with pytest.raises(SealedModelError, match="Not a readable"):  # other JSON: the usual error
        SealedModel.from_bytes(b'{"format": "something else"}')
