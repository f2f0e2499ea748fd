"""How long does `sealdog train` take on 3,000 raw e-mails (target: under 60 s)?

Times the stages of the own-mail training path on spamassassin-dev (2,500 ham + 500 spam,
raw RFC 822): read + featurise (streamed, 2 processes, header-aware spec v2), model
selection (5 folds x 3 Cs, fits on 2 processes) and the final fit. The baseline, measured
in the same run on the same machine and load, is scikit-learn's
``CountVectorizer(binary=True)`` + ``LogisticRegression()`` fitted once on the same
e-mails' subject + body text (parse included): the ratio says what the honest model
selection costs over one plain fit. The machine's load average is printed too: this
project's machine is shared, and the figures scale with the CPU actually available.
Ends with one JSON line.

    .venv/bin/python bench/train_own_mail.py            # all 3,000 e-mails
    .venv/bin/python bench/train_own_mail.py --quick    # 600 e-mails (500 ham, 100 spam)
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

from sealdog.mail.corpora import labelled_sources
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.trainer.crossval import training_corpus
from sealdog.trainer.mailset import read_labelled
from sealdog.trainer.training import TrainingConfig, train_prepared

_ROOT = Path(__file__).resolve().parents[1]
DEFAULT = next(
    (
        p
        for p in (
            _ROOT / "../shared/datasets/spamassassin-dev",
            _ROOT / "../../shared/datasets/spamassassin-dev",
        )
        if p.is_dir()
    ),
    _ROOT / "../shared/datasets/spamassassin-dev",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="600 e-mails instead of 3,000")
    parser.add_argument("--data", default=os.environ.get("SEALDOG_SA_DATA", str(DEFAULT)))
    args = parser.parse_args()
    root = Path(args.data)
    load_before = os.getloadavg()[0]
    spec = FeaturiserSpec.header_aware()
    config = TrainingConfig(featuriser=spec)
    t0 = time.perf_counter()
    mail = read_labelled(
        labelled_sources([root / "ham.tar.gz"], [root / "spam.tar.gz"]), spec, with_text=True
    )
    read_seconds = time.perf_counter() - t0
    rows = np.arange(len(mail.labels))
    if args.quick:
        y = mail.y
        rows = np.concatenate([np.flatnonzero(y == 0)[:500], np.flatnonzero(y == 1)[:100]])
    t1 = time.perf_counter()
    corpus = training_corpus(mail.terms, rows, mail, config)
    _, report = train_prepared(corpus, config)
    train_seconds = time.perf_counter() - t1

    from sklearn.feature_extraction.text import CountVectorizer
    from sklearn.linear_model import LogisticRegression

    assert mail.texts is not None
    texts = [mail.texts[i] for i in rows]
    t2 = time.perf_counter()
    X = CountVectorizer(binary=True).fit_transform(texts)
    LogisticRegression().fit(X, mail.y[rows])
    baseline_fit = time.perf_counter() - t2
    # read_labelled parsed each e-mail twice (terms + baseline text): charge the baseline
    # half the read time as its parse cost, ours the full read.
    n = len(rows)
    share = n / len(mail.labels)
    ours = read_seconds * share + train_seconds
    baseline = read_seconds * share / 2 + baseline_fit
    result = {
        "bench": "train_own_mail",
        "quick": args.quick,
        "n": n,
        "read_featurise_seconds": read_seconds * share,
        "model_selection_seconds": report.seconds["model_selection"],
        "final_fit_seconds": report.seconds["final_fit"],
        "train_total_seconds": ours,
        "baseline_seconds": baseline,
        "ratio_vs_baseline": ours / baseline,
        "target_seconds": 60.0,
        "met": ours < 60.0,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg()[0],
    }
    print(
        f"{n:,} e-mails: read+featurise {result['read_featurise_seconds']:.1f} s, selection "
        f"{result['model_selection_seconds']:.1f} s, final fit {result['final_fit_seconds']:.1f} s"
        f" = {ours:.1f} s (target < 60 s); baseline one sklearn fit {baseline:.1f} s "
        f"(x{ours / baseline:.1f}); load average {load_before:.1f} -> {os.getloadavg()[0]:.1f}"
    )
    print(json.dumps(result))


if __name__ == "__main__":
    main()
