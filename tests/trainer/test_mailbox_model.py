"""Per-mailbox threshold offsets in the plaintext model: applied by `for_mailbox` only,
stored and validated in the model file, never in a sealed model, chosen by `seal --mailbox`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.cli_errors import ExitStatus
from sealdog.crypto.paillier import (
    LinearScorer,
    decrypt_verdicts,
    generate_keypair,
    save_public_key,
)
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.sealed_model import SealedModel
from sealdog.trainer.model import LinearModel, ModelFileError, UnknownMailboxError
from sealdog.trainer.sealing import public_metadata, seal_plaintext_model

SPEC = FeaturiserSpec(n_buckets=16)
OFFSETS = {"/mail/alice": 0.875, "/mail/bob": -0.4375}

runner = CliRunner()


def _model() -> LinearModel:
    rng = np.random.default_rng(7)
    base = LinearModel(rng.normal(0, 1, 16), 0.3, SPEC, {"learner": "nb-logistic"}, OFFSETS)
    return base.with_threshold(0.25)


def _features(n: int = 60) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(11)
    out = []
    for _ in range(n):
        idx = np.sort(rng.choice(16, size=4, replace=False)).astype(np.int64)
        out.append((idx, rng.integers(1, 3, size=4).astype(np.int64)))
    return out


def _verdicts(model: LinearModel, feats: list[tuple[np.ndarray, np.ndarray]]) -> list[bool]:
    return [model.bias + float(np.dot(model.weights[i], c)) >= 0 for i, c in feats]


def test_for_mailbox_folds_exactly_that_offset_and_nothing_else() -> None:
    model = _model()
    X = np.random.default_rng(1).integers(0, 3, size=(50, 16)).astype(float)
    for name, offset in OFFSETS.items():
        mine = model.for_mailbox(name)
        assert mine.bias == model.bias - offset
        assert mine.weights is model.weights or np.array_equal(mine.weights, model.weights)
        assert mine.mailbox_offsets == {}
        assert mine.metadata["threshold_folded"] == model.metadata["threshold_folded"] + offset
        assert np.allclose(mine.decision_function(X), model.decision_function(X) - offset)
    # unknown mailbox or none: the default model itself
    assert model.for_mailbox("/mail/carol") is model and model.for_mailbox(None) is model
    # with_threshold keeps the offsets relative to the folded threshold
    assert model.mailbox_offsets == dict(sorted(OFFSETS.items()))


def test_offsets_round_trip_and_old_files_still_load(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "m.json")
    data = json.loads((tmp_path / "m.json").read_text())
    assert data["version"] == 2 and data["mailbox_thresholds"] == {"offsets": OFFSETS}
    loaded = LinearModel.load(tmp_path / "m.json")
    assert loaded.mailbox_offsets == OFFSETS and loaded.to_dict() == model.to_dict()
    # a file without offsets is the version-1 file it always was, and loads as before
    plain = LinearModel(model.weights, model.bias, SPEC, model.metadata)
    old = plain.to_dict()
    assert old["version"] == 1 and "mailbox_thresholds" not in old
    again = LinearModel.from_dict(json.loads(json.dumps(old)))
    assert again.mailbox_offsets == {} and again.to_dict() == old


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["mailbox_thresholds"]["offsets"].update({"x": float("inf")}),
        lambda d: d["mailbox_thresholds"]["offsets"].update({"x": "0.5"}),
        lambda d: d["mailbox_thresholds"]["offsets"].update({"x": True}),
        lambda d: d["mailbox_thresholds"].update({"offsets": {}}),
        lambda d: d["mailbox_thresholds"].update({"offsets": [0.5]}),
        lambda d: d.pop("mailbox_thresholds"),
        lambda d: d.update({"version": 1}),
    ],
)
def test_malformed_offsets_are_refused(change: Any) -> None:
    data = json.loads(json.dumps(_model().to_dict()))
    change(data)
    with pytest.raises(ModelFileError):
        LinearModel.from_dict(data)


def test_offsets_need_string_names() -> None:
    with pytest.raises(ModelFileError, match="strings"):
        LinearModel(np.zeros(16), 0.0, SPEC, {}, {1: 0.5})  # type: ignore[dict-item]


def test_sealed_models_carry_one_bias_and_no_offsets() -> None:
    model = _model()
    pk, sk = generate_keypair(512, insecure=True)
    feats = _features()
    alice = model.for_mailbox("/mail/alice")
    assert _verdicts(alice, feats) != _verdicts(model, feats)  # the offset matters here
    for plain in (model, alice, model.for_mailbox("/mail/bob")):
        sealed = seal_plaintext_model(plain, pk)
        blob = sealed.to_bytes()
        for name in OFFSETS:
            assert name.encode() not in blob
        assert b"mailbox" not in blob and b"threshold_folded" not in blob
        assert "mailbox" not in public_metadata(plain)
        got = decrypt_verdicts(sk, LinearScorer(sealed.linear()).score_batch(feats))
        assert got == _verdicts(plain, feats)


def test_seal_cli_seals_for_a_known_mailbox_and_refuses_another(tmp_path: Path) -> None:
    model = _model()
    model.save(tmp_path / "model.json")
    pk, sk = generate_keypair(512, insecure=True)
    save_public_key(pk, tmp_path / "pk.json")
    base = ["seal", str(tmp_path / "model.json"), "--public-key", str(tmp_path / "pk.json")]
    out = tmp_path / "alice.sealed"
    result = runner.invoke(app, [*base, "--mailbox", "/mail/alice", "--out", str(out)])
    assert result.exit_code == 0, result.output
    feats = _features()
    sealed = SealedModel.read(out)
    got = decrypt_verdicts(sk, LinearScorer(sealed.linear()).score_batch(feats))
    assert got == _verdicts(model.for_mailbox("/mail/alice"), feats)
    assert b"/mail/" not in out.read_bytes()

    result = runner.invoke(
        app, [*base, "--mailbox", "/mail/carol", "--out", str(tmp_path / "c.sealed")]
    )
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "/mail/alice" in result.output and "/mail/bob" in result.output
    assert not (tmp_path / "c.sealed").exists()

    # a one-threshold model knows no mailbox
    LinearModel(model.weights, model.bias, SPEC).save(tmp_path / "one.json")
    one = ["seal", str(tmp_path / "one.json"), "--public-key", str(tmp_path / "pk.json")]
    result = runner.invoke(
        app, [*one, "--mailbox", "/mail/alice", "--out", str(tmp_path / "o.sealed")]
    )
    assert result.exit_code != 0 and "one threshold" in result.output


def test_eval_mailbox_needs_a_model() -> None:
    result = runner.invoke(app, ["eval", "--mailbox", "x", "--agreement-key-bits", "0"])
    assert result.exit_code != 0 and "--model" in result.output


def test_evaluation_judges_and_seals_each_email_with_its_mailbox_model(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import scipy.sparse as sp

    from sealdog.trainer import evaluation

    model = _model()
    feats = _features(40)
    boxes = ["/mail/alice", "/mail/carol", "/mail/bob", "/mail/alice"] * 10
    X = sp.csr_matrix(
        (
            np.concatenate([c for _, c in feats]).astype(float),
            np.concatenate([i for i, _ in feats]),
            np.cumsum([0] + [len(i) for i, _ in feats]),
        ),
        shape=(len(feats), 16),
    )
    scores = evaluation.mailbox_scores(model, X, boxes)
    for k, name in enumerate(boxes):
        mine = model.for_mailbox(name)
        i, c = feats[k]
        assert scores[k] == pytest.approx(mine.bias + float(np.dot(mine.weights[i], c)))
    assert np.array_equal(evaluation.mailbox_scores(model, X, None), model.decision_function(X))

    sealed_biases: list[float] = []
    real = evaluation.encrypted_agreement

    def spy(m: LinearModel, f: Any, **kw: Any) -> evaluation.EncryptedCheck:
        sealed_biases.append(m.bias)
        return real(m, f, **kw)

    monkeypatch.setattr(evaluation, "encrypted_agreement", spy)
    check = evaluation.encrypted_agreement_by_mailbox(
        model, feats, boxes, key_bits=512, insecure=True
    )
    # one sealing per model in use: the default (carol) and alice's and bob's own
    assert sorted(sealed_biases) == sorted(
        model.for_mailbox(b).bias for b in ("/mail/alice", "/mail/bob", "/mail/carol")
    )
    assert check.n_scored == 40 and check.agreement == 1.0 and check.agreement_fixed_point == 1.0


def test_a_mailbox_may_be_named_by_its_folder_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = str(tmp_path / "alice")
    model = LinearModel(np.zeros(16), 0.0, SPEC, {}, {name: 0.5})
    monkeypatch.chdir(tmp_path)
    assert model.for_named_mailbox("alice").bias == model.for_named_mailbox(name).bias == -0.5
    with pytest.raises(UnknownMailboxError, match="alice"):
        model.for_named_mailbox("carol")
    assert model.for_named_mailbox(None) is model  # no --mailbox: the default model


def test_audit_checks_a_mailbox_sealed_model_against_that_mailbox(tmp_path: Path) -> None:
    from sealdog.client.audit import run_audit

    model = _model()
    model.save(tmp_path / "model.json")
    pk, sk = generate_keypair(512, insecure=True)
    seal_plaintext_model(model.for_mailbox("/mail/alice"), pk).write(tmp_path / "a.sealed")
    common: dict[str, Any] = {
        "sealed_path": tmp_path / "a.sealed",
        "plain_path": tmp_path / "model.json",
        "secret_key": sk,
        "openings_path": None,
        "workers": 1,
        "top": 3,
    }
    assert run_audit(**common, mailbox="/mail/alice").passed
    assert not run_audit(**common).passed  # the default's bias is not alice's
