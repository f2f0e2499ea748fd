"""`sealdog demo`: the whole story on one machine, with visible progress.

keygen -> train on Enron-Spam (or the built-in sample corpus, saying so) -> seal -> start a
real server subprocess on 127.0.0.1 (free port, temporary data folder) -> an operator's
admin token, then owner and submitter tokens over the API -> deploy -> the submitter sends
the held-out e-mails over HTTP (inbox delivery by default, as in the original post) -> the
key holder collects and decrypts the verdicts -> accuracy, false-positive and
false-negative rates, and agreement with the plaintext model -> the server is stopped
(always: also on an error or Ctrl-C).

Held-out split: the posts' split, the last 1,000 ham and last 1,000 spam e-mails of the
corpus in its deterministic order (all six folders; all of them enron6's, so the model is
sealed for enron6, its own threshold, as `sealdog eval` judges them); the sample corpus
holds out its last 5 ham and 5 spam. `--limit N` scores the first N of the held-out
e-mails, ham and spam interleaved so a small N still sees both classes.

Key size: 3072 bits by default, like every Paillier key in Sealdog (the full demo takes about
a minute on two cores); `--bits 2048` is the secure floor; smaller keys run only as an
"insecure demo key" against a server in demo mode.
"""

from __future__ import annotations

import signal
import tempfile
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
from rich.console import Console
from rich.table import Table

from sealdog.client.decryption import decrypt_direct, decrypt_inbox
from sealdog.client.demo_model import plaintext_verdicts, seal_spam_model, train_spam_model
from sealdog.client.http import DirectResult, Email, SealdogClient
from sealdog.client.keyfiles import write_keypair
from sealdog.client.local_server import LocalServer
from sealdog.crypto.paillier import MIN_SECURE_BITS, SecretKey
from sealdog.data.enron import CorpusNotFoundError, LabelledEmail, load_enron, locate_enron
from sealdog.data.sample_corpus import load_samples
from sealdog.errors import SealdogError
from sealdog.progress import Progress, count
from sealdog.protocol import Role
from sealdog.trainer.model import LinearModel

ENRON_HELD_OUT_PER_CLASS = 1000
SAMPLE_HELD_OUT_PER_CLASS = 5


def model_for_held_out(
    model: LinearModel, held_out: Sequence[LabelledEmail]
) -> tuple[LinearModel, str]:
    """The model the held-out mail is judged by, and whose threshold it is: the held-out
    e-mails' own mailbox's (`LinearModel.for_mailbox`) when they all come from one mailbox
    the model was trained on (Enron-Spam: enron6, as `sealdog eval`'s posts split judges
    it), else the default."""
    folders = {e.folder for e in held_out}
    if len(folders) == 1:
        (folder,) = folders
        if folder in model.mailbox_offsets:
            return model.for_mailbox(folder), f"{folder}'s"
    return model, "the default"


@dataclass(frozen=True)
class DemoOptions:
    data: Path | None = None
    limit: int | None = None
    bits: int = 3072
    workers: int | None = None
    delivery: str = "inbox"


@dataclass(frozen=True)
class DemoResult:
    n_scored: int
    accuracy: float
    fpr: float
    fnr: float
    agreement: float
    seconds: float
    corpus: str

    def to_json(self) -> dict[str, Any]:
        return {
            "demo": "spam",
            "n_scored": self.n_scored,
            "accuracy": round(self.accuracy, 6),
            "fpr": round(self.fpr, 6),
            "fnr": round(self.fnr, 6),
            "agreement": round(self.agreement, 6),
            "seconds": round(self.seconds, 2),
            "corpus": self.corpus,
        }


@dataclass(frozen=True)
class Rates:
    accuracy: float
    fpr: float
    fnr: float
    tp: int
    tn: int
    fp: int
    fn: int


def rates(labels: Sequence[int], predicted: Sequence[bool]) -> Rates:
    """Accuracy, false-positive rate (ham called spam) and false-negative rate (spam missed)."""
    y = np.asarray(labels, dtype=bool)
    p = np.asarray(predicted, dtype=bool)
    tp, tn = int(np.sum(y & p)), int(np.sum(~y & ~p))
    fp, fn = int(np.sum(~y & p)), int(np.sum(y & ~p))
    total = max(1, len(y))
    return Rates((tp + tn) / total, fp / max(1, fp + tn), fn / max(1, fn + tp), tp, tn, fp, fn)


def split_held_out(
    emails: Sequence[LabelledEmail], per_class: int
) -> tuple[list[LabelledEmail], list[LabelledEmail]]:
    """(train, held-out): the last `per_class` ham and spam in corpus order are held out."""
    ham = [i for i, e in enumerate(emails) if e.label == 0]
    spam = [i for i, e in enumerate(emails) if e.label == 1]
    held = set(ham[-per_class:]) | set(spam[-per_class:])
    train = [e for i, e in enumerate(emails) if i not in held]
    held_ham = [emails[i] for i in ham[-per_class:]]
    held_spam = [emails[i] for i in spam[-per_class:]]
    interleaved: list[LabelledEmail] = []
    for k in range(max(len(held_ham), len(held_spam))):
        interleaved.extend(x[k] for x in (held_ham, held_spam) if k < len(x))
    return train, interleaved


def load_demo_corpus(data: Path | None, console: Console) -> tuple[str, list[LabelledEmail], int]:
    """(corpus name, e-mails, held-out per class); the sample corpus when Enron-Spam is absent."""
    try:
        root = locate_enron(data)
    except CorpusNotFoundError as exc:
        if data is not None:
            raise
        console.print(f"[yellow]Enron-Spam corpus not found ({exc})[/yellow]")
        console.print(
            "[yellow]Using the built-in sample corpus instead: 40 hand-written e-mails "
            "(20 ham, 20 spam). Figures on it are a smoke test, not a measurement.[/yellow]"
        )
        return "sample", load_samples(), SAMPLE_HELD_OUT_PER_CLASS
    with Progress(f"reading Enron-Spam from {root}", console=console):
        emails = load_enron(root)
    console.print(f"Enron-Spam: {count(len(emails), 'e-mail')} from {root}")
    return "enron-spam", emails, ENRON_HELD_OUT_PER_CLASS


@contextmanager
def _sigterm_as_exit() -> Iterator[None]:
    """Let SIGTERM unwind like Ctrl-C does, so the server is stopped either way."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        raise SystemExit(128 + signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def run_spam_demo(
    options: DemoOptions, *, console: Console | None = None, out: Console | None = None
) -> DemoResult:
    """Run the demo; progress goes to `console` (stderr), the result table to `out` (stdout)."""
    with _sigterm_as_exit():
        return _run_spam_demo(options, console or Console(stderr=True), out or Console())


def _run_spam_demo(options: DemoOptions, console: Console, out: Console) -> DemoResult:
    started = time.perf_counter()
    insecure = options.bits < MIN_SECURE_BITS
    if insecure:
        console.print(
            f"[bold red]insecure demo key: {options.bits} bits is below the {MIN_SECURE_BITS}-bit "
            "floor; anyone can factor it. The local server runs in demo mode.[/bold red]"
        )
    with tempfile.TemporaryDirectory(prefix="sealdog-demo-") as tmp:
        work = Path(tmp)
        # 1. keys
        with Progress(f"1/7 generating a {options.bits}-bit Paillier key pair", console=console):
            pk, sk = write_keypair(
                work / "demo.pub.json", work / "demo.key.json", bits=options.bits, insecure=insecure
            )
        console.print(
            f"1/7 keys: {options.bits}-bit Paillier, fingerprint {pk.fingerprint[:16]}..., "
            "secret key written 0600 (it never leaves this process)"
        )

        # 2. corpus and training
        corpus, emails, per_class = load_demo_corpus(options.data, console)
        train, held_out = split_held_out(emails, per_class)
        if options.limit is not None:
            held_out = held_out[: max(0, options.limit)]
        if not held_out:
            raise SealdogError("Nothing to score: --limit must be at least 1.")
        with Progress("2/7 training", console=console) as progress:
            model = train_spam_model(
                train,
                workers=options.workers,
                progress=progress.advance,
                stage=lambda what, total: progress.stage(f"2/7 training: {what}", total),
            )
        spec = model.featuriser
        model, threshold_for = model_for_held_out(model, held_out)
        console.print(
            f"2/7 trained on {count(len(train), 'e-mail')}: "
            f"{model.metadata.get('learner', 'linear')} "
            f"model over {spec.n_features:,} {spec.mode} features (C={model.metadata.get('c')}, "
            f"{threshold_for} threshold folded into the bias)"
        )

        # 3. seal
        with Progress(
            f"3/7 sealing {spec.n_features + 1:,} weights under the public key", console=console
        ):
            sealed = seal_spam_model(
                model, pk, metadata={"name": "sealdog-demo-spam", "corpus": corpus}
            )
            sealed_path = work / "spam.sealed"
            sealed.write(sealed_path)
        console.print(
            f"3/7 sealed model: {sealed_path.stat().st_size / 1e6:.1f} MB, digest "
            f"{sealed.digest[:16]}..."
        )

        with Progress(
            f"3/7 plaintext verdicts of the {count(len(held_out), 'held-out e-mail')}",
            console=console,
        ):
            plain = plaintext_verdicts(model, [e.raw for e in held_out], workers=options.workers)

        # 4. server
        with Progress("4/7 starting a Sealdog server on 127.0.0.1", console=console):
            server = LocalServer(
                work / "server", insecure_demo=insecure, scoring_processes=options.workers or 0
            ).start()
        try:
            console.print(
                f"4/7 server running at {server.url} (pid-owned subprocess, data in a temp folder)"
            )
            verdicts = _serve_and_score(server, sealed_path, sk, held_out, options, console)
        finally:
            with Progress("stopping the server", console=console):
                server.stop()
        console.print("7/7 server stopped")

    labels = [e.label for e in held_out]
    encrypted = [verdicts[f"{e.folder}/{e.name}#{k}"] for k, e in enumerate(held_out)]
    enc_rates = rates(labels, encrypted)
    plain_rates = rates(labels, plain)
    agreement = float(np.mean(np.asarray(encrypted) == np.asarray(plain)))
    seconds = time.perf_counter() - started
    result = DemoResult(
        len(held_out), enc_rates.accuracy, enc_rates.fpr, enc_rates.fnr, agreement, seconds, corpus
    )
    _print_table(out, result, enc_rates, plain_rates)
    return result


def _serve_and_score(
    server: LocalServer,
    sealed_path: Path,
    sk: SecretKey,
    held_out: Sequence[LabelledEmail],
    options: DemoOptions,
    console: Console,
) -> dict[str, bool]:
    with SealdogClient(server.url, server.admin_token, timeout=300) as admin:
        owner_token = admin.create_token(Role.owner, subject="key-holder")
        submitter = admin.create_token(Role.submitter, subject="mail-gateway")
        with SealdogClient(server.url, owner_token["token"], timeout=300) as owner:
            with Progress("5/7 deploying the sealed model", console=console):
                info = owner.deploy(sealed_path)
            admin.grant(submitter["id"], info.id)
            console.print(
                f"5/7 deployed model {info.id} ({info.key_bits}-bit key); tokens: owner "
                "(key holder), submitter (mail gateway)"
            )
            emails = [Email(e.raw, f"{e.folder}/{e.name}#{k}") for k, e in enumerate(held_out)]
            delivery: Literal["direct", "inbox"] = (
                "inbox" if options.delivery == "inbox" else "direct"
            )
            with (
                SealdogClient(server.url, submitter["token"], timeout=300) as gateway,
                Progress(
                    f"6/7 scoring over HTTP ({delivery})", total=len(emails), console=console
                ) as progress,
            ):
                client = gateway if delivery == "inbox" else owner
                results = client.score(
                    info.id, emails, delivery=delivery, progress=progress.advance
                )
            t0 = time.perf_counter()
            if options.delivery == "inbox":
                entries = list(owner.iter_inbox(info.id))
                decrypted = decrypt_inbox(sk, entries)
            else:
                decrypted = decrypt_direct(sk, [r for r in results if isinstance(r, DirectResult)])
            console.print(
                f"6/7 decrypted {count(len(decrypted), 'verdict')} in "
                f"{time.perf_counter() - t0:.2f} s "
                "(only the key holder can)"
            )
    verdicts = {v.message_id: v.positive for v in decrypted if v.message_id is not None}
    missing = [e.message_id for e in emails if e.message_id not in verdicts]
    if missing:
        raise SealdogError(f"{count(len(missing), 'e-mail')} got no verdict (first: {missing[0]}).")
    return verdicts


def _print_table(out: Console, result: DemoResult, enc: Rates, plain: Rates) -> None:
    table = Table(
        title=f"Sealdog spam demo ({result.corpus}, {result.n_scored:,} held-out e-mails)"
    )
    table.add_column("")
    table.add_column("encrypted (server)", justify="right")
    table.add_column("plaintext model", justify="right")
    for name, a, b in (
        ("accuracy", enc.accuracy, plain.accuracy),
        ("false-positive rate (ham called spam)", enc.fpr, plain.fpr),
        ("false-negative rate (spam missed)", enc.fnr, plain.fnr),
    ):
        table.add_row(name, f"{100 * a:.2f}%", f"{100 * b:.2f}%")
    table.add_row("spam caught / ham passed", f"{enc.tp} / {enc.tn}", f"{plain.tp} / {plain.tn}")
    table.add_row("agreement encrypted vs plaintext", f"{100 * result.agreement:.2f}%", "")
    table.add_row("wall time", f"{result.seconds:.1f} s", "")
    out.print(table)
