"""XOR: polynomial sigmoid, gradients, encrypted training from fixed seeds, sealed evaluation,
bad input."""

from __future__ import annotations

import dataclasses
import json
import random

import numpy as np
import pytest

from sealdog.crypto.vhe.errors import NoiseBudgetExhausted
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS
from sealdog.sealed_model import SealedModelError
from sealdog.xor.activation import fit_poly_sigmoid
from sealdog.xor.demo import run_xor_demo
from sealdog.xor.encrypted import max_iterations, train_encrypted
from sealdog.xor.keyholder import decrypt_outputs, seal_xor_network
from sealdog.xor.plaintext import (
    INPUTS,
    TARGETS,
    TrainingConfig,
    XorInputError,
    XorNet,
    train_plaintext,
)
from sealdog.xor.sealed import SealedXor, evaluate_sealed_xor

DEMO = PRESETS["demo"]


def test_poly_sigmoid_is_a_least_squares_fit_not_taylor():
    act = fit_poly_sigmoid(5.0)
    z = np.linspace(-5, 5, 101)
    assert act.max_error() < 0.07
    taylor = 0.5 + z / 4 - z**3 / 48
    assert np.max(np.abs(taylor - 1 / (1 + np.exp(-z)))) > 10 * act.max_error()


def test_gradients_match_finite_differences():
    net = XorNet.initial(TrainingConfig(seed=3))
    g1, g2 = net.gradients()
    eps = 1e-6
    for arr, grad in ((net.w1, g1), (net.w2, g2)):
        for idx in np.ndindex(arr.shape):
            old = arr[idx]
            arr[idx] = old + eps
            up = net.loss()
            arr[idx] = old - eps
            down = net.loss()
            arr[idx] = old
            assert (up - down) / (2 * eps) == pytest.approx(grad[idx], rel=1e-5, abs=1e-6)


def test_plaintext_training_converges_within_the_fit_range():
    net, losses = train_plaintext(TrainingConfig())
    preds = net.predict(INPUTS)
    assert np.all(np.abs(preds - TARGETS) < 0.1)
    assert losses[-1] < losses[0] / 100
    z, _, _ = net.forward(INPUTS)
    assert np.abs(z).max() < 1.2 * net.act.fit_range  # the fit covers what the trained net uses


def test_encrypted_training_converges_and_matches_plaintext():
    result = train_encrypted(DEMO, TrainingConfig(), key_seed=11)
    preds = result.net.predict(INPUTS)
    assert np.all(np.abs(preds - TARGETS) < 0.1)
    np.testing.assert_allclose(preds, [-0.0689, 1.0116, 1.0564, -0.0141], atol=2e-3)
    reference, _ = train_plaintext(TrainingConfig())
    np.testing.assert_allclose(preds, reference.predict(INPUTS), atol=2e-3)
    assert result.decrypted_losses[-1] < 0.01 < result.decrypted_losses[0]


def test_too_small_noise_budget_is_refused_before_training():
    too_many = max_iterations(DEMO) + 1
    with pytest.raises(NoiseBudgetExhausted, match="iterations"):
        train_encrypted(DEMO, TrainingConfig(iterations=too_many), key_seed=1)
    shallow = dataclasses.replace(DEMO, name="shallow", log_q=300)
    with pytest.raises(NoiseBudgetExhausted):
        train_encrypted(shallow, TrainingConfig(iterations=3), key_seed=1)


def test_sealed_network_round_trip_and_bad_input():
    net, _ = train_plaintext(TrainingConfig())
    rng = random.Random(5)
    sk = generate_secret_key(DEMO, 1, rng)
    sealed = SealedXor.from_bytes(seal_xor_network(net, sk, rng).to_bytes())
    outs = evaluate_sealed_xor(sealed, INPUTS)
    values = decrypt_outputs(sk, outs)
    np.testing.assert_allclose(values, net.predict(INPUTS), atol=1e-3)
    assert [int(v > 0.5) for v in values] == [0, 1, 1, 0]
    again = evaluate_sealed_xor(sealed, INPUTS[:1])
    assert again[0].c != outs[0].c  # re-randomised
    with pytest.raises(XorInputError, match="shape"):
        evaluate_sealed_xor(sealed, np.array([[0, 1, 1]]))
    with pytest.raises(XorInputError, match="bits"):
        evaluate_sealed_xor(sealed, np.array([[0, 2]]))
    with pytest.raises(SealedModelError, match="old JSON format"):  # the pre-container file
        SealedXor.from_bytes(b'{"format": "sealdog-xor", "version": 1}')


def test_demo_json_line(capsys):
    summary = run_xor_demo(json_output=True, key_seed=2)
    last = capsys.readouterr().out.strip().splitlines()[-1]
    assert json.loads(last) == summary
    assert summary["demo"] == "xor" and summary["preset"] == "demo" and summary["iterations"] == 10
    assert all(abs(p - t) < 0.1 for p, t in zip(summary["predictions"], [0, 1, 1, 0]))
