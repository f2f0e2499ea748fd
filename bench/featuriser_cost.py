"""What does the hashing featuriser (reveals no terms) cost against a vocabulary (reveals them)?

For each featuriser the same training pipeline runs on one split; the script prints
accuracy / FPR / AUC, the number of sealed weights, the sealed-model size at the key size
given (bytes = (features + 1) * ciphertext width), the measured time to seal 2,000
weights (scaled to the whole model), and the mean number of non-zero features per e-mail
(one modular multiplication each when scoring). Ratios are against the vocabulary
baseline measured in the same run. Ends with one JSON line.

    .venv/bin/python bench/featuriser_cost.py            # posts split, all six folders
    .venv/bin/python bench/featuriser_cost.py --quick    # enron1 -> enron2, 1024-bit key
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import replace

import numpy as np

from sealdog.data.enron import load_enron, locate_enron
from sealdog.mail.featuriser import Featuriser, fit_vocabulary
from sealdog.trainer.corpus import corpus_terms, index_corpus
from sealdog.trainer.evaluation import classification_metrics, make_split
from sealdog.trainer.training import PreparedCorpus, TrainingConfig, train_prepared


def seal_seconds_per_weight(key_bits: int) -> tuple[float, int]:
    from sealdog.crypto.paillier import ciphertext_width, generate_keypair, seal_linear

    pk, _ = generate_keypair(key_bits, insecure=key_bits < 2048)
    weights = np.random.default_rng(0).normal(size=2000)
    t0 = time.perf_counter()
    seal_linear(pk, weights, 0.0, scale_bits=24, max_count=2)
    return (time.perf_counter() - t0) / len(weights), ciphertext_width(pk)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="enron1 -> enron2 and a 1024-bit key")
    parser.add_argument("--data", default=None)
    parser.add_argument("--key-bits", type=int, default=None)
    args = parser.parse_args()
    key_bits = args.key_bits or (1024 if args.quick else 3072)
    split_name = "e1_e2" if args.quick else "posts"
    root = locate_enron(args.data)
    emails = load_enron(root, ["enron1", "enron2"] if args.quick else None)
    folders = np.array([e.folder for e in emails])
    labels = np.array([e.label for e in emails])
    split = make_split(split_name, folders, labels)
    base = TrainingConfig()
    terms = corpus_terms([e.raw for e in emails], base.featuriser)
    train_idx, test_idx = np.flatnonzero(split.train), np.flatnonzero(split.test)
    vocab = fit_vocabulary((terms[i] for i in train_idx), min_df=base.min_df)
    specs = {"vocabulary": replace(base.featuriser, mode="vocabulary", vocabulary=vocab)}
    for bits in (14, 16, 18):
        specs[f"hashing-2^{bits}"] = replace(base.featuriser, mode="hashing", n_buckets=2**bits)
    per_weight, width = seal_seconds_per_weight(key_bits)
    rows: dict[str, dict[str, float]] = {}
    for name, spec in specs.items():
        featuriser = Featuriser.from_spec(spec)
        X_train = index_corpus(featuriser, [terms[i] for i in train_idx])
        model, _ = train_prepared(PreparedCorpus(featuriser, X_train, labels[train_idx]), base)
        X_test = index_corpus(featuriser, [terms[i] for i in test_idx])
        m = classification_metrics(labels[test_idx], model.decision_function(X_test))
        n = featuriser.n_features
        rows[name] = {
            "n_features": n,
            "accuracy": m["accuracy"],
            "fpr": m["fpr"],
            "fnr": m["fnr"],
            "auc": m["auc"],
            "sealed_mb": (n + 1) * width / 1e6,
            "seal_seconds": (n + 1) * per_weight,
            "nonzero_per_email": float(X_test.getnnz(axis=1).mean()),
        }
    baseline = rows["vocabulary"]
    print(
        f"split {split_name}, {len(train_idx):,} train / {len(test_idx):,} test e-mails, "
        f"{key_bits}-bit key"
    )
    print(
        f"{'featuriser':<16}{'features':>10}{'acc':>8}{'FPR':>8}{'AUC':>9}{'sealed MB':>11}"
        f"{'x vocab':>9}{'seal s':>9}{'nnz/mail':>10}"
    )
    for name, r in rows.items():
        r["size_ratio_vs_vocabulary"] = r["sealed_mb"] / baseline["sealed_mb"]
        r["accuracy_delta_vs_vocabulary"] = r["accuracy"] - baseline["accuracy"]
        print(
            f"{name:<16}{r['n_features']:>10,}{r['accuracy']:>8.4f}{r['fpr']:>8.4f}{r['auc']:>9.5f}"
            f"{r['sealed_mb']:>11.1f}{r['size_ratio_vs_vocabulary']:>9.2f}{r['seal_seconds']:>9.1f}"
            f"{r['nonzero_per_email']:>10.1f}"
        )
    print(
        json.dumps(
            {
                "bench": "featuriser_cost",
                "split": split_name,
                "key_bits": key_bits,
                "quick": args.quick,
                "results": rows,
            }
        )
    )


if __name__ == "__main__":
    main()
