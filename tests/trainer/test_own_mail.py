"""Training and evaluating on a user's own raw mail: --ham/--spam PATHs, order-free models,
out-of-fold selection, the term map, `sealdog eval` CV/model lines, `--base`, the audit."""

from __future__ import annotations

import json
import random
import stat
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from own_mail import make_email, write_corpus, write_mbox
from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.mail.corpora import labelled_sources
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.crossval import cross_validate, training_corpus
from sealdog.trainer.mailset import read_labelled
from sealdog.trainer.model import LinearModel
from sealdog.trainer.term_map import TermMap, TermMapError, term_map_path
from sealdog.trainer.training import TrainingConfig, folds_for, train_prepared

runner = CliRunner()
V2 = FeaturiserSpec.header_aware(n_buckets=2**12)
CONFIG = TrainingConfig(featuriser=V2, c_grid=(0.3, 1.0), target_fpr=0.05)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("mine"), n_ham=60, n_spam=40)


def _train(sources: list, config: TrainingConfig = CONFIG) -> LinearModel:
    mail = read_labelled(sources, config.featuriser, workers=1)
    prepared = training_corpus(mail.terms, np.arange(len(mail.labels)), mail, config)
    model, _ = train_prepared(prepared, config)
    return model


def test_the_same_mail_in_any_order_and_form_gives_the_same_model(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    ham, spam = corpus
    first = _train(labelled_sources([ham], [spam]))
    # The same messages: renamed so the folder order is shuffled, and half of them in an mbox.
    raws = {
        label: sorted(p.read_bytes() for p in d.iterdir()) for label, d in (("h", ham), ("s", spam))
    }
    rng = random.Random(7)
    shuffled = tmp_path / "shuffled"
    paths: dict[str, list[Path]] = {}
    for label, messages in raws.items():
        messages = messages[:]
        rng.shuffle(messages)
        folder = shuffled / label
        folder.mkdir(parents=True)
        half = len(messages) // 2
        for _i, raw in enumerate(messages[:half]):
            (folder / f"{rng.random():.9f}").write_bytes(raw)
        box = write_mbox(shuffled / f"{label}.mbox", messages[half:])
        paths[label] = [box, folder]
    second = _train(labelled_sources(paths["h"], paths["s"]))
    assert np.array_equal(first.weights, second.weights)
    assert first.bias == second.bias and first.featuriser == second.featuriser


def test_duplicates_stay_in_one_fold(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    ham, spam = corpus
    copies = tmp_path / "copies"
    copies.mkdir()
    originals = sorted(spam.iterdir())[:5]
    for p in originals:
        (copies / ("copy-" + p.name)).write_bytes(p.read_bytes())
    mail = read_labelled(labelled_sources([ham], [spam, copies]), V2, workers=1)
    assert len(mail.duplicates) == 5 and all(d.reason == "message-id" for d in mail.duplicates)
    folds = folds_for(mail.y, mail.keys, mail.groups, 5, 0)
    by_name = dict(zip(mail.names, folds))
    for p in originals:
        assert by_name[str(p)] == by_name[str(copies / ("copy-" + p.name))]
    # stratified: every fold holds ham and spam
    for f in range(5):
        assert set(mail.y[folds == f].tolist()) == {0, 1}


def test_cross_validation_pools_out_of_fold_scores_and_agrees_encrypted(
    corpus: tuple[Path, Path],
) -> None:
    ham, spam = corpus
    mail = read_labelled(labelled_sources([ham], [spam]), V2, workers=2, with_text=True)
    assert mail.texts is not None and mail.texts[0].startswith("Subject: ")
    result = cross_validate(mail, CONFIG, folds=4, key_bits=512)
    line = result.to_json()
    assert line["eval"] == "cv" and line["n"] == 100 and line["folds"] == 4
    assert set(line["baseline"]) == {"accuracy", "fpr", "fnr", "auc"}
    assert result.agreement == 1.0 and result.agreement_fixed_point == 1.0
    assert line["auc"] > 0.9 and len(result.fold_details) == 4
    m = result.metrics
    assert m["tp"] + m["fn"] == 40 and m["tn"] + m["fp"] == 60


def test_train_cli_on_own_mail_writes_model_term_map_and_expected_rates(
    corpus: tuple[Path, Path], tmp_path: Path
) -> None:
    ham, spam = corpus
    out = tmp_path / "model.json"
    args = ["train", "--ham", str(ham), "--spam", str(spam), "-o", str(out), "--json"]
    result = runner.invoke(app, [*args, "--buckets", "4096", "--target-fpr", "0.05"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report["n_train"] == 100 and report["validation"]["method"] == "out-of-fold"
    expected = report["validation"]["expected"]
    assert (
        expected["n_ham"] == 60
        and expected["fpr_ci95"][0] <= expected["fpr"] <= expected["fpr_ci95"][1]
    )
    assert any("ham e-mails" in w for w in report["warnings"])  # 60 < 20 / 0.05
    assert "expected on new mail like this" in result.stdout and "95% CI" in result.stdout
    model = LinearModel.load(out)
    assert model.featuriser.version == 2 and model.featuriser.families  # raw mail: v2 default
    terms = term_map_path(out)
    assert terms.name == "model.terms.json"
    assert stat.S_IMODE(terms.stat().st_mode) == 0o600
    term_map = TermMap.load(terms, model.featuriser)
    spam_bucket = int(np.argmax(model.weights))
    assert term_map.name(spam_bucket)  # the most spam-indicative bucket has a name
    with pytest.raises(TermMapError, match="another featuriser"):
        TermMap.load(terms, replace(model.featuriser, n_buckets=8))
    # v1 on request
    v1 = tmp_path / "v1.json"
    r = runner.invoke(app, [*args[:-3], "-o", str(v1), "--features", "v1", "--buckets", "4096"])
    assert r.exit_code == 0, r.output
    assert LinearModel.load(v1).featuriser.version == 1


def test_eval_cli_cv_and_model_lines(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    ham, spam = corpus
    mail_args = ["--ham", str(ham), "--spam", str(spam), "--buckets", "4096"]
    r = runner.invoke(
        app,
        [
            "eval",
            *mail_args,
            "--folds",
            "3",
            "--json",
            "--agreement-key-bits",
            "512",
            "-o",
            str(tmp_path / "cv.json"),
            "--target-fpr",
            "0.05",
        ],
    )
    assert r.exit_code == 0, r.output
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert list(line)[:11] == [
        "eval",
        "n",
        "folds",
        "accuracy",
        "precision",
        "recall",
        "fpr",
        "fnr",
        "auc",
        "baseline",
        "agreement",
    ]
    assert line["folds"] == 3 and line["agreement"] == 1.0
    model_path = tmp_path / "m.json"
    r = runner.invoke(app, ["train", *mail_args, "-o", str(model_path)])
    assert r.exit_code == 0, r.output
    extra = tmp_path / "extra"
    extra.mkdir()
    (extra / "x.eml").write_bytes(make_email(1, 999, random.Random(3)))
    r = runner.invoke(
        app,
        [
            "eval",
            "--model",
            str(model_path),
            "--ham",
            str(ham),
            "--spam",
            str(spam),
            "--spam",
            str(extra),
            "--json",
            "--agreement-key-bits",
            "512",
            "-o",
            str(tmp_path / "m-eval.json"),
        ],
    )
    assert r.exit_code == 0, r.output
    line = json.loads(r.stdout.strip().splitlines()[-1])
    assert line["eval"] == "model" and line["n"] == 101 and line["agreement"] == 1.0
    assert set(line["per_path"]) == {str(ham), str(spam), str(extra)}
    assert line["per_path"][str(extra)]["n"] == 1


def test_base_corpus_trains_but_is_never_judged(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    ham, spam = corpus
    base = tmp_path / "base"
    write_corpus(base, n_ham=30, n_spam=30, seed=5)
    out = tmp_path / "mixed.json"
    r = runner.invoke(
        app,
        [
            "train",
            "--ham",
            str(ham),
            "--spam",
            str(spam),
            "--base",
            str(base),
            "--base-weight",
            "0.3",
            "--buckets",
            "4096",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert r.exit_code == 0, r.output
    report = json.loads(r.stdout.strip().splitlines()[-1])
    assert report["n_train"] == 160 and report["validation"]["n_judged"] == 100
    assert "weight 0.3" in LinearModel.load(out).metadata["corpus"]


def test_bad_inputs_fail_clearly(tmp_path: Path, corpus: tuple[Path, Path]) -> None:
    ham, _ = corpus
    r = runner.invoke(app, ["train", "--ham", str(ham), "--spam", str(tmp_path / "nope")])
    assert r.exit_code == 2 and "No such e-mail file" in r.output
    r = runner.invoke(app, ["train", "--ham", str(ham), "-o", str(tmp_path / "m.json")])
    assert r.exit_code == 2 and "both ham and spam" in r.output
    assert not (tmp_path / "m.json").exists()


def test_labels_csv_trains_like_the_flags(corpus: tuple[Path, Path], tmp_path: Path) -> None:
    ham, spam = corpus
    labels = tmp_path / "labels.csv"
    labels.write_text(f"path,label\n{ham},ham\n{spam},spam\n")
    outs = []
    for args in (["--labels", str(labels)], ["--ham", str(ham), "--spam", str(spam)]):
        out = tmp_path / f"m{len(outs)}.json"
        r = runner.invoke(
            app, ["train", *args, "--buckets", "1024", "--c-grid", "1", "-o", str(out)]
        )
        assert r.exit_code == 0, r.output
        outs.append(LinearModel.load(out))
    assert np.array_equal(outs[0].weights, outs[1].weights) and outs[0].bias == outs[1].bias
