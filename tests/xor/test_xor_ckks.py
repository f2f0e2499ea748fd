"""XOR networks on CKKS: the encrypted forward pass and gradient step against the plaintext
momentum trainer, refreshes when levels run out, the roles' messages, and the hosted
"xor-ckks" kind (in process without any research opt-in, and over a real uvicorn)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("tenseal")

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "server"))

from server_testkit import UvicornProcess, make_server, make_settings

from sealdog.client.http import DirectResult, EncryptedOutputs, SealdogClient
from sealdog.crypto.ckks import backend, vectors
from sealdog.crypto.ckks.params import PRESETS
from sealdog.errors import KeyMismatchError
from sealdog.sealed_model import SealedModel
from sealdog.server.app import prepare_storage
from sealdog.server.auth import Role, issue_token
from sealdog.server.kinds.base import ModelRejectedError
from sealdog.server.kinds.xor_ckks import XorCkksKind
from sealdog.server.settings import ServerSettings
from sealdog.xor.ckks import messages
from sealdog.xor.ckks.keyholder import XorKeyHolder
from sealdog.xor.ckks.outputs import OUTPUT_TOLERANCE, decrypt_ckks_outputs
from sealdog.xor.ckks.sealed import SealedCkksXor, evaluate
from sealdog.xor.ckks.session import train_ckks_xor
from sealdog.xor.ckks.training import CkksXorTrainer, kappa
from sealdog.xor.momentum import (
    MomentumConfig,
    MomentumState,
    Outcome,
    train_momentum,
)
from sealdog.xor.outputs import xor_bits
from sealdog.xor.plaintext import INPUTS
from sealdog.xor.sealed import join_blobs, split_blobs

FOUR = [[0, 0], [0, 1], [1, 0], [1, 1]]
CONFIG = MomentumConfig(seed=3)


@pytest.fixture(scope="module")
def keyholder() -> XorKeyHolder:
    return XorKeyHolder.generate(PRESETS["standard"], CONFIG)


@pytest.fixture(scope="module")
def net():
    result = train_momentum(CONFIG)
    assert result.outcome is Outcome.converged
    return result.state.net


@pytest.fixture(scope="module")
def sealed(keyholder, net) -> SealedCkksXor:
    return keyholder.seal(net, metadata={"name": "xor"})


def _trainer(keyholder: XorKeyHolder, config: MomentumConfig = CONFIG, **kw) -> CkksXorTrainer:
    return CkksXorTrainer(
        keyholder.server_bundle(),
        keyholder.initial_state(),
        config,
        refresh=kw.get("refresh", keyholder.refresh),
        judge=keyholder.judge,
    )


def _decrypt_weights(keyholder: XorKeyHolder, trainer: CkksXorTrainer) -> tuple:
    """Test-only peek with the secret key: W1, W2 and the velocities in plain coordinates."""
    sk = keyholder.keys.context.secret_key()
    k = trainer.kappa

    def dec(w):
        u = np.array([[c.decrypt(sk)[0] for c in row] for row in w.u]) / k
        w2 = np.array([c.decrypt(sk)[0] for c in [*w.w2, w.b]])
        return u, w2

    return (*dec(trainer.weights), *dec(trainer.velocity))


# ---------------------------------------------------------------- the arithmetic


def test_kappa_is_the_real_cube_root() -> None:
    assert kappa(-0.008) == pytest.approx(-0.2)
    assert kappa(0.027) == pytest.approx(0.3)
    with pytest.raises(ValueError):
        kappa(0.0)


def test_encrypted_forward_pass_equals_the_plaintext_network(keyholder, sealed, net) -> None:
    from sealdog.xor.ckks.network import forward

    sk = keyholder.keys.context.secret_key()
    raw = [forward(sealed.network, row).decrypt(sk)[0] for row in [(0, 0), (0, 1), (1, 0), (1, 1)]]
    np.testing.assert_allclose(raw, net.predict(INPUTS), atol=1e-3)  # before hardening
    outputs = [
        decrypt_ckks_outputs(keyholder.keys, {"format": "x"} | _wire(sealed, [row]))[0]
        for row in [(0, 0), (0, 1), (1, 0), (1, 1)]
    ]
    np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=OUTPUT_TOLERANCE)
    assert xor_bits(outputs) == [0, 1, 1, 0]
    # the stored weights kept their levels (TenSEAL switches a right operand in place)
    top = PRESETS["standard"].levels
    assert [vectors.levels_left(c) for c in sealed.network.ciphertexts()] == [top] * 9


def _wire(sealed: SealedCkksXor, rows) -> dict:
    from sealdog.xor.ckks.outputs import encode_outputs

    return encode_outputs(
        evaluate(sealed, rows), preset=sealed.params.name, key_fingerprint=sealed.key_fingerprint
    )


def test_training_predictions_and_one_gradient_step_equal_the_plaintext_trainer(
    keyholder,
) -> None:
    trainer = _trainer(keyholder)
    reference = MomentumState(CONFIG.initial_net())
    assert trainer.judge() is Outcome.running
    _check_predictions(keyholder, trainer, reference)
    for _ in range(2):  # the second step starts from a non-zero velocity, after a refresh
        trainer.step()
        reference.step(CONFIG.learning_rate, CONFIG.momentum)
        w1, w2, v1, v2 = _decrypt_weights(keyholder, trainer)
        np.testing.assert_allclose(w1, reference.net.w1, atol=1e-3)
        np.testing.assert_allclose(w2, reference.net.w2, atol=1e-3)
        np.testing.assert_allclose(v1, reference.v1, atol=1e-3)
        np.testing.assert_allclose(v2, reference.v2, atol=1e-3)
        assert trainer.judge() is Outcome.running
        _check_predictions(keyholder, trainer, reference)
    assert trainer.refreshes == 2  # standard: one step per refresh


def _check_predictions(keyholder, trainer, reference) -> None:
    """The encrypted forward pass within 1e-3 (decrypted in the test, before hardening);
    what the key holder judged (hardened: flooded) within the outputs' tolerance."""
    sk = keyholder.keys.context.secret_key()
    assert trainer._cache is not None
    raw = [y.decrypt(sk)[0] for y in trainer._cache[0]]
    np.testing.assert_allclose(raw, reference.net.predict(INPUTS), atol=1e-3)
    np.testing.assert_allclose(
        keyholder.last_predictions, reference.net.predict(INPUTS), atol=OUTPUT_TOLERANCE
    )


def test_a_trainer_out_of_levels_refreshes_instead_of_failing(keyholder) -> None:
    trainer = _trainer(keyholder)
    top = PRESETS["standard"].levels
    assert trainer.levels_left() == top
    trainer.step()
    assert trainer.levels_left() == top - 3 == 1
    # the weak variant: carrying on without a refresh fails inside SEAL
    with pytest.raises(ValueError, match="scale out of bounds"):
        trainer._forward()
    trainer.step()  # ours: refreshes first, then steps
    assert trainer.refreshes == 1 and trainer.steps == 2
    assert trainer.levels_left() == 1


def test_a_failed_refresh_leaves_the_trainer_as_it_was(keyholder) -> None:
    def refuse(_request: bytes) -> bytes:
        raise ConnectionError("key holder unreachable")

    trainer = _trainer(keyholder, refresh=refuse)
    trainer.step()
    before = [vectors.to_bytes(c) for c in trainer.weights.flat()]
    with pytest.raises(ConnectionError):
        trainer.step()
    assert [vectors.to_bytes(c) for c in trainer.weights.flat()] == before
    assert trainer.steps == 1 and trainer.refreshes == 0


def test_the_data_holder_gets_a_decision_not_predictions(keyholder) -> None:
    trainer = _trainer(keyholder)
    answer = keyholder.judge(trainer.predictions())
    header, blobs = messages.read(
        messages.DECISION, answer, key_fingerprint=keyholder.key_fingerprint
    )
    assert set(header) == {"format", "count", "key_fingerprint", "outcome"} and blobs == []
    assert not trainer.context.is_private()  # the trainer's context cannot decrypt
    with pytest.raises(ValueError, match="secret"):
        trainer.weights.b.decrypt()


def test_messages_for_another_key_are_refused(keyholder) -> None:
    other = XorKeyHolder.generate(PRESETS["standard"], CONFIG)
    with pytest.raises(Exception, match="another key"):
        _trainer_with(other.server_bundle(), keyholder.initial_state())


def _trainer_with(bundle: bytes, state: bytes) -> CkksXorTrainer:
    return CkksXorTrainer(bundle, state, CONFIG, refresh=bytes, judge=bytes)


def test_training_in_one_process_stops_at_the_cap_and_hands_over(keyholder) -> None:
    config = MomentumConfig(seed=3, max_iterations=2)
    reports = []
    result = train_ckks_xor(PRESETS["standard"], config, on_iteration=reports.append)
    reference = train_momentum(config)
    assert result.outcome is Outcome.exhausted == reference.outcome
    assert result.iterations == 2 and [r.iteration for r in reports] == [0, 1, 2]
    assert [r.refreshes for r in reports] == [0, 1, 2]
    # the final weights and the judged predictions reach the key holder flooded
    np.testing.assert_allclose(result.net.w1, reference.state.net.w1, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(result.net.w2, reference.state.net.w2, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(result.predictions, reference.predictions, atol=OUTPUT_TOLERANCE)


@pytest.mark.slow
def test_training_converges_from_a_seed_at_128_bits_like_the_plaintext_trainer() -> None:
    config = MomentumConfig(seed=3)
    reference = train_momentum(config)
    result = train_ckks_xor(PRESETS["standard"], config)
    assert result.outcome is Outcome.converged
    assert abs(result.iterations - reference.iterations) <= 1
    assert xor_bits(result.net.predict(INPUTS)) == [0, 1, 1, 0]


@pytest.mark.slow
def test_the_wide_preset_takes_two_steps_per_refresh() -> None:
    config = MomentumConfig(seed=3, max_iterations=4)
    result = train_ckks_xor(PRESETS["wide"], config)
    reference = train_momentum(config)
    # levels 7 -> 4 -> 1 (two steps), refresh, 7 -> 4 -> 1, refresh to judge iteration 4;
    # `standard` (4 levels) would refresh before every iteration after the first: 4 times
    assert result.iterations == 4 and result.refreshes == 2
    np.testing.assert_allclose(result.net.w1, reference.state.net.w1, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(result.net.w2, reference.state.net.w2, atol=OUTPUT_TOLERANCE)


# ---------------------------------------------------------------- the sealed network


def test_sealed_network_round_trips_and_carries_no_secret_key(sealed, keyholder) -> None:
    model = SealedModel.from_bytes(sealed.to_model().to_bytes())
    assert (model.kind, model.scheme) == ("xor-ckks", "ckks")
    assert model.manifest["security_bits"] == 128 and model.manifest["ring_dim"] == 8192
    again = SealedCkksXor.from_model(model)
    assert not again.context.is_private()
    with pytest.raises(ValueError, match="secret"):
        again.network.w2[0].decrypt()
    assert again.key_fingerprint == keyholder.key_fingerprint


def test_sealed_network_with_a_secret_key_bundle_is_refused(sealed, keyholder) -> None:
    model = sealed.to_model()
    blobs = split_blobs(model.payload)
    private = keyholder.keys.context.serialize(save_secret_key=True)
    manifest = model.manifest_dict()
    from sealdog.crypto.ckks.keys import fingerprint

    manifest["key_fingerprint"] = fingerprint(private)
    bad = SealedModel(manifest, join_blobs([private, *blobs[1:]]))
    with pytest.raises(ModelRejectedError, match="secret key"):
        XorCkksKind().validate(bad, demo_mode=False, allow_research=False)


def test_outputs_under_another_key_are_refused(sealed) -> None:
    other = XorKeyHolder.generate(PRESETS["standard"], CONFIG)
    with pytest.raises(KeyMismatchError):
        decrypt_ckks_outputs(other.keys, _wire(sealed, [(0, 1)]))


def test_without_tenseal_the_kind_refuses_with_the_install_hint(sealed, monkeypatch) -> None:
    monkeypatch.setattr(backend, "available", lambda: False)
    with pytest.raises(ModelRejectedError, match=r"pip install 'sealdog\[ckks\]'"):
        XorCkksKind().validate(sealed.to_model(), demo_mode=True, allow_research=True)


# ---------------------------------------------------------------- hosted


def test_hosted_without_any_research_opt_in(tmp_path, sealed, keyholder, net) -> None:
    strict = make_settings(tmp_path / "d", demo_mode=False, max_model_bytes=64 * 1024 * 1024)
    assert not strict.allow_research_schemes
    for srv in make_server(strict):
        r = srv.upload(sealed.to_model().to_bytes())
        assert r.status_code == 201, r.text
        info = r.json()
        assert (info["kind"], info["scheme"], info["key_bits"]) == ("xor-ckks", "ckks", 8192)
        assert info["summary"]["research_grade"] is False
        assert info["summary"]["security_bits"] == 128
        url = f"/v1/models/{info['id']}/score"
        r = srv.client.post(url, headers=srv.owner, json={"inputs": FOUR})
        assert r.status_code == 200, r.text
        outputs = decrypt_ckks_outputs(keyholder.keys, r.json())
        np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=OUTPUT_TOLERANCE)
        r = srv.client.post(url, headers=srv.owner, json={"inputs": [[0, 2]]})
        assert r.status_code == 422 and "bits" in r.text
        r = srv.client.post(url, headers=srv.owner, json={"emails": ["aGVsbG8="]})
        assert r.status_code == 422


def test_hosted_over_real_http(tmp_path, sealed, keyholder, net) -> None:
    data_dir = tmp_path / "data"
    repo, _ = prepare_storage(ServerSettings(data_dir=data_dir))
    _, owner = issue_token(repo, role=Role.owner, subject="alice")
    repo.engine.dispose()
    proc = UvicornProcess(data_dir)
    try:
        with SealdogClient(proc.url, owner) as client:
            info = client.deploy(sealed.to_model().to_bytes())
            assert (info.kind, info.scheme) == ("xor-ckks", "ckks")
            [answer] = client.score_inputs(info.id, FOUR)
            assert isinstance(answer, DirectResult)
            assert isinstance(answer.verdicts, EncryptedOutputs)
            assert answer.verdicts.format == "sealdog-xor-ckks-outputs"
            outputs = keyholder.decrypt_outputs(answer.verdicts.payload)
            np.testing.assert_allclose(outputs, net.predict(INPUTS), atol=OUTPUT_TOLERANCE)
            assert xor_bits(outputs) == [0, 1, 1, 0]
            [again] = client.score_inputs(info.id, FOUR[:1])
            assert isinstance(again, DirectResult)
            assert isinstance(again.verdicts, EncryptedOutputs)
            first = again.verdicts.payload["outputs"][0]
            assert first != answer.verdicts.payload["outputs"][0]  # re-randomised
    finally:
        proc.stop()


# ---------------------------------------------------------------- attack: which input?


def test_flooding_defeats_telling_inputs_apart_by_their_noise(keyholder, net) -> None:
    """A network whose outputs for (0, 1) and (1, 0) are equal: only the noise says which
    input the server evaluated. The key holder (secret key, sealed model) re-runs the
    deterministic evaluation for both and picks the nearer decryption. Unhardened it is
    right every time; hardened (re-randomised and flooded) it is guessing."""
    import random

    from sealdog.crypto.ckks.outputs import harden
    from sealdog.crypto.ckks.vectors import decrypt_slots, raw_ciphertext, raw_from_bytes
    from sealdog.xor.ckks.network import forward
    from sealdog.xor.plaintext import XorNet

    sym = XorNet(w1=net.w1.copy(), w2=net.w2.copy(), act=net.act)
    sym.w1[:, 1] = sym.w1[:, 0]
    assert sym.predict(np.array([[0, 1]]))[0] == sym.predict(np.array([[1, 0]]))[0]
    sealed_sym = keyholder.seal(sym)
    ctx = keyholder.keys.context

    def slots(vec) -> np.ndarray:
        return np.array(decrypt_slots(ctx, raw_ciphertext(vec)))

    simulated = {row: slots(forward(sealed_sym.network, row)) for row in [(0, 1), (1, 0)]}
    assert np.abs(simulated[(0, 1)] - simulated[(1, 0)]).max() > 0  # the noise differs

    def guess(decrypted: np.ndarray) -> tuple[int, int]:
        return min(simulated, key=lambda row: float(np.sum((decrypted - simulated[row]) ** 2)))

    rng = random.Random(5)
    trials = [rng.choice([(0, 1), (1, 0)]) for _ in range(12)]
    weak = sum(guess(slots(forward(sealed_sym.network, row))) == row for row in trials)
    assert weak == len(trials)
    flood_rng = np.random.default_rng(11)

    def seeded(n: int) -> bytes:
        return flood_rng.bytes(n)

    ours = sum(
        guess(
            np.array(
                decrypt_slots(
                    ctx,
                    raw_from_bytes(
                        ctx, harden(sealed_sym.context, forward(sealed_sym.network, row), seeded)
                    ),
                )
            )
        )
        == row
        for row in trials
    )
    assert ours <= 10  # a fair coin gets 11 or 12 of 12 with probability 0.3%


# ---------------------------------------------------------------- restarts


def test_encrypted_training_restarts_where_the_plaintext_trainer_does() -> None:
    # seed 8's first initialisation diverges after one step; attempt 1 then takes a step
    config = MomentumConfig(seed=8, max_iterations=2)
    reference = train_momentum(config)
    assert (reference.restarts, reference.iterations) == (1, 2)
    reports = []
    result = train_ckks_xor(PRESETS["standard"], config, on_iteration=reports.append)
    assert (result.outcome, result.iterations, result.restarts) == (
        reference.outcome,
        2,
        1,
    )
    assert [(r.iteration, r.outcome, r.restarts) for r in reports] == [
        (0, Outcome.running, 0),
        (1, Outcome.diverged, 0),
        (1, Outcome.running, 1),
        (2, Outcome.running, 1),
    ]
    assert result.keyholder.restarts_answered == 1
    np.testing.assert_allclose(result.net.w1, reference.state.net.w1, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(result.net.w2, reference.state.net.w2, atol=OUTPUT_TOLERANCE)


def test_the_key_holder_refuses_a_restart_it_does_not_owe(keyholder) -> None:
    for attempt in (0, CONFIG.max_restarts + 1, "1", True):
        request = messages.write(
            messages.RESTART, {"key_fingerprint": keyholder.key_fingerprint, "attempt": attempt}
        )
        with pytest.raises(Exception, match="attempt from 1"):
            keyholder.restart(request)
    other = messages.write(messages.RESTART, {"key_fingerprint": "0" * 16, "attempt": 1})
    with pytest.raises(Exception, match="another key"):
        keyholder.restart(other)
