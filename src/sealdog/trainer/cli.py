"""Commands of sealdog.trainer: `train`, `import-sklearn`, `seal`, `eval`."""

from __future__ import annotations

import json
import time
from dataclasses import replace
from enum import StrEnum
from pathlib import Path
from typing import Any

import typer

from sealdog.cli_errors import handles_errors
from sealdog.errors import SealdogError
from sealdog.progress import Progress, count

DEFAULTS_NOTE = "Defaults are the evaluated configuration in docs/trainer.md."


class FeatureMode(StrEnum):
    """How terms become features (`FeaturiserSpec.mode`)."""

    hashing = "hashing"
    vocabulary = "vocabulary"


class Learner(StrEnum):
    """The linear learner (`sealdog.trainer.training.LEARNERS`)."""

    nb_logistic = "nb-logistic"
    logistic = "logistic"


def _config(
    mode: FeatureMode,
    buckets: int,
    ngram: int,
    max_count: int,
    learner: Learner,
    c_grid: str,
    target_fpr: float,
    min_df: int,
    max_terms: int | None,
    workers: int | None,
) -> Any:
    from sealdog.trainer.training import TrainingConfig

    try:
        grid = tuple(float(c) for c in c_grid.split(",") if c.strip())
    except ValueError as exc:
        raise typer.BadParameter(f"--c-grid must be comma-separated numbers: {exc}") from None
    base = TrainingConfig()
    spec = replace(
        base.featuriser, mode=mode.value, n_buckets=buckets, ngram_max=ngram, max_count=max_count
    )
    if mode is FeatureMode.vocabulary:
        spec = replace(spec, vocabulary=("w:placeholder",))  # fitted on the corpus later
    config = replace(
        base,
        featuriser=spec,
        learner=learner.value,
        c_grid=grid,
        target_fpr=None if target_fpr < 0 else target_fpr,
        min_df=min_df,
        max_terms=max_terms,
        workers=workers,
    )
    return config.validate()


def _load_corpus(
    data: Path | None, folders: str | None, samples: bool
) -> tuple[list[Any], str, str]:
    """(e-mails, corpus name for the model's metadata, where it was read from: stays local)."""
    if samples:
        from sealdog.data.sample_corpus import SAMPLES_DIR, load_samples

        return load_samples(), "bundled samples", str(SAMPLES_DIR)
    from sealdog.data.enron import load_enron, locate_enron

    root = locate_enron(data)
    chosen = None if not folders else [f.strip() for f in folders.split(",") if f.strip()]
    name = "Enron-Spam" + (f" ({', '.join(chosen)})" if chosen else "")
    return load_enron(root, chosen), name, str(root)


# Shared options -----------------------------------------------------------------------
_DATA = typer.Option(
    None,
    "--data",
    help=(
        "Enron-Spam folder (archives or enronN/ folders). Default: $SEALDOG_DATA, "
        "../shared/datasets/enron-spam, data/."
    ),
)
_MODE = typer.Option(
    FeatureMode.hashing,
    "--mode",
    help="hashing (reveals no terms) or vocabulary (terms travel in clear).",
)
_BUCKETS = typer.Option(2**16, "--buckets", help="Hashing buckets = sealed weights.")
_NGRAM = typer.Option(1, "--ngram", help="1 = words, 2 = words and bigrams.")
_MAX_COUNT = typer.Option(2, "--max-count", help="Counts are clipped to this (1 = presence).")
_LEARNER = typer.Option(Learner.nb_logistic, "--learner", help="nb-logistic or logistic.")
_C_GRID = typer.Option(
    "0.1,0.3,1", "--c-grid", help="Inverse regularisation strengths tried on the validation split."
)
_FPR = typer.Option(
    0.005,
    "--target-fpr",
    help="Threshold for this validation false-positive rate (negative: threshold 0).",
)
_MIN_DF = typer.Option(
    2, "--min-df", help="Vocabulary mode: keep terms in at least this many e-mails."
)
_MAX_TERMS = typer.Option(
    None, "--max-terms", help="Vocabulary mode: keep at most this many terms."
)
_WORKERS = typer.Option(None, "--workers", help="Parser processes (default: up to 2).")


@handles_errors
def train_command(
    out: Path = typer.Option(
        Path("model.json"), "--out", "-o", help="Plaintext model file to write."
    ),
    data: Path = _DATA,
    folders: str = typer.Option(
        None, "--folders", help="Comma-separated enronN folders (default: all present)."
    ),
    samples: bool = typer.Option(
        False, "--samples", help="Train on the 40 bundled sample e-mails instead."
    ),
    mode: FeatureMode = _MODE,
    buckets: int = _BUCKETS,
    ngram: int = _NGRAM,
    max_count: int = _MAX_COUNT,
    learner: Learner = _LEARNER,
    c_grid: str = _C_GRID,
    target_fpr: float = _FPR,
    min_df: int = _MIN_DF,
    max_terms: int = _MAX_TERMS,
    workers: int = _WORKERS,
    as_json: bool = typer.Option(
        False, "--json", help="End with one JSON line (the training report)."
    ),
) -> None:
    """Train the spam detector and write the plaintext model (JSON)."""
    from sealdog.trainer.training import train

    config = _config(
        mode, buckets, ngram, max_count, learner, c_grid, target_fpr, min_df, max_terms, workers
    )
    emails, source, location = _load_corpus(data, folders, samples)
    if samples and buckets == 2**16 and mode is FeatureMode.hashing:
        config = replace(config, featuriser=replace(config.featuriser, n_buckets=2**12))
    typer.echo(f"training on {count(len(emails), 'e-mail')} from {source} at {location}")
    t0 = time.perf_counter()
    with Progress("training") as progress:
        model, report = train(
            [e.raw for e in emails],
            [e.label for e in emails],
            config,
            progress=progress.advance,
            log=typer.echo,
            stage=lambda what, total: progress.stage(f"training: {what}", total),
        )
    seconds = time.perf_counter() - t0
    model = replace(
        model,
        metadata={
            **model.metadata,
            "corpus": source,
            "corpus_path": location,
            "train_seconds": round(seconds, 1),
        },
    )
    model.save(out)
    typer.echo(
        f"wrote {out}: {model.featuriser.n_features:,} {model.featuriser.mode} features, "
        f"C={report.chosen_c:g}, "
        f"threshold {report.threshold:+.4f} folded into the bias, {seconds:.1f} s"
    )
    if as_json:
        typer.echo(json.dumps({"train": str(out), **report.to_dict(), "total_seconds": seconds}))


@handles_errors
def import_sklearn_command(
    pipeline: Path = typer.Argument(
        ..., help="Pickle (or joblib) file of a fitted Pipeline(vectoriser, classifier)."
    ),
    out: Path = typer.Option(
        Path("model.json"), "--out", "-o", help="Plaintext model file to write."
    ),
    max_count: int = typer.Option(
        None, "--max-count", help="Count cap for a non-binary CountVectorizer."
    ),
) -> None:
    """Import your own fitted scikit-learn linear pipeline as a Sealdog model.

    Only load pickles you made yourself: unpickling runs code.
    """
    import pickle

    from sealdog.trainer.sklearn_import import import_sklearn

    try:
        with pipeline.open("rb") as handle:
            obj = pickle.load(handle)
    except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError) as exc:
        raise SealdogError(f"cannot load a fitted pipeline from {pipeline}: {exc}") from exc
    if isinstance(obj, tuple) and len(obj) == 2:
        model = import_sklearn(obj[1], obj[0], max_count=max_count)
    else:
        model = import_sklearn(obj, max_count=max_count)
    model.save(out)
    typer.echo(
        f"wrote {out}: {model.featuriser.n_features:,} vocabulary terms "
        f"({model.metadata['imported_from']})"
    )


@handles_errors
def seal_command(
    model_path: Path = typer.Argument(
        ..., metavar="MODEL", help="Plaintext model (from `sealdog train`)."
    ),
    public_key: Path = typer.Option(
        ..., "--public-key", "-p", help="The key holder's public key (JSON)."
    ),
    out: Path = typer.Option(
        Path("model.sealed"), "--out", "-o", help="Sealed model file to write."
    ),
    scale_bits: int = typer.Option(
        None,
        "--scale-bits",
        help="Fixed-point scale 2^bits for the weights (default: the Paillier backend's).",
    ),
) -> None:
    """Encrypt a plaintext model's weights and bias under a public key."""
    from sealdog.crypto.paillier import load_public_key
    from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS
    from sealdog.trainer.model import LinearModel
    from sealdog.trainer.sealing import seal_plaintext_model

    model = LinearModel.load(model_path)
    pk = load_public_key(public_key)
    t0 = time.perf_counter()
    with Progress(f"sealing {model.featuriser.n_features + 1:,} values under a {pk.bits}-bit key"):
        sealed = seal_plaintext_model(
            model, pk, scale_bits=DEFAULT_SCALE_BITS if scale_bits is None else scale_bits
        )
    sealed.write(out)
    size = out.stat().st_size
    typer.echo(
        f"wrote {out}: {size / 1e6:.1f} MB, key {pk.fingerprint[:16]}, digest "
        f"{sealed.digest[:16]}, "
        f"{time.perf_counter() - t0:.1f} s"
    )
    if model.featuriser.mode == "vocabulary":
        typer.echo(
            f"note: vocabulary mode: the {model.featuriser.n_features:,} terms travel in clear "
            "inside the sealed model"
        )


@handles_errors
def eval_command(
    data: Path = _DATA,
    out: Path = typer.Option(Path("eval-enron.json"), "--out", "-o", help="JSON report to write."),
    splits: str = typer.Option("posts,e1_e2,e123_e456", "--splits", help="Comma-separated splits."),
    agreement_key_bits: int = typer.Option(
        1024,
        "--agreement-key-bits",
        help="Paillier key size for the encrypted-path check (0 = skip).",
    ),
    mode: FeatureMode = _MODE,
    buckets: int = _BUCKETS,
    ngram: int = _NGRAM,
    max_count: int = _MAX_COUNT,
    learner: Learner = _LEARNER,
    c_grid: str = _C_GRID,
    target_fpr: float = _FPR,
    min_df: int = _MIN_DF,
    max_terms: int = _MAX_TERMS,
    workers: int = _WORKERS,
    as_json: bool = typer.Option(
        False, "--json", help="End with one JSON line: the evaluation object."
    ),
) -> None:
    """Evaluate on the three Enron-Spam splits, plaintext and through the sealed model."""
    from rich.console import Console
    from rich.table import Table

    from sealdog.data.enron import load_enron, locate_enron
    from sealdog.fileio import atomic_write_text
    from sealdog.trainer.evaluation import SPLIT_NAMES, eval_json, eval_report, evaluate

    chosen = [s.strip() for s in splits.split(",") if s.strip()]
    bad = [s for s in chosen if s not in SPLIT_NAMES]
    if bad:
        raise typer.BadParameter(f"unknown split(s) {bad}; choose from {', '.join(SPLIT_NAMES)}")
    key_bits = agreement_key_bits or None
    insecure = key_bits is not None and key_bits < 2048
    config = _config(
        mode, buckets, ngram, max_count, learner, c_grid, target_fpr, min_df, max_terms, workers
    )
    root = locate_enron(data)
    emails = load_enron(root)
    typer.echo(f"evaluating on {count(len(emails), 'e-mail')} from Enron-Spam at {root}")
    if insecure:
        typer.echo(
            f"note: the encrypted-path check uses a {key_bits}-bit Paillier key (insecure, for "
            "speed); "
            "the arithmetic is the same at 3072 bits, only slower"
        )
    t0 = time.perf_counter()
    with Progress("parsing + featurising", total=len(emails)) as progress:
        results = evaluate(
            emails,
            config,
            splits=chosen,
            key_bits=key_bits,
            insecure_key=insecure,
            progress=progress.advance,
            log=typer.echo,
        )
    seconds = time.perf_counter() - t0
    table = Table(
        title=f"Enron-Spam evaluation (operating point: validation FPR <= {config.target_fpr})"
    )
    for col in (
        "split",
        "n_test",
        "accuracy",
        "precision",
        "recall",
        "FPR",
        "FNR",
        "ROC AUC",
        "e-mails/s",
        "agreement",
        "acc@0",
        "FPR@0",
    ):
        table.add_column(col, justify="right")
    for r in results:
        m = r.metrics
        agreement = "-" if r.encrypted is None else f"{r.encrypted.agreement:.2%}"
        table.add_row(
            r.name,
            f"{r.n_test:,}",
            f"{m['accuracy']:.2%}",
            f"{m['precision']:.2%}",
            f"{m['recall']:.2%}",
            f"{m['fpr']:.2%}",
            f"{m['fnr']:.2%}",
            f"{m['auc']:.4f}",
            f"{r.emails_per_second:,.0f}",
            agreement,
            f"{r.extra['unthresholded']['accuracy']:.2%}",
            f"{r.extra['unthresholded']['fpr']:.2%}",
        )
    console = Console()
    console.width = max(console.width, 132)
    console.print(table)
    typer.echo("acc@0 / FPR@0: the same model at the learner's own threshold (no FPR target).")
    report = eval_report(
        results,
        {
            "config": {
                "featuriser": {
                    k: v for k, v in config.featuriser.to_dict().items() if k != "vocabulary"
                },
                "learner": config.learner,
                "c_grid": list(config.c_grid),
                "target_fpr": config.target_fpr,
            },
            "agreement_key_bits": key_bits,
            "total_seconds": seconds,
        },
    )
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    typer.echo(f"wrote {out} ({seconds:.0f} s)")
    if as_json:
        typer.echo(json.dumps(eval_json(results)))


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("train")(train_command)
    app.command("import-sklearn")(import_sklearn_command)
    app.command("seal")(seal_command)
    app.command("eval")(eval_command)
