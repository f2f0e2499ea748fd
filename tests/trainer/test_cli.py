"""`sealdog train / seal / eval` end to end on small corpora (samples, synthetic Enron layout)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.cli_errors import ExitStatus
from sealdog.data.sample_corpus import SAMPLES_DIR
from sealdog.trainer.model import LinearModel

runner = CliRunner()


def test_train_seal_on_samples(tmp_path: Path) -> None:
    from sealdog.crypto.paillier import (
        LinearScorer,
        decrypt_verdicts,
        generate_keypair,
        save_public_key,
    )
    from sealdog.data.sample_corpus import load_samples
    from sealdog.sealed_model import SealedModel

    model_path = tmp_path / "model.json"
    result = runner.invoke(app, ["train", "--samples", "--out", str(model_path), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output.strip().splitlines()[-1])
    assert report["n_train"] == 40 and report["n_features"] == 2**12
    # Piped, every training stage says so (a long fit is never silent).
    for stage in (
        "training: parsing e-mails ...",
        "training: choosing C: fitting C=0.1 (1 of 3) ...",
        "training: final fit with C=",
    ):
        assert stage in result.stderr, stage
    model = LinearModel.load(model_path)

    pk, sk = generate_keypair(512, insecure=True)
    save_public_key(pk, tmp_path / "pk.json")
    sealed_path = tmp_path / "model.sealed"
    result = runner.invoke(
        app,
        [
            "seal",
            str(model_path),
            "--public-key",
            str(tmp_path / "pk.json"),
            "--out",
            str(sealed_path),
        ],
    )
    assert result.exit_code == 0, result.output
    sealed = SealedModel.read(sealed_path)
    assert sealed.featuriser == model.featuriser.to_dict()
    assert "intercept" not in sealed.metadata and "threshold_folded" not in sealed.metadata
    # Where the key holder keeps its training data stays on its side.
    assert model.metadata["corpus_path"] and "corpus_path" not in sealed.metadata
    assert model.metadata["corpus_path"] not in json.dumps(sealed.manifest)
    f = model.make_featuriser()
    feats = [f.featurise_email(s.raw) for s in load_samples()]
    verdicts = decrypt_verdicts(
        sk, LinearScorer(sealed.linear()).score_batch([(x.indices, x.counts) for x in feats])
    )
    assert verdicts == [model.score(x) >= 0 for x in feats]


def test_seal_errors(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["seal", str(tmp_path / "none.json"), "--public-key", str(tmp_path / "pk.json")]
    )
    assert result.exit_code == ExitStatus.BAD_INPUT and "sealdog train" in result.output


def test_train_without_corpus_says_where_it_comes_from(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SEALDOG_DATA", str(tmp_path / "nothing-here"))
    result = runner.invoke(app, ["train", "--out", str(tmp_path / "m.json")])
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "Enron-Spam corpus not found" in result.output and "sealdog data fetch" in result.output
    assert not (tmp_path / "m.json").exists()


def _fake_enron(root: Path) -> None:
    """enron1 / enron2 folders built from the bundled samples (alternate e-mails)."""
    for folder, parity in (("enron1", 0), ("enron2", 1)):
        for sub in ("ham", "spam"):
            dest = root / folder / sub
            dest.mkdir(parents=True)
            for i, path in enumerate(sorted((SAMPLES_DIR / sub).glob("*.eml"))):
                if i % 2 == parity:
                    shutil.copy(path, dest / f"{i:04d}.{sub}.txt")


def test_eval_json_last_line(tmp_path: Path) -> None:
    _fake_enron(tmp_path / "corpus")
    out = tmp_path / "eval.json"
    result = runner.invoke(
        app,
        [
            "eval",
            "--data",
            str(tmp_path / "corpus"),
            "--splits",
            "e1_e2",
            "--buckets",
            "4096",
            "--agreement-key-bits",
            "512",
            "--out",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    last = json.loads(result.output.strip().splitlines()[-1])
    assert list(last) == ["eval", "splits"] and last["eval"] == "enron"
    split = last["splits"]["e1_e2"]
    assert list(split) == [
        "accuracy",
        "precision",
        "recall",
        "fpr",
        "fnr",
        "auc",
        "agreement",
        "n_test",
    ]
    assert split["n_test"] == 20 and split["agreement"] == 1.0
    assert 0.0 <= split["fpr"] <= 1.0 and split["accuracy"] >= 0.8
    saved = json.loads(out.read_text())
    d = saved["details"]["e1_e2"]
    assert np.isclose(split["fpr"], d["fp"] / (d["fp"] + d["tn"]))
    assert d["tp"] + d["fp"] + d["tn"] + d["fn"] == 20
    assert (
        saved["splits"] == last["splits"] and saved["details"]["e1_e2"]["agreement_key_bits"] == 512
    )
    assert "insecure" in result.output
