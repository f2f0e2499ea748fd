"""`--base` mixing and mailbox-aware folds, on small generated corpora (no dataset needed).

`--base` must change the model in the direction of the base corpus, more so with a larger
weight, and never be judged; folds must hold out whole mailboxes when the training mail
comes from two or more mailboxes with ham and spam, and stay stratified otherwise.
"""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from own_mail import make_email, write_corpus

from sealdog.mail.corpora import labelled_sources
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.crossval import BaseCorpus, training_corpus
from sealdog.trainer.mailset import read_labelled
from sealdog.trainer.model import LinearModel
from sealdog.trainer.splits import mailbox_folds
from sealdog.trainer.training import (
    TrainingConfig,
    fit_linear,
    mailbox_folds_for,
    train_prepared,
)

V2 = FeaturiserSpec.header_aware(n_buckets=2**12)
CONFIG = TrainingConfig(featuriser=V2, c_grid=(1.0,), target_fpr=None)
MARKER = "zebrafinch"


@pytest.fixture(scope="module")
def mine(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    return write_corpus(tmp_path_factory.mktemp("mine"), n_ham=40, n_spam=30)


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> BaseCorpus:
    """A base corpus whose spam, and only its spam, says MARKER (the user's mail never does)."""
    root = tmp_path_factory.mktemp("base")
    rng = random.Random(11)
    for label, name in ((0, "ham"), (1, "spam")):
        (root / name).mkdir()
        for i in range(30):
            raw = make_email(label, 1000 + i, rng)
            if label:
                raw = raw.rstrip(b"\n") + f" {MARKER} {MARKER}\n".encode()
            (root / name / f"{i}.eml").write_bytes(raw)
    mail = read_labelled(labelled_sources([root / "ham"], [root / "spam"]), V2, workers=1)
    return BaseCorpus(mail.terms, mail.labels, mail.keys, mail.groups, 1.0, str(root))


def _train(ham: Path, spam: Path, base: BaseCorpus | None) -> LinearModel:
    mail = read_labelled(labelled_sources([ham], [spam]), V2, workers=1)
    prepared = training_corpus(mail.terms, np.arange(len(mail.labels)), mail, CONFIG, base)
    model, _ = train_prepared(prepared, CONFIG)
    return model


def _marker_weight(model: LinearModel) -> float:
    index = model.make_featuriser().index_terms([f"w:{MARKER}"]).indices
    assert len(index) == 1
    return float(model.weights[int(index[0])])


def test_base_moves_the_model_towards_it_and_its_weight_counts(
    mine: tuple[Path, Path], base: BaseCorpus
) -> None:
    ham, spam = mine
    alone = _train(ham, spam, None)
    assert _marker_weight(alone) == 0.0  # never seen: no evidence either way
    weights = [0.1, 0.5, 2.0]
    mixed = [_train(ham, spam, BaseCorpus(**{**base.__dict__, "weight": w})) for w in weights]
    marker = [_marker_weight(m) for m in mixed]
    # the base's spam word becomes a spam signal, and more so the more the base weighs
    assert 0.0 < marker[0] < marker[1] < marker[2]
    assert not np.array_equal(alone.weights, mixed[0].weights)


def test_base_weight_is_the_sample_weight_of_the_fit(
    mine: tuple[Path, Path], base: BaseCorpus
) -> None:
    """The final model is exactly the weighted fit on user + base rows (base rows weigh w)."""
    ham, spam = mine
    mail = read_labelled(labelled_sources([ham], [spam]), V2, workers=1)
    heavy = BaseCorpus(**{**base.__dict__, "weight": 0.7})
    prepared = training_corpus(mail.terms, np.arange(len(mail.labels)), mail, CONFIG, heavy)
    model, report = train_prepared(prepared, CONFIG)
    assert prepared.sample_weight is not None and prepared.train_only is not None
    assert set(prepared.sample_weight[prepared.train_only].tolist()) == {0.7}
    assert set(prepared.sample_weight[~prepared.train_only].tolist()) == {1.0}
    assert report.validation["n_judged"] == len(mail.labels)
    assert prepared.keys is not None
    order = sorted(range(len(prepared.y)), key=lambda i: prepared.keys[i])  # type: ignore[index]
    w, b = fit_linear(
        prepared.X[order],
        prepared.y[order],
        c=1.0,
        learner=CONFIG.learner,
        sample_weight=prepared.sample_weight[order],
    )
    assert np.array_equal(model.weights, w) and model.metadata["intercept"] == b


def _two_mailboxes(root: Path) -> list:
    alice_ham, alice_spam = write_corpus(root / "alice", n_ham=30, n_spam=20, seed=1)
    bob_ham, bob_spam = write_corpus(root / "bob", n_ham=20, n_spam=20, seed=2)
    return labelled_sources([alice_ham, bob_ham], [alice_spam, bob_spam])


def test_folds_hold_out_whole_mailboxes(tmp_path: Path) -> None:
    mail = read_labelled(_two_mailboxes(tmp_path), V2, workers=1)
    assert {Path(m).name for m in mail.mailboxes} == {"alice", "bob"}
    folds = mailbox_folds_for(mail.y, mail.keys, mail.groups, mail.mailboxes, 5, 0)
    assert folds is not None and sorted(set(folds.tolist())) == [0, 1]
    for box in set(mail.mailboxes):
        assert len({int(f) for f, m in zip(folds, mail.mailboxes) if m == box}) == 1
    # one mailbox (the shuffle test's case, spamassassin-dev): no mailbox folds
    alice = tmp_path / "alice"
    single = read_labelled(labelled_sources([alice / "ham"], [alice / "spam"]), V2, workers=1)
    assert mailbox_folds_for(single.y, single.keys, single.groups, single.mailboxes, 5, 0) is None


def test_two_mailboxes_choose_c_on_held_out_mailboxes_and_report_them(tmp_path: Path) -> None:
    mail = read_labelled(_two_mailboxes(tmp_path), V2, workers=1)
    config = TrainingConfig(featuriser=V2, c_grid=(0.1, 1.0), target_fpr=0.05)
    prepared = training_corpus(mail.terms, np.arange(len(mail.labels)), mail, config)
    _model, report = train_prepared(prepared, config)
    held = report.validation["held_out_mailbox"]
    assert report.validation["mailboxes"] == 2
    assert held["n_ham"] == 50 and held["n_spam"] == 40
    grid = report.validation["grid"]
    best = max(grid, key=lambda e: (e["held_out_mailbox_auc"], -e["c"]))
    assert report.chosen_c == best["c"]
    # without mailboxes (the same mail as one mailbox) the grid carries no mailbox figures
    prepared.mailboxes = None
    _, flat = train_prepared(prepared, config)
    assert "held_out_mailbox" not in flat.validation
    assert all("held_out_mailbox_auc" not in e for e in flat.validation["grid"])


def test_train_cli_prints_what_a_new_mailbox_should_expect(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sealdog.cli import app

    _two_mailboxes(tmp_path)
    args = ["train", "-o", str(tmp_path / "m.json"), "--buckets", "1024", "--json"]
    for box in ("alice", "bob"):
        args += ["--ham", str(tmp_path / box / "ham"), "--spam", str(tmp_path / box / "spam")]
    r = CliRunner().invoke(app, [*args, "--target-fpr", "0.05", "--c-grid", "0.3,1"])
    assert r.exit_code == 0, r.output
    assert "expected on a mailbox it never saw (each of 2 mailbox folds held out)" in r.stdout
    assert "per-mailbox thresholds: 2 mailboxes get the threshold" in r.stdout
    assert str(tmp_path / "alice") in r.stdout and "any other mailbox gets the pooled" in r.stdout


def test_mailbox_folds_order_free_and_keep_duplicates_together() -> None:
    labels = [0, 1, 0, 1, 0, 1, 0, 0, 1]
    boxes = ["a", "a", "b", "b", "c", "c", "x", "x", "y"]  # x, y: single-class
    groups = [0, 1, 2, 3, 4, 5, 6, 0, 8]  # row 7 duplicates row 0 (mailbox a)
    keys = [f"{i:02d}" for i in range(9)]
    folds = mailbox_folds(labels, boxes, groups, keys, k=2, seed=0)
    assert folds is not None and folds[7] == folds[0]
    assert folds[0] == folds[1] and folds[2] == folds[3] and folds[4] == folds[5]
    perm = [8, 3, 5, 0, 7, 1, 6, 2, 4]
    again = mailbox_folds(
        [labels[i] for i in perm],
        [boxes[i] for i in perm],
        [groups[i] for i in perm],
        [keys[i] for i in perm],
        k=2,
        seed=0,
    )
    assert again is not None and [int(again[perm.index(i)]) for i in range(9)] == folds.tolist()
    assert mailbox_folds(labels, ["a"] * 9, groups, keys, k=2) is None
