"""`sealdog audit`: does the sealed model hold exactly the plaintext model, and what does it do?

Two modes (see `sealdog.client.openings` for the checks and their soundness):
- key holder (secret key): every ciphertext is checked against the plaintext model (a batched
  decryption test, error <= 2^-128); without a plaintext model every weight is decrypted;
- auditor (openings from the key holder, no secret key): the plaintext model is re-encrypted
  with the openings and compared ciphertext by ciphertext (`exact`), or with the batched
  test (`batched`, for large models); `auto` picks exact up to `EXACT_LIMIT` ciphertexts.
Then, with the verified weights: the most spam- and ham-indicative terms, an evaluation on a
labelled data set (accuracy, FPR, FNR, ROC AUC, confusion matrix) and an HTML report with
inline SVG charts (jinja2 template `templates/audit_report.html.j2`).

Names of hashing buckets come from the key holder's term map (``model.terms.json``, written
by `sealdog train` next to the model; `sealdog.trainer.term_map`), else from the terms of
the evaluation mail that fall into each bucket, else ``#bucket``. The evaluation set is the
user's own labelled mail (``--ham``/``--spam``/``--labels``, ideally held out from
training), Enron-Spam folders, or, when nothing is given, the 40 bundled sample e-mails:
the report then says plainly that those are not the user's mail.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from sealdog.client.errors import AuditError
from sealdog.client.openings import (
    check_with_secret_key,
    decrypt_all,
    expected_plaintexts,
    read_openings,
    verify_batched,
    verify_exact,
)
from sealdog.crypto.paillier import FixedPoint, SecretKey
from sealdog.progress import count
from sealdog.sealed_model import SealedModel
from sealdog.trainer.model import LinearModel

if TYPE_CHECKING:
    from sealdog.data.enron import LabelledEmail

EXACT_LIMIT = 5000
Progress = Callable[[int, int], None]


def load_plain_model(path: str | os.PathLike[str]) -> LinearModel:
    """The plaintext model file written by `sealdog train` (errors say what is wrong)."""
    return LinearModel.load(path)


@dataclass
class Evaluation:
    n: int
    accuracy: float
    fpr: float
    fnr: float
    auc: float | None
    confusion: list[list[int]]  # [[tn, fp], [fn, tp]]
    roc_fpr: list[float] = field(repr=False)
    roc_tpr: list[float] = field(repr=False)
    source: str = ""
    bundled: bool = False
    """True when the evaluation set is the 40 bundled samples, not the user's mail."""


@dataclass
class AuditResult:
    mode: str
    check: str
    passed: bool
    failure: str | None
    model_info: dict[str, Any]
    mismatches: list[int] = field(default_factory=list)
    top_spam: list[tuple[str, float]] = field(default_factory=list)
    top_ham: list[tuple[str, float]] = field(default_factory=list)
    evaluation: Evaluation | None = None
    term_names: str = ""
    """Where the term names come from (a term map file, the evaluation mail, vocabulary)."""
    bound_checks: list[str] = field(default_factory=list)
    """What `audit --attest` checked of the bounds (`sealdog.client.attestation`)."""
    attestation: dict[str, Any] | None = None
    """The signed attestation's JSON, when `audit --attest` issued one."""
    created_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="seconds"))


def _model_info(model: SealedModel) -> dict[str, Any]:
    pk = model.public_key()
    spec = model.featuriser
    return {
        "digest": model.digest,
        "key_fingerprint": model.key_fingerprint,
        "key_bits": pk.bits,
        "insecure_key": pk.insecure,
        "dim": int(model.manifest["dim"]),
        "scale_bits": int(model.manifest["scale_bits"]),
        "featuriser_mode": spec.get("mode"),
        "n_features": spec.get("n_buckets") or len(spec.get("vocabulary", [])),
        "created_at": model.manifest.get("created_at"),
        "metadata": model.metadata,
    }


def _same_featuriser(model: SealedModel, plain: LinearModel) -> None:
    from sealdog.mail.featuriser import FeaturiserSpec

    if FeaturiserSpec.from_dict(model.featuriser) != plain.featuriser:
        raise AuditError(
            "The plaintext model's featuriser spec differs from the sealed model's: not the same "
            "model."
        )


def run_audit(
    *,
    sealed_path: Path,
    plain_path: Path | None,
    secret_key: SecretKey | None,
    openings_path: Path | None,
    data: Path | None = None,
    folders: Sequence[str] | None = None,
    limit: int | None = None,
    top: int = 20,
    workers: int | None = None,
    method: str = "auto",
    progress: Progress | None = None,
    mail: MailSet | None = None,
    terms_path: Path | None = None,
    mailbox: str | None = None,
) -> AuditResult:
    """Check the sealed model (see module doc), then describe and evaluate it.

    `mail` is the user's labelled evaluation mail (`MailSet`); `terms_path` a term map
    (default: ``<model>.terms.json`` next to the plaintext model, if present); `mailbox`
    the mailbox the model was sealed for (`sealdog seal --mailbox`), None: the default.
    """
    model = SealedModel.read(sealed_path)  # verifies the digest: tampered bytes fail here
    info = _model_info(model)
    plain = load_plain_model(plain_path).for_named_mailbox(mailbox) if plain_path else None
    if plain is not None:
        _same_featuriser(model, plain)
    if secret_key is not None:
        if secret_key.public_key.fingerprint != model.key_fingerprint:
            raise AuditError(
                f"{sealed_path} is sealed for key {model.key_fingerprint[:16]}..., not for this "
                "secret key "
                f"({secret_key.public_key.fingerprint[:16]}...)."
            )
        if plain is not None:
            expected = expected_plaintexts(model, plain.weights, plain.bias)
            ok = check_with_secret_key(
                secret_key, model, expected, workers=workers, progress=progress
            )
            check = (
                "key holder: every ciphertext decrypts to the plaintext model "
                "(batched test, error <= 2^-128)"
            )
            result = AuditResult(
                "key holder",
                check,
                ok,
                None if ok else "The sealed model does NOT decrypt to the plaintext model.",
                info,
            )
            weights, bias = plain.weights, plain.bias
        else:
            values = decrypt_all(secret_key, model, workers=workers, progress=progress)
            fp = FixedPoint(int(model.manifest["scale_bits"]))
            bias, weights = fp.decode(values[0]), np.array([fp.decode(v) for v in values[1:]])
            result = AuditResult(
                "key holder", "key holder: every weight decrypted", True, None, info
            )
    else:
        if openings_path is None or plain is None:
            raise AuditError(
                "Auditor mode needs --openings and the plaintext model (--model) from the key "
                "holder."
            )
        openings = read_openings(openings_path)
        expected = expected_plaintexts(model, plain.weights, plain.bias)
        exact = method == "exact" or (method == "auto" and len(expected) <= EXACT_LIMIT)
        if exact:
            bad = verify_exact(model, openings, expected, workers=workers, progress=progress)
            check = (
                f"auditor: all {len(expected):,} ciphertexts re-encrypted from plaintext + "
                "openings and compared"
            )
            failure = (
                (
                    f"{len(bad)} ciphertext(s) do not match the plaintext model (first: "
                    f"{'bias' if bad[0] == 0 else f'weight {bad[0] - 1}'})."
                )
                if bad
                else None
            )
            result = AuditResult("auditor", check, not bad, failure, info, mismatches=bad[:50])
        else:
            ok = verify_batched(model, openings, expected, workers=workers, progress=progress)
            check = (
                f"auditor: batched re-encryption test over all {len(expected):,} ciphertexts "
                "(error <= 2^-128; --method exact compares one by one)"
            )
            result = AuditResult(
                "auditor",
                check,
                ok,
                None if ok else "The sealed model does NOT match the plaintext model and openings.",
                info,
            )
        weights, bias = plain.weights, plain.bias
    if not result.passed:
        return result
    if terms_path is None and plain_path is not None:
        from sealdog.trainer.term_map import term_map_path

        default = term_map_path(plain_path)
        terms_path = default if default.exists() else None
    _describe(
        result,
        model,
        np.asarray(weights, dtype=np.float64),
        float(bias),
        EvaluationSource(data, folders, limit, mail),
        top,
        terms_path,
    )
    return result


@dataclass(frozen=True)
class MailSet:
    """The user's labelled mail for the evaluation: ``--ham``/``--spam``/``--labels``."""

    ham: Sequence[Path] = ()
    spam: Sequence[Path] = ()
    labels: Path | None = None
    workers: int | None = None


@dataclass(frozen=True)
class EvaluationSource:
    data: Path | None
    folders: Sequence[str] | None
    limit: int | None
    mail: MailSet | None


def _describe(
    result: AuditResult,
    model: SealedModel,
    weights: np.ndarray,
    bias: float,
    where: EvaluationSource,
    top: int,
    terms_path: Path | None,
) -> None:
    from sealdog.mail.featuriser import Featuriser, FeaturiserSpec
    from sealdog.trainer.corpus import index_corpus

    spec = FeaturiserSpec.from_dict(model.featuriser)
    featuriser = Featuriser(spec)
    labels, terms, source, bundled = _evaluation_set(spec, where)
    names = _feature_names(spec, featuriser, terms)
    result.term_names = (
        "the vocabulary"
        if spec.mode == "vocabulary"
        else f"the evaluation mail's terms in each bucket ({source})"
    )
    if spec.mode == "hashing" and terms_path is not None:
        from sealdog.trainer.term_map import TermMap

        term_map = TermMap.load(terms_path, spec)
        mapped = {int(i): term_map.name(int(i)) for i in np.flatnonzero(weights)}
        names = {**names, **{i: n for i, n in mapped.items() if n is not None}}
        result.term_names = f"the training term map {terms_path}"
    order = np.argsort(weights)
    result.top_spam = [
        (names.get(int(i), f"#{i}"), float(weights[i])) for i in order[::-1][:top] if weights[i] > 0
    ]
    result.top_ham = [
        (names.get(int(i), f"#{i}"), float(weights[i])) for i in order[:top] if weights[i] < 0
    ]
    matrix = index_corpus(featuriser, terms)
    scores = np.asarray(matrix @ weights + bias).reshape(-1)
    result.evaluation = evaluate(np.asarray(labels), scores, source)
    result.evaluation.bundled = bundled


def _evaluation_set(
    spec: Any, where: EvaluationSource
) -> tuple[list[int], list[list[str]], str, bool]:
    """(labels, terms, description, is the bundled sample set) of the evaluation mail."""
    from sealdog.trainer.corpus import corpus_terms

    if where.mail is not None:
        from sealdog.mail.corpora import labelled_sources
        from sealdog.trainer.mailset import read_labelled

        m = where.mail
        read = read_labelled(labelled_sources(m.ham, m.spam, m.labels), spec, workers=m.workers)
        paths = [str(p) for p in [*m.ham, *m.spam]] + ([str(m.labels)] if m.labels else [])
        labels, terms = read.labels, read.terms
        if where.limit and where.limit < len(labels):
            labels, terms = labels[: where.limit], terms[: where.limit]
        return labels, terms, f"your mail: {', '.join(paths)}", False
    emails, source = _enron_or_samples(where.data, where.folders, where.limit)
    bundled = where.data is None and not where.folders
    terms = corpus_terms([e.raw for e in emails], spec)
    return [e.label for e in emails], terms, source, bundled


def _enron_or_samples(
    data: Path | None, folders: Sequence[str] | None, limit: int | None
) -> tuple[list[LabelledEmail], str]:
    from sealdog.data.enron import load_enron, locate_enron
    from sealdog.data.sample_corpus import load_samples

    if data is None and not folders:
        emails = load_samples()
        source = (
            f"the {len(emails)} bundled sample e-mails, NOT your mail: pass --ham/--spam "
            "with held-out mail of your own for a meaningful evaluation"
        )
    else:
        root = locate_enron(data)
        emails = load_enron(root, folders)
        source = f"Enron-Spam {','.join(folders) if folders else 'all folders'} ({root})"
    if limit and limit < len(emails):
        # The last limit/2 e-mails of each class (most recent first in Enron's order).
        ham = [e for e in emails if e.label == 0]
        spam = [e for e in emails if e.label == 1]
        k = max(1, limit // 2)
        emails = ham[-k:] + spam[-(limit - min(k, len(ham))) :] if limit > k else ham[-k:]
    return emails, source


def _feature_names(
    spec: Any, featuriser: Any, term_lists: Sequence[Sequence[str]]
) -> dict[int, str]:
    """Index -> term. Vocabulary mode: the vocabulary. Hashing mode: the terms of the
    evaluation data that land in each bucket (most frequent first), since a hash has no names."""
    if spec.mode == "vocabulary":
        return dict(enumerate(spec.vocabulary))
    per_bucket: dict[int, Counter[str]] = defaultdict(Counter)
    bucket_of: dict[str, int] = {}
    for terms in term_lists:
        for term in set(terms):
            if term not in bucket_of:
                bucket_of[term] = int(featuriser.index_terms([term]).indices[0])
            per_bucket[bucket_of[term]][term] += 1
    out = {}
    for bucket, counter in per_bucket.items():
        common = [t for t, _ in counter.most_common(2)]
        out[bucket] = " | ".join(common) + (" ..." if len(counter) > 2 else "")
    return out


def evaluate(labels: np.ndarray, scores: np.ndarray, source: str) -> Evaluation:
    from sklearn.metrics import roc_auc_score, roc_curve

    pred = scores >= 0
    y = labels.astype(bool)
    tp, tn = int(np.sum(y & pred)), int(np.sum(~y & ~pred))
    fp, fn = int(np.sum(~y & pred)), int(np.sum(y & ~pred))
    both = len(set(y.tolist())) == 2
    auc = float(roc_auc_score(y, scores)) if both else None
    roc_fpr, roc_tpr = (
        (roc_curve(y, scores)[:2]) if both else (np.array([0.0, 1.0]), np.array([0.0, 1.0]))
    )
    return Evaluation(
        len(y),
        (tp + tn) / max(1, len(y)),
        fp / max(1, fp + tn),
        fn / max(1, fn + tp),
        auc,
        [[tn, fp], [fn, tp]],
        roc_fpr.tolist(),
        roc_tpr.tolist(),
        source,
    )


# --- output ---------------------------------------------------------------------------------


def _svg(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.find("<svg") :]


def charts(result: AuditResult) -> dict[str, str]:
    """Inline SVG charts: top-weighted terms, ROC curve, confusion matrix."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: dict[str, str] = {}
    terms = result.top_spam[:15][::-1] + result.top_ham[:15]
    if terms:
        fig, ax = plt.subplots(figsize=(7, max(3, 0.28 * len(terms))))
        ax.barh(
            [t for t, _ in terms],
            [w for _, w in terms],
            color=["#c0392b" if w > 0 else "#2471a3" for _, w in terms],
        )
        ax.set_xlabel("weight (positive: spam, negative: ham)")
        ax.tick_params(axis="y", labelsize=8)
        out["terms"] = _svg(fig)
    ev = result.evaluation
    if ev is not None:
        fig, ax = plt.subplots(figsize=(4.5, 4.5))
        ax.plot(
            ev.roc_fpr,
            ev.roc_tpr,
            color="#c0392b",
            label=f"AUC {ev.auc:.4f}" if ev.auc is not None else None,
        )
        ax.plot([0, 1], [0, 1], linestyle="--", color="grey")
        ax.set_xlabel("false-positive rate")
        ax.set_ylabel("true-positive rate")
        if ev.auc is not None:
            ax.legend(loc="lower right")
        out["roc"] = _svg(fig)
        fig, ax = plt.subplots(figsize=(4, 3.6))
        cm = np.asarray(ev.confusion)
        ax.imshow(cm, cmap="Blues")
        for (i, j), v in np.ndenumerate(cm):
            ax.text(j, i, str(v), ha="center", va="center", color="black", fontsize=12)
        ax.set_xticks([0, 1], ["predicted ham", "predicted spam"])
        ax.set_yticks([0, 1], ["ham", "spam"])
        out["confusion"] = _svg(fig)
    return out


def write_report(path: str | os.PathLike[str], result: AuditResult) -> None:
    """Write the self-contained HTML report (atomic)."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    from sealdog.fileio import atomic_write_text

    env = Environment(
        loader=PackageLoader("sealdog.client", "templates"),
        autoescape=select_autoescape(["html", "j2"]),
    )
    html = env.get_template("audit_report.html.j2").render(r=result, charts=charts(result))
    atomic_write_text(path, html)


def print_summary(result: AuditResult) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console()
    colour = "green" if result.passed else "bold red"
    console.print(f"[{colour}]{'PASS' if result.passed else 'FAIL'}[/{colour}] {result.check}")
    if result.failure:
        console.print(f"[bold red]{result.failure}[/bold red]")
    if result.attestation is not None:
        console.print(f"attested by auditor {result.attestation['statement']['auditor']}")
    info = result.model_info
    console.print(
        f"model {info['digest'][:16]}...  {info['key_bits']}-bit key "
        f"{info['key_fingerprint'][:16]}...  "
        f"{info['dim']:,} sealed weights ({info['featuriser_mode']})"
    )
    if result.top_spam or result.top_ham:
        if result.term_names:
            console.print(f"term names from {result.term_names}")
        table = Table(title="most indicative terms")
        table.add_column("spam term")
        table.add_column("weight", justify="right")
        table.add_column("ham term")
        table.add_column("weight", justify="right")
        for k in range(max(len(result.top_spam), len(result.top_ham))):
            s = result.top_spam[k] if k < len(result.top_spam) else ("", None)
            h = result.top_ham[k] if k < len(result.top_ham) else ("", None)
            table.add_row(
                s[0],
                "" if s[1] is None else f"{s[1]:+.3f}",
                h[0],
                "" if h[1] is None else f"{h[1]:+.3f}",
            )
        console.print(table)
    ev = result.evaluation
    if ev is not None:
        auc = f"{ev.auc:.4f}" if ev.auc is not None else "n/a"
        console.print(
            f"evaluation on {count(ev.n, 'e-mail')} ({ev.source}): accuracy "
            f"{100 * ev.accuracy:.2f}%, "
            f"FPR {100 * ev.fpr:.2f}%, FNR {100 * ev.fnr:.2f}%, ROC AUC {auc}"
        )
        if ev.bundled:
            console.print(
                "[bold]note:[/bold] the evaluation set is the 40 bundled sample e-mails, not your "
                "mail; pass --ham/--spam with held-out mail of your own"
            )
