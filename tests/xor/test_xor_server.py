"""Sealed XOR networks hosted by the server: deploy over HTTP to a real uvicorn, score the four
inputs, decrypt on the key holder's side, compare with the plaintext network; bad input,
upload validation, the research-grade opt-in and auth."""

from __future__ import annotations

import io
import json
import random
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from server_testkit import UvicornProcess, bearer, make_server, make_settings

from sealdog.client.errors import NotFoundError
from sealdog.client.http import (
    DirectResult,
    EncryptedOutputs,
    InboxAck,
    ScoreResult,
    SealdogClient,
)
from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS
from sealdog.sealed_model import SealedModel, compute_digest
from sealdog.server.app import prepare_storage
from sealdog.server.auth import Role, issue_token
from sealdog.server.settings import ServerSettings
from sealdog.xor.encrypted import encrypt_net
from sealdog.xor.keyholder import seal_xor_network
from sealdog.xor.outputs import OUTPUT_TOLERANCE, decrypt_xor_outputs, xor_bits
from sealdog.xor.plaintext import INPUTS, TrainingConfig, XorNet, train_plaintext
from sealdog.xor.sealed import SealedXor, join_blobs, split_blobs

FOUR = [[0, 0], [0, 1], [1, 0], [1, 1]]


@pytest.fixture(scope="module")
def net() -> XorNet:
    trained, _ = train_plaintext(TrainingConfig())
    return trained


def _sealed(net: XorNet, preset: str, seed: int):
    rng = random.Random(seed)
    sk = generate_secret_key(PRESETS[preset], 1, rng)
    return sk, seal_xor_network(net, sk, rng)


@pytest.fixture(scope="module")
def sealed_test(net):
    """(secret key, sealed network) at the fast 'test' preset."""
    return _sealed(net, "test", 3)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    yield from make_server(make_settings(tmp_path_factory.mktemp("xor-server")))


@pytest.fixture(scope="module")
def xor_id(server, sealed_test) -> str:
    r = server.upload(sealed_test[1].to_bytes())
    assert r.status_code == 201, r.text
    server.grant(r.json()["id"])
    return r.json()["id"]


# ---------------------------------------------------------------- end to end over uvicorn


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    data_dir = tmp_path_factory.mktemp("xor-e2e") / "data"
    repo, _ = prepare_storage(ServerSettings(data_dir=data_dir))
    tokens = {
        name: issue_token(repo, role=role, subject=subject)
        for name, role, subject in (
            ("owner", Role.owner, "alice"),
            ("other", Role.owner, "bob"),
            ("submitter", Role.submitter, "gateway"),
            ("admin", Role.admin, "ops"),
        )
    }
    repo.engine.dispose()
    proc = UvicornProcess(data_dir)  # --insecure-demo: research-grade kinds allowed
    yield proc, tokens
    proc.stop()


def _outputs(result: ScoreResult) -> dict:
    """The encrypted-outputs document of a direct answer (what decrypt_xor_outputs reads)."""
    assert isinstance(result, DirectResult) and isinstance(result.verdicts, EncryptedOutputs)
    return result.verdicts.payload


def test_xor_end_to_end_over_uvicorn(live, net) -> None:
    proc, tokens = live
    owner, submitter = tokens["owner"][1], tokens["submitter"][1]
    sk, sealed = _sealed(net, "demo", 7)
    with SealdogClient(proc.url, owner) as client:
        info = client.deploy(sealed.to_bytes())
        assert (info.kind, info.scheme) == ("xor", "vhe")
        assert info.summary["research_grade"] is True
        assert "NOT confidential" in info.summary["warning"]
        assert info.summary["preset"] == "demo" and info.key_bits == PRESETS["demo"].lwe_dim
        model_id = info.id

        [answer] = client.score_inputs(model_id, FOUR)
        assert answer.count == 4 and _outputs(answer)["format"] == "sealdog-xor-outputs"
        outputs = decrypt_xor_outputs(sk, _outputs(answer))
        np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=OUTPUT_TOLERANCE)
        assert xor_bits(outputs) == [0, 1, 1, 0]

        # Re-randomised: the same input gives different ciphertexts, the same value.
        [again] = client.score_inputs(model_id, FOUR[:1])
        assert _outputs(again)["outputs"][0] != _outputs(answer)["outputs"][0]
        assert abs(decrypt_xor_outputs(sk, _outputs(again))[0] - outputs[0]) < OUTPUT_TOLERANCE

    # Inbox delivery by a granted submitter; the owner collects and decrypts.
    import httpx

    with SealdogClient(proc.url, tokens["admin"][1]) as admin:
        admin.grant(tokens["submitter"][0].id, model_id)
    with SealdogClient(proc.url, submitter) as gateway:
        [ack] = gateway.score_inputs(model_id, [[1, 1], [0, 1]], delivery="inbox")
    assert isinstance(ack, InboxAck) and ack.count == 2
    with SealdogClient(proc.url, owner) as client:
        entries = list(client.iter_inbox(model_id))
    assert isinstance(entries[-1].verdicts, EncryptedOutputs)
    assert xor_bits(decrypt_xor_outputs(sk, entries[-1].verdicts.payload)) == [0, 1]

    # Auth, same as linear: submitters cannot read the inbox or delete; other owners see nothing.
    with SealdogClient(proc.url, tokens["other"][1]) as other, pytest.raises(NotFoundError) as exc:
        other.score_inputs(model_id, FOUR)
    assert exc.value.status == 404
    assert (
        httpx.get(
            f"{proc.url}/v1/models/{model_id}/verdicts", headers=bearer(submitter)
        ).status_code
        == 403
    )
    assert (
        httpx.delete(f"{proc.url}/v1/models/{model_id}", headers=bearer(submitter)).status_code
        == 403
    )
    assert (
        httpx.get(f"{proc.url}/v1/models/{model_id}", headers=bearer(submitter)).json()["kind"]
        == "xor"
    )
    assert (
        httpx.delete(f"{proc.url}/v1/models/{model_id}", headers=bearer(owner)).status_code == 204
    )
    with SealdogClient(proc.url, owner) as client, pytest.raises(NotFoundError) as exc:
        client.score_inputs(model_id, FOUR)
    assert exc.value.status == 404


# ---------------------------------------------------------------- bad scoring input


@pytest.mark.parametrize(
    ("inputs", "message"),
    [
        ([[0, 1, 1]], "2 bits"),
        ([[1]], "2 bits"),
        ([[0, 2]], "bits, 0 or 1"),
        ([[0, -1]], "bits, 0 or 1"),
        ([[0.5, 1]], "bits, 0 or 1"),
        ([[True, False]], "bits, 0 or 1"),
        ([["1", "0"]], "bits, 0 or 1"),
        ([[0, 1], 1], "list of bits"),
        ([], "at least 1"),
    ],
)
def test_bad_inputs_are_clear_422s(server, xor_id, inputs, message) -> None:
    r = server.client.post(
        f"/v1/models/{xor_id}/score", headers=server.owner, json={"inputs": inputs}
    )
    assert r.status_code == 422, r.text
    assert message in r.json()["detail"]


def test_emails_and_inputs_go_to_the_right_kind(server, xor_id) -> None:
    c = server.client
    r = c.post(f"/v1/models/{xor_id}/score", headers=server.owner, json={"emails": [{"raw": "hi"}]})
    assert r.status_code == 422 and "inputs" in r.json()["detail"]
    both = {"emails": [{"raw": "hi"}], "inputs": [[0, 1]]}
    r = c.post(f"/v1/models/{xor_id}/score", headers=server.owner, json=both)
    assert r.status_code == 422 and "exactly one" in r.json()["detail"]
    r = c.post(f"/v1/models/{xor_id}/score", headers=server.owner, json={"inputs": [[0, 1]] * 65})
    assert r.status_code == 413 and "SEALDOG_MAX_INPUTS_PER_BATCH" in r.json()["detail"]


def test_linear_model_refuses_inputs(server) -> None:
    from server_testkit import Keys, seal

    from sealdog.crypto.paillier import generate_keypair

    pk, sk = generate_keypair(1024, insecure=True)
    r = server.upload(seal(Keys(pk, sk)).to_bytes())
    assert r.status_code == 201, r.text
    r = server.client.post(
        f"/v1/models/{r.json()['id']}/score", headers=server.owner, json={"inputs": [[0, 1]]}
    )
    assert r.status_code == 422 and "e-mails" in r.json()["detail"]


def test_in_process_scoring_matches_plaintext_and_auth(server, xor_id, sealed_test, net) -> None:
    sk, _ = sealed_test
    c = server.client
    r = c.post(f"/v1/models/{xor_id}/score", headers=server.submitter, json={"inputs": FOUR})
    assert r.status_code == 200, r.text
    outputs = decrypt_xor_outputs(sk, r.json())
    np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=OUTPUT_TOLERANCE)
    assert xor_bits(outputs) == [0, 1, 1, 0]
    assert (
        c.post(
            f"/v1/models/{xor_id}/score", headers=server.other_owner, json={"inputs": FOUR}
        ).status_code
        == 404
    )
    assert (
        c.post(
            f"/v1/models/{xor_id}/score", headers=server.admin, json={"inputs": FOUR}
        ).status_code
        == 403
    )
    assert c.post(f"/v1/models/{xor_id}/score", json={"inputs": FOUR}).status_code == 401
    r = c.post(
        f"/v1/models/{xor_id}/score", headers=server.owner, json={"inputs": FOUR, "mode": "score"}
    )
    assert r.status_code == 403  # exact-score policy applies to every kind
    assert c.get(f"/v1/models/{xor_id}/sealed", headers=server.submitter).status_code == 403
    assert SealedXor.from_bytes(c.get(f"/v1/models/{xor_id}/sealed", headers=server.owner).content)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.lists(st.integers(-3, 3), min_size=0, max_size=4), min_size=1, max_size=4))
def test_request_validation_accepts_exactly_bit_pairs(rows) -> None:
    from pydantic import ValidationError

    from sealdog.server.kinds.base import ScoringInputError, check_bit_rows
    from sealdog.server.schemas import ScoreRequest

    valid = all(len(r) == 2 and set(r) <= {0, 1} for r in rows)
    try:
        check_bit_rows(ScoreRequest(inputs=rows).inputs or [])
        accepted = True
    except (ValidationError, ScoringInputError):
        accepted = False
    assert accepted == valid


# ---------------------------------------------------------------- upload validation


def test_too_shallow_parameters_are_refused_at_sealing(net) -> None:
    import dataclasses

    shallow = dataclasses.replace(PRESETS["test"], name="shallow", log_q=100)
    rng = random.Random(1)
    with pytest.raises(NoiseBudgetExhausted, match="3 chained ciphertext products"):
        seal_xor_network(net, generate_secret_key(shallow, 1, rng), rng)


def _zip(manifest: dict, payload: bytes) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("weights.bin", payload)
    return buf.getvalue()


def _rebuilt(sealed: SealedXor, *, manifest_edit=None, blobs_edit=None) -> bytes:
    """The sealed container with its manifest or payload blobs altered, digest recomputed
    (so only the server's own checks can catch the change)."""
    model = sealed.to_model()
    manifest = {k: v for k, v in model.manifest_dict().items() if k != "digest"}
    blobs = split_blobs(model.payload)
    if manifest_edit:
        manifest_edit(manifest)
    if blobs_edit:
        blobs = blobs_edit(blobs)
    return SealedModel(manifest, join_blobs(blobs)).to_bytes()


def test_upload_validation_rejects_bad_networks(server, sealed_test, net) -> None:
    sk, sealed = sealed_test

    def rejected(data: bytes, message: str) -> None:
        r = server.upload(data)
        assert r.status_code == 422, r.text
        assert message in r.json()["detail"], r.json()["detail"]

    # Weights too large for the noise budget of the network's depth: sealed without the
    # key-holder-side check, the server's dry run refuses it (never a wrong answer).
    rng = random.Random(4)
    huge = XorNet(w1=net.w1 * 2.0**45, w2=net.w2, act=net.act)
    bad = SealedXor(
        network=encrypt_net(huge, sk, sealed.network.product_key, rng), public_key=sealed.public_key
    )
    rejected(bad.to_bytes(), "noise budget too small")

    rejected(
        _rebuilt(sealed, manifest_edit=lambda m: m.update(preset="shallow")), "unknown VHE preset"
    )
    rejected(_rebuilt(sealed, manifest_edit=lambda m: m.update(preset="demo")), "does not match")
    rejected(_rebuilt(sealed, manifest_edit=lambda m: m.update(hidden=10**6)), "'hidden'")
    rejected(_rebuilt(sealed, manifest_edit=lambda m: m.update(hidden=1)), "blobs")
    future = {**sealed.to_model().manifest_dict(), "format_version": 2}
    future["digest"] = compute_digest(future, sealed.to_model().payload)
    rejected(_zip(future, sealed.to_model().payload), "version")
    rejected(_rebuilt(sealed, manifest_edit=lambda m: m.update(scheme="ckks")), "scheme")
    rejected(
        _rebuilt(sealed, manifest_edit=lambda m: m.update(key_fingerprint="0" * 64)), "fingerprint"
    )
    rejected(_rebuilt(sealed, blobs_edit=lambda b: [b[0], b[1][:-5], *b[2:]]), "malformed")
    rejected(_rebuilt(sealed, blobs_edit=lambda b: b[:-1]), "blobs")
    rejected(
        _rebuilt(sealed, manifest_edit=lambda m: m["activation"].update(c3=1e300)), "activation"
    )
    rejected(_rebuilt(sealed, manifest_edit=lambda m: m.update(activation="cubic")), "activation")
    rejected(b"{not json", "not a sealed-model file")
    # Tampered after sealing (a ciphertext byte flipped, digest not recomputed).
    model = sealed.to_model()
    flipped = model.payload[:-1] + bytes([model.payload[-1] ^ 1])
    rejected(_zip(model.manifest_dict(), flipped), "digest mismatch")
    # A weight under another key.
    _, other = _sealed(net, "test", 99)
    other_blobs = split_blobs(other.to_model().payload)
    rejected(_rebuilt(sealed, blobs_edit=lambda b: [*b[:-1], other_blobs[-1]]), "public key")
    # A product key for another key.
    rejected(_rebuilt(sealed, blobs_edit=lambda b: [b[0], other_blobs[1], *b[2:]]), "product key")


def test_old_json_files_are_refused_with_how_to_reseal(server, sealed_test) -> None:
    """XOR networks used to be a JSON file of their own; the server names it and the fix."""
    legacy = json.dumps(
        {
            "format": "sealdog-xor",
            "version": 1,
            "preset": "test",
            "hidden": 2,
            "w1": [],
            "w2": [],
            "product_key": "",
            "public_key": "",
        }
    ).encode()
    r = server.upload(legacy)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "old JSON format" in detail and "seal_xor_network" in detail


def test_a_stored_old_json_file_is_a_clear_409(server, net) -> None:
    """A blob stored before XOR networks moved into the container (or altered on disk) is
    answered with what to do, not a 500."""
    _, sealed = _sealed(net, "test", 5)
    r = server.upload(sealed.to_bytes())
    assert r.status_code == 201, r.text
    model_id = r.json()["id"]
    blob = server.settings.blob_dir / f"{model_id}.sealed"
    blob.write_bytes(json.dumps({"format": "sealdog-xor", "version": 1}).encode())
    r = server.client.post(
        f"/v1/models/{model_id}/score", headers=server.owner, json={"inputs": FOUR}
    )
    assert r.status_code == 409, r.text
    assert "old JSON format" in r.json()["detail"] and "upload it again" in r.json()["detail"]


def test_research_grade_opt_in(tmp_path, sealed_test) -> None:
    data = sealed_test[1].to_bytes()
    strict = make_settings(tmp_path / "d", demo_mode=False)
    for srv in make_server(strict):
        r = srv.upload(data)
        assert r.status_code == 422 and "--allow-research-schemes" in r.json()["detail"]
    for srv in make_server(strict.model_copy(update={"allow_research_schemes": True})):
        r = srv.upload(data)
        assert r.status_code == 201, r.text
        model_id = r.json()["id"]
        assert (
            srv.client.post(
                f"/v1/models/{model_id}/score", headers=srv.owner, json={"inputs": FOUR}
            ).status_code
            == 200
        )
    # Restarted without the opt-in: the stored model is no longer scored.
    for srv in make_server(strict):
        r = srv.client.post(
            f"/v1/models/{model_id}/score", headers=srv.owner, json={"inputs": FOUR}
        )
        assert r.status_code == 403 and "research grade" in r.json()["detail"]
