"""Training on real Enron-Spam: a small subset by default, the full evaluation with --runslow."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from sealdog.data.enron import load_enron, locate_enron
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.evaluation import classification_metrics, evaluate
from sealdog.trainer.training import TrainingConfig, train

REAL = Path(__file__).resolve().parents[2] / "../shared/datasets/enron-spam"
pytestmark = pytest.mark.skipif(
    not (REAL / "enron1.tar.gz").is_file(), reason="Enron-Spam corpus not present"
)


def test_enron1_subset_trains_a_good_detector() -> None:
    emails = load_enron(locate_enron(REAL), ["enron1"])
    subset = emails[::2]  # 2,586 e-mails; every 4th of them is a test e-mail
    train_set = [e for i, e in enumerate(subset) if i % 4]
    test_set = subset[::4]
    config = TrainingConfig(
        featuriser=FeaturiserSpec(n_buckets=2**14),
        c_grid=(0.3,),
        target_fpr=0.01,
        folds=3,
    )
    model, report = train([e.raw for e in train_set], [e.label for e in train_set], config)
    f = model.make_featuriser()
    scores = np.array([model.score(f.featurise_email(e.raw)) for e in test_set])
    m = classification_metrics(np.array([e.label for e in test_set]), scores)
    assert m["auc"] > 0.99 and m["accuracy"] > 0.95 and m["fpr"] < 0.03, m
    assert report.validation["folds"] == 3 and report.validation["n_judged"] == len(train_set)


@pytest.mark.slow
def test_full_evaluation_meets_the_agreement_target() -> None:
    emails = load_enron(locate_enron(REAL))
    results = evaluate(emails, TrainingConfig(), key_bits=1024, insecure_key=True)
    by_name = {r.name: r for r in results}
    assert set(by_name) == {"posts", "e1_e2", "e123_e456"}
    for r in results:
        assert r.encrypted is not None and r.encrypted.agreement == 1.0
        assert r.metrics["auc"] > 0.99
    posts = by_name["posts"]
    assert posts.n_test == 2000 and posts.metrics["fpr"] <= 0.01
    assert posts.train_seconds < 300
