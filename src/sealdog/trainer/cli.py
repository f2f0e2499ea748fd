"""Commands of sealdog.trainer: `train`, `import-sklearn`, `seal`, `eval`."""

from __future__ import annotations

import contextlib
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


class FeatureSet(StrEnum):
    """Which featuriser spec version: auto = v2 (header-aware) for raw mail, v1 for Enron."""

    auto = "auto"
    v1 = "v1"
    v2 = "v2"


def _spec_version(spec: Any, features: FeatureSet, raw_mail: bool, families: str | None) -> Any:
    """`spec` as version 1 or as version 2 with the chosen families (see `FeatureSet`)."""
    from sealdog.mail.featuriser import FAMILIES, FeaturiserSpec

    if features is FeatureSet.v1 or (features is FeatureSet.auto and not raw_mail):
        if families:
            raise typer.BadParameter("--families needs the header-aware featuriser (--features v2)")
        return spec
    chosen = (
        FAMILIES if not families else tuple(f.strip() for f in families.split(",") if f.strip())
    )
    fields = {k: v for k, v in spec.__dict__.items() if k not in ("version", "families")}
    return FeaturiserSpec.header_aware(chosen, **fields)


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
    folds: int = 5,
    seed: int = 0,
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
        folds=folds,
        seed=seed,
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
_HAM = typer.Option(
    None,
    "--ham",
    metavar="PATH",
    help=(
        "Ham (good mail): a folder of .eml files, a Maildir, an mbox, a .tar.gz/.zip of "
        "those, or an Enron-Spam root. Repeatable."
    ),
)
_SPAM = typer.Option(
    None, "--spam", metavar="PATH", help="Spam, in any form --ham takes. Repeatable."
)
_LABELS = typer.Option(
    None, "--labels", help="CSV of path,label rows (label ham or spam) for mixed folders."
)
_FEATURES = typer.Option(
    FeatureSet.auto,
    "--features",
    help="v2 = header-aware terms (default for --ham/--spam), v1 = subject and body only.",
)
_FAMILIES = typer.Option(
    None, "--families", help="v2 term families, comma-separated (default: all)."
)
_FOLDS = typer.Option(5, "--folds", help="Folds of the k-fold that picks C and the threshold.")
_SEED = typer.Option(0, "--seed", help="Seed of the folds (same seed, same model).")
_BASE = typer.Option(
    None,
    "--base",
    help=(
        "Mix another corpus into training: 'enron' (the Enron-Spam corpus) or a folder with "
        "ham/ and spam/ (it only ever trains, it is never evaluated)."
    ),
)
_BASE_WEIGHT = typer.Option(
    0.5, "--base-weight", help="Weight of each --base e-mail (your own mail weighs 1)."
)


def _has_mail(ham: list[Path] | None, spam: list[Path] | None, labels: Path | None) -> bool:
    return bool(ham or spam or labels)


def _read_mail(
    ham: list[Path] | None,
    spam: list[Path] | None,
    labels: Path | None,
    spec: Any,
    workers: int | None,
    *,
    with_text: bool = False,
) -> Any:
    """The labelled mail of --ham/--spam/--labels, read and featurised with progress."""
    from sealdog.mail.corpora import labelled_sources
    from sealdog.trainer.mailset import read_labelled

    sources = labelled_sources(ham or (), spam or (), labels)
    with Progress("reading + featurising e-mails") as progress:
        mail = read_labelled(
            sources, spec, workers=workers, with_text=with_text, progress=progress.advance
        )
    typer.echo(f"read {mail.summary()}")
    for item in mail.report.skipped[:5]:
        typer.echo(f"  skipped {item.name}: {item.reason} ({item.detail})")
    if len(mail.report.skipped) > 5:
        typer.echo(f"  ... and {len(mail.report.skipped) - 5:,} more skipped")
    for dup in mail.duplicates:
        if dup.label_conflict:
            typer.echo(f"  warning: {dup.name} repeats {dup.first} but has the other label")
    if not mail.labels or len(set(mail.labels)) < 2:
        raise SealdogError("Training and evaluation need both ham and spam e-mails.")
    return mail


def _base_corpus(
    base: str | None, weight: float, data: Path | None, spec: Any, workers: int | None
) -> Any:
    """The --base corpus (Enron-Spam or a folder with ham/ and spam/), featurised."""
    if base is None:
        return None
    if weight <= 0:
        raise typer.BadParameter("--base-weight must be positive")
    from sealdog.data.enron import is_enron_root, load_enron, locate_enron
    from sealdog.trainer.corpus import corpus_terms
    from sealdog.trainer.crossval import BaseCorpus
    from sealdog.trainer.splits import content_key, duplicate_groups

    if base.lower() == "enron" or is_enron_root(base):
        root = locate_enron(data if base.lower() == "enron" else Path(base))
        emails = load_enron(root)
        raws, labels, name = (
            [e.raw for e in emails],
            [e.label for e in emails],
            f"Enron-Spam ({root})",
        )
        with Progress("featurising the base corpus", total=len(raws)) as progress:
            terms = corpus_terms(raws, spec, workers=workers, progress=progress.advance)
        keys, groups = [content_key(r) for r in raws], duplicate_groups(raws)
    else:
        folder = Path(base)
        if not ((folder / "ham").exists() and (folder / "spam").exists()):
            raise typer.BadParameter(
                f"--base {base}: expected 'enron', an Enron-Spam root or a folder with ham/ "
                "and spam/"
            )
        mail = _read_mail([folder / "ham"], [folder / "spam"], None, spec, workers)
        terms, labels, keys, groups = mail.terms, mail.labels, mail.keys, mail.groups
        name = str(folder)
    typer.echo(f"base corpus: {count(len(labels), 'e-mail')} from {name}, weight {weight:g}")
    return BaseCorpus(terms, list(labels), keys, list(groups), weight, name)


def _print_expected(report: Any, target_fpr: float | None) -> None:
    expected = report.validation.get("expected")
    if expected:
        lo, hi = expected["fpr_ci95"]
        flo, fhi = expected["fnr_ci95"]
        typer.echo(
            f"expected on new mail like this (cross-fitted, {report.validation['folds']} folds): "
            f"FPR {expected['fpr']:.2%} (95% CI {lo:.2%}-{hi:.2%}), "
            f"FNR {expected['fnr']:.2%} (95% CI {flo:.2%}-{fhi:.2%})"
            + ("" if target_fpr is None else f"; target FPR {target_fpr:.2%}")
        )
    per_box = report.validation.get("mailbox_thresholds")
    if per_box:
        typer.echo(
            f"per-mailbox thresholds: {len(per_box)} mailboxes get the threshold that holds the "
            "target on their own ham (seal with --mailbox NAME): "
            + ", ".join(f"{name} {t:.4g}" for name, t in per_box.items())
            + f"; any other mailbox gets the pooled threshold {report.threshold:.4g}, the "
            "default, which holds the target only on all the training ham pooled: a mailbox "
            "the model never saw may see a higher FPR (below)"
        )
    held = report.validation.get("held_out_mailbox")
    if held:
        lo, hi = held["fpr_ci95"]
        typer.echo(
            f"expected on a mailbox it never saw (each of {report.validation['mailboxes']} "
            f"mailbox folds held out): FPR {held['fpr']:.2%} (95% CI {lo:.2%}-{hi:.2%}), "
            f"FNR {held['fnr']:.2%}"
        )
    for warning in report.warnings:
        typer.echo(f"warning: {warning}")


@handles_errors
def train_command(
    out: Path = typer.Option(
        Path("model.json"), "--out", "-o", help="Plaintext model file to write."
    ),
    ham: list[Path] | None = _HAM,
    spam: list[Path] | None = _SPAM,
    labels: Path | None = _LABELS,
    data: Path = _DATA,
    folders: str = typer.Option(
        None, "--folders", help="Comma-separated enronN folders (default: all present)."
    ),
    samples: bool = typer.Option(
        False, "--samples", help="Train on the 40 bundled sample e-mails instead."
    ),
    features: FeatureSet = _FEATURES,
    families: str | None = _FAMILIES,
    mode: FeatureMode = _MODE,
    buckets: int = _BUCKETS,
    ngram: int = _NGRAM,
    max_count: int = _MAX_COUNT,
    learner: Learner = _LEARNER,
    c_grid: str = _C_GRID,
    target_fpr: float = _FPR,
    folds: int = _FOLDS,
    seed: int = _SEED,
    base: str | None = _BASE,
    base_weight: float = _BASE_WEIGHT,
    min_df: int = _MIN_DF,
    max_terms: int = _MAX_TERMS,
    workers: int = _WORKERS,
    as_json: bool = typer.Option(
        False, "--json", help="End with one JSON line (the training report)."
    ),
) -> None:
    """Train the spam detector and write the plaintext model (JSON) and its term map.

    Your own mail: --ham PATH --spam PATH (each repeatable) or --labels FILE.csv. Without
    them: Enron-Spam (--data) or the bundled samples (--samples). C and the threshold come
    from out-of-fold scores of a seeded k-fold: the same mail in any order gives the same
    model. The term map (MODEL.terms.json, 0600) names the hashing buckets for
    `sealdog audit`; it holds words of your mail and never leaves your machine.
    """
    import numpy as np

    from sealdog.trainer.crossval import training_corpus
    from sealdog.trainer.term_map import TermMap, term_map_path
    from sealdog.trainer.training import prepare, train_prepared

    raw_mail = _has_mail(ham, spam, labels)
    if raw_mail and (samples or folders):
        raise typer.BadParameter(
            "--ham/--spam/--labels cannot be combined with --samples/--folders"
        )
    config = _config(
        mode,
        buckets,
        ngram,
        max_count,
        learner,
        c_grid,
        target_fpr,
        min_df,
        max_terms,
        workers,
        folds,
        seed,
    )
    if samples and buckets == 2**16 and mode is FeatureMode.hashing:
        config = replace(config, featuriser=replace(config.featuriser, n_buckets=2**12))
    config = replace(
        config, featuriser=_spec_version(config.featuriser, features, raw_mail, families)
    )
    t0 = time.perf_counter()
    with contextlib.ExitStack() as stack:
        if raw_mail:
            mail = _read_mail(ham, spam, labels, config.featuriser, workers)
            base_corpus = _base_corpus(base, base_weight, data, config.featuriser, workers)
            paths = [str(p) for p in [*(ham or []), *(spam or [])]]
            paths += [str(labels)] if labels else []
            source = "your mail" + (
                f" + {base_corpus.name} (weight {base_weight:g})" if base_corpus else ""
            )
            location = ", ".join(paths)
            progress = stack.enter_context(Progress("training"))
            progress.stage("training: indexing terms", None)
            rows = np.arange(len(mail.labels))
            corpus = training_corpus(mail.terms, rows, mail, config, base_corpus)
            all_terms = mail.terms + (base_corpus.terms if base_corpus else [])
            n_emails = len(all_terms)
        else:
            if base:
                raise typer.BadParameter(
                    "--base mixes a corpus into your own mail: give --ham/--spam"
                )
            emails, source, location = _load_corpus(data, folders, samples)
            typer.echo(f"training on {count(len(emails), 'e-mail')} from {source} at {location}")
            progress = stack.enter_context(Progress("training"))
            progress.stage("training: parsing e-mails", len(emails))
            corpus, all_terms = prepare(
                [e.raw for e in emails],
                [e.label for e in emails],
                config.featuriser,
                min_df=config.min_df,
                max_terms=config.max_terms,
                workers=config.workers,
                progress=progress.advance,
                mailboxes=[e.folder for e in emails],
            )
            n_emails = len(emails)
        featurise_seconds = time.perf_counter() - t0
        model, report = train_prepared(
            corpus,
            config,
            log=typer.echo,
            stage=lambda what, total: progress.stage(f"training: {what}", total),
        )
    report.seconds["featurise"] = featurise_seconds
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
    terms_path = term_map_path(out)
    TermMap.build(corpus.featuriser, all_terms).save(terms_path)
    typer.echo(
        f"wrote {out}: {model.featuriser.n_features:,} {model.featuriser.mode} features "
        f"(featuriser v{model.featuriser.version}), {count(n_emails, 'e-mail')}, "
        f"C={report.chosen_c:g}, "
        f"threshold {report.threshold:+.4f} folded into the bias, {seconds:.1f} s"
    )
    typer.echo(f"wrote {terms_path}: the bucket -> term map for `sealdog audit` (keep it private)")
    _print_expected(report, config.target_fpr)
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "train": str(out),
                    "terms": str(terms_path),
                    **report.to_dict(),
                    "total_seconds": seconds,
                }
            )
        )


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
    mailbox: str | None = typer.Option(
        None,
        "--mailbox",
        help="Seal the model for this mailbox the model was trained on (its own threshold); "
        "default: the threshold for mail of any other mailbox.",
    ),
) -> None:
    """Encrypt a plaintext model's weights and bias under a public key."""
    from sealdog.crypto.paillier import load_public_key
    from sealdog.crypto.paillier.fixed_point import DEFAULT_SCALE_BITS
    from sealdog.trainer.model import LinearModel
    from sealdog.trainer.sealing import seal_plaintext_model

    model = LinearModel.load(model_path).for_named_mailbox(mailbox)
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
    ham: list[Path] | None = _HAM,
    spam: list[Path] | None = _SPAM,
    labels: Path | None = _LABELS,
    model_path: Path | None = typer.Option(
        None, "--model", help="Evaluate this model file on --ham/--spam instead of training."
    ),
    mailbox: str | None = typer.Option(
        None,
        "--mailbox",
        help="With --model: judge the mail with the model's threshold for this mailbox "
        "(default: the threshold for mail of any other mailbox).",
    ),
    data: Path = _DATA,
    out: Path | None = typer.Option(
        None, "--out", "-o", help="JSON report to write (default eval-enron.json / eval-mail.json)."
    ),
    splits: str = typer.Option("posts,e1_e2,e123_e456", "--splits", help="Comma-separated splits."),
    agreement_key_bits: int = typer.Option(
        1024,
        "--agreement-key-bits",
        help="Paillier key size for the encrypted-path check (0 = skip).",
    ),
    features: FeatureSet = _FEATURES,
    families: str | None = _FAMILIES,
    mode: FeatureMode = _MODE,
    buckets: int = _BUCKETS,
    ngram: int = _NGRAM,
    max_count: int = _MAX_COUNT,
    learner: Learner = _LEARNER,
    c_grid: str = _C_GRID,
    target_fpr: float = _FPR,
    folds: int = _FOLDS,
    seed: int = _SEED,
    base: str | None = _BASE,
    base_weight: float = _BASE_WEIGHT,
    min_df: int = _MIN_DF,
    max_terms: int = _MAX_TERMS,
    workers: int = _WORKERS,
    as_json: bool = typer.Option(
        False, "--json", help="End with one JSON line: the evaluation object."
    ),
) -> None:
    """Evaluate: k-fold CV on your mail, a model on your mail, or the Enron-Spam splits.

    --ham/--spam (or --labels): --folds-fold cross-validation of the whole training
    procedure, with scikit-learn's CountVectorizer(binary=True) + LogisticRegression() as
    the baseline on the same folds; with --model, that model's verdicts on the mail. Without
    them: the three Enron-Spam splits. Every model is also scored through its sealed form
    (--agreement-key-bits) and compared with the plaintext verdicts.
    """
    key_bits = agreement_key_bits or None
    insecure = key_bits is not None and key_bits < 2048
    if mailbox is not None and model_path is None:
        raise typer.BadParameter("--mailbox needs --model", param_hint="--mailbox")
    if not _has_mail(ham, spam, labels):
        if model_path is not None or base is not None:
            raise typer.BadParameter("--model and --base need labelled mail: give --ham/--spam")
        config = _config(
            mode,
            buckets,
            ngram,
            max_count,
            learner,
            c_grid,
            target_fpr,
            min_df,
            max_terms,
            workers,
            folds,
            seed,
        )
        config = replace(
            config, featuriser=_spec_version(config.featuriser, features, False, families)
        )
        _eval_enron(
            data, out or Path("eval-enron.json"), splits, key_bits, insecure, config, as_json
        )
        return
    if insecure:
        typer.echo(
            f"note: the encrypted-path check uses a {key_bits}-bit Paillier key (insecure, for "
            "speed); the arithmetic is the same at 3072 bits, only slower"
        )
    out = out or Path("eval-mail.json")
    if model_path is not None:
        _eval_model(
            model_path, ham, spam, labels, workers, key_bits, insecure, out, as_json, mailbox
        )
        return
    from sealdog.fileio import atomic_write_text
    from sealdog.trainer.crossval import cross_validate

    config = _config(
        mode,
        buckets,
        ngram,
        max_count,
        learner,
        c_grid,
        target_fpr,
        min_df,
        max_terms,
        workers,
        folds,
        seed,
    )
    config = replace(config, featuriser=_spec_version(config.featuriser, features, True, families))
    t0 = time.perf_counter()
    mail = _read_mail(ham, spam, labels, config.featuriser, workers, with_text=True)
    base_corpus = _base_corpus(base, base_weight, data, config.featuriser, workers)
    with Progress("cross-validation") as progress:
        result = cross_validate(
            mail,
            config,
            folds=folds,
            base=base_corpus,
            key_bits=key_bits,
            insecure_key=insecure,
            log=typer.echo,
            stage=lambda what, total: progress.stage(f"cross-validation: {what}", total),
        )
    seconds = time.perf_counter() - t0
    m, b = result.metrics, result.baseline
    typer.echo(
        f"{result.folds}-fold CV on {count(result.n, 'e-mail')} (featuriser "
        f"v{config.featuriser.version}, target FPR {config.target_fpr}): accuracy "
        f"{m['accuracy']:.2%}, FPR {m['fpr']:.2%}, FNR {m['fnr']:.2%}, AUC {m['auc']:.5f}"
    )
    if b is not None:
        typer.echo(
            f"baseline CountVectorizer(binary=True) + LogisticRegression() at 0: accuracy "
            f"{b['accuracy']:.2%}, FPR {b['fpr']:.2%}, FNR {b['fnr']:.2%}, AUC {b['auc']:.5f}"
        )
    if result.agreement is not None:
        typer.echo(f"encrypted/plaintext agreement: {result.agreement:.2%} of {result.n:,}")
    report = {
        **result.to_json(),
        "details": {
            "metrics": m,
            "baseline": b,
            "agreement_fixed_point": result.agreement_fixed_point,
            "folds": result.fold_details,
            "duplicates": len(mail.duplicates),
            "skipped": mail.report.skip_counts(),
            "featuriser": config.featuriser.to_dict(),
            "learner": config.learner,
            "c_grid": list(config.c_grid),
            "target_fpr": config.target_fpr,
            "agreement_key_bits": key_bits,
            "total_seconds": seconds,
        },
    }
    atomic_write_text(out, json.dumps(report, indent=2) + "\n")
    typer.echo(f"wrote {out} ({seconds:.0f} s)")
    if as_json:
        typer.echo(json.dumps(result.to_json()))


def _eval_model(
    model_path: Path,
    ham: list[Path] | None,
    spam: list[Path] | None,
    labels: Path | None,
    workers: int | None,
    key_bits: int | None,
    insecure: bool,
    out: Path,
    as_json: bool,
    mailbox: str | None = None,
) -> None:
    from sealdog.fileio import atomic_write_text
    from sealdog.trainer.crossval import evaluate_model
    from sealdog.trainer.model import LinearModel

    model = LinearModel.load(model_path).for_named_mailbox(mailbox)
    mail = _read_mail(ham, spam, labels, model.featuriser, workers)
    with Progress("scoring, plaintext and sealed"):
        result = evaluate_model(model, mail, key_bits=key_bits, insecure_key=insecure)
    m = result.metrics
    typer.echo(
        f"{model_path} on {count(len(mail.labels), 'e-mail')}: accuracy {m['accuracy']:.2%}, "
        f"FPR {m['fpr']:.2%}, FNR {m['fnr']:.2%}, AUC {m['auc']:.5f}"
    )
    for path, row in result.per_path.items():
        typer.echo(f"  {path}: {count(row['n'], 'e-mail')}, accuracy {row['accuracy']:.2%}")
    if result.agreement is not None:
        typer.echo(f"encrypted/plaintext agreement: {result.agreement:.2%}")
    atomic_write_text(out, json.dumps({**result.to_json(), "metrics": m}, indent=2) + "\n")
    typer.echo(f"wrote {out}")
    if as_json:
        typer.echo(json.dumps(result.to_json()))


def _eval_enron(
    data: Path | None,
    out: Path,
    splits: str,
    key_bits: int | None,
    insecure: bool,
    config: Any,
    as_json: bool,
) -> None:
    """The three Enron-Spam splits, plaintext and through the sealed model."""
    from rich.console import Console
    from rich.table import Table

    from sealdog.data.enron import load_enron, locate_enron
    from sealdog.fileio import atomic_write_text
    from sealdog.trainer.evaluation import SPLIT_NAMES, eval_json, eval_report, evaluate

    chosen = [s.strip() for s in splits.split(",") if s.strip()]
    bad = [s for s in chosen if s not in SPLIT_NAMES]
    if bad:
        raise typer.BadParameter(f"unknown split(s) {bad}; choose from {', '.join(SPLIT_NAMES)}")
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
            stage=progress.stage,
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
