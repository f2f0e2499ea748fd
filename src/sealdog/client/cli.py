"""The key holder's commands: keygen, deploy, score, verdicts, models, audit, demo.

Server URL and token come from --url/--token or SEALDOG_URL/SEALDOG_TOKEN. Results go to
stdout, progress and messages to stderr, so output can be piped.

Exit statuses (every command here):
  0  success
  2  bad input: usage, missing or unreadable file, bad key file, key does not fit the model
  3  the server could not be reached
  4  the server refused the request (its message is printed)
  5  verdicts could not be decrypted with this secret key
  6  an audit check failed (the sealed model does not match)
"""

from __future__ import annotations

import csv
import functools
import io
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

import typer

from sealdog.errors import KeyMismatchError, SealdogError
from sealdog.mail.errors import MailError

EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3
EXIT_REFUSED = 4
EXIT_DECRYPTION = 5
EXIT_AUDIT_FAILED = 6

F = TypeVar("F", bound=Callable[..., Any])

UrlOption = typer.Option("http://127.0.0.1:8000", "--url", envvar="SEALDOG_URL", help="Server URL [env SEALDOG_URL].")
TokenOption = typer.Option(None, "--token", envvar="SEALDOG_TOKEN", help="API token [env SEALDOG_TOKEN].")
TimeoutOption = typer.Option(120.0, "--timeout", help="Seconds to wait for each HTTP answer.")
SecretKeyOption = typer.Option(Path("sealdog.key.json"), "--secret-key", "-k", help="Secret-key file (0600).")
FormatOption = typer.Option("table", "--format", "-f", help="table, json or csv.")

models_app = typer.Typer(help="Your models on a server: list, delete.", no_args_is_help=True)
demo_app = typer.Typer(
    help="End-to-end demos. Without a sub-command: the spam demo (keys, training, sealing, "
    "a local server, encrypted scoring, decryption, accuracy).",
    invoke_without_command=True,
)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("keygen")(keygen)
    app.command("deploy")(deploy)
    app.command("score")(score)
    app.command("verdicts")(verdicts)
    app.command("audit")(audit)
    app.command("export-openings")(export_openings)
    app.add_typer(models_app, name="models")
    app.add_typer(demo_app, name="demo")


# --- error handling ---------------------------------------------------------------------


def _err(message: str) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)


def exit_code_for(exc: SealdogError | MailError) -> int:
    from sealdog.client.errors import ApiError, AuditError, DecryptionError, ServerUnreachableError

    if isinstance(exc, ServerUnreachableError):
        return EXIT_UNREACHABLE
    if isinstance(exc, ApiError):
        return EXIT_REFUSED
    if isinstance(exc, DecryptionError):
        return EXIT_DECRYPTION
    if isinstance(exc, AuditError):
        return EXIT_AUDIT_FAILED
    if isinstance(exc, KeyMismatchError):
        return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT


def handles_errors(fn: F) -> F:
    """Turn Sealdog errors into one red line on stderr and a documented exit status."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except (SealdogError, MailError) as exc:
            _err(str(exc))
            raise typer.Exit(exit_code_for(exc)) from None

    return wrapper  # type: ignore[return-value]


def _client(url: str, token: str | None, timeout: float):  # type: ignore[no-untyped-def]
    from sealdog.client.http import SealdogClient

    if not token:
        raise SealdogError("No API token: pass --token or set SEALDOG_TOKEN (an owner token from the server's operator).")
    return SealdogClient(url, token, timeout=timeout)


def _secret_key(path: Path):  # type: ignore[no-untyped-def]
    from sealdog.client.keyfiles import PASSPHRASE_ENV, KeyFileError, open_secret_key
    from sealdog.crypto.paillier import WrongPassphraseError

    try:
        return open_secret_key(path)
    except KeyFileError as exc:
        if "passphrase" not in str(exc) or not sys.stdin.isatty():
            raise
    passphrase = typer.prompt(f"Passphrase for {path}", hide_input=True)
    try:
        return open_secret_key(path, passphrase)
    except WrongPassphraseError as exc:
        raise SealdogError(f"{exc} (or set {PASSPHRASE_ENV}).") from exc


def _check_format(fmt: str) -> str:
    if fmt not in ("table", "json", "csv"):
        raise typer.BadParameter(f"--format must be table, json or csv, not {fmt!r}")
    return fmt


def _emit_rows(rows: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, title: str) -> None:
    if fmt == "json":
        typer.echo(json.dumps(list(rows), indent=None))
    elif fmt == "csv":
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        from rich.console import Console
        from rich.table import Table

        table = Table(title=title)
        for col in columns:
            table.add_column(col)
        for row in rows:
            table.add_row(*(str(row.get(c, "")) for c in columns))
        Console(soft_wrap=True).print(table)


def _progress():  # type: ignore[no-untyped-def]
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(stderr=True), transient=False)


# --- keygen -----------------------------------------------------------------------------


@handles_errors
def keygen(
    public_key: Path = typer.Option(Path("sealdog.pub.json"), "--public-key", "-p", help="Public-key file to write."),
    secret_key: Path = typer.Option(Path("sealdog.key.json"), "--secret-key", "-k", help="Secret-key file to write (0600)."),
    bits: int = typer.Option(3072, "--bits", help="Paillier modulus size (3072 default; 2048 is the floor)."),
    insecure: bool = typer.Option(False, "--insecure", help="Allow keys under 2048 bits (tests and demos only)."),
    passphrase: bool = typer.Option(False, "--passphrase", help="Protect the secret key with a passphrase (prompted, or $SEALDOG_PASSPHRASE)."),
    force: bool = typer.Option(False, "--force", help="Overwrite existing key files."),
) -> None:
    """Generate a Paillier key pair: a public key to seal models with, a secret key for verdicts."""
    import os

    from sealdog.client.keyfiles import PASSPHRASE_ENV, write_keypair
    from sealdog.crypto.paillier import MIN_SECURE_BITS

    if bits < MIN_SECURE_BITS and not insecure:
        raise SealdogError(
            f"Refusing to generate a {bits}-bit key: the floor is {MIN_SECURE_BITS} bits (default 3072). "
            "Pass --insecure for tests and demos only."
        )
    secret = None
    if passphrase:
        secret = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
            "Passphrase for the secret key", hide_input=True, confirmation_prompt=True
        )
    typer.echo(f"generating a {bits}-bit Paillier key pair ...", err=True)
    pk, _ = write_keypair(public_key, secret_key, bits=bits, insecure=insecure, passphrase=secret, force=force)
    if pk.insecure:
        typer.secho(f"WARNING: {bits}-bit key is INSECURE (below 2048 bits): tests and demos only.",
                    fg=typer.colors.RED, err=True)
    typer.echo(f"public key  {public_key}\nsecret key  {secret_key} (mode 0600{', passphrase-protected' if secret else ''})", err=True)
    typer.echo("fingerprint:", err=True)
    typer.echo(pk.fingerprint)


# --- deploy / models --------------------------------------------------------------------


@handles_errors
def deploy(
    sealed_model: Path = typer.Argument(..., help="Sealed-model file (from `sealdog seal`)."),
    public_key: Path = typer.Option(None, "--public-key", "-p", help="Check the model was sealed with this public key."),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    as_json: bool = typer.Option(False, "--json", help="Print the model's metadata as JSON."),
) -> None:
    """Upload a sealed model; prints its id (uploading the same file again gives the same id)."""
    from sealdog.client.keyfiles import open_public_key
    from sealdog.sealed_model import SealedModel

    model = SealedModel.read(sealed_model)
    if public_key is not None:
        pk = open_public_key(public_key)
        if pk.fingerprint != model.key_fingerprint:
            raise KeyMismatchError(
                f"{sealed_model} is sealed for key {model.key_fingerprint[:16]}..., not for "
                f"{public_key} ({pk.fingerprint[:16]}...)."
            )
    with _client(url, token, timeout) as client:
        info = client.deploy(model)
    if as_json:
        typer.echo(json.dumps({"id": info.id, "digest": info.digest, "key_fingerprint": info.key_fingerprint,
                               "key_bits": info.key_bits, "kind": info.kind}))
    else:
        typer.echo(f"deployed {sealed_model} (digest {info.digest[:16]}..., {info.key_bits}-bit key)", err=True)
        typer.echo(info.id)


@models_app.command("list")
@handles_errors
def models_list(url: str = UrlOption, token: str = TokenOption, timeout: float = TimeoutOption,
                fmt: str = FormatOption) -> None:
    """Models visible to this token."""
    _check_format(fmt)
    with _client(url, token, timeout) as client:
        models = client.list_models()
    rows = [{"id": m.id, "kind": m.kind, "key_bits": m.key_bits, "key": m.key_fingerprint[:16],
             "digest": m.digest[:16], "uploaded_at": m.uploaded_at, "score_mode": m.score_mode_enabled}
            for m in models]
    _emit_rows(rows, ["id", "kind", "key_bits", "key", "digest", "uploaded_at", "score_mode"], fmt, "models")


@models_app.command("delete")
@handles_errors
def models_delete(model_id: str, url: str = UrlOption, token: str = TokenOption,
                  timeout: float = TimeoutOption) -> None:
    """Delete one of your models (and its verdict inbox)."""
    with _client(url, token, timeout) as client:
        client.delete_model(model_id)
    typer.echo(f"deleted {model_id}", err=True)


# --- score / verdicts -------------------------------------------------------------------


def _verdict_rows(verdicts: Sequence[Any]) -> list[dict[str, Any]]:
    return [{"message": v.message_id, "verdict": v.label, "cursor": v.cursor or ""} for v in verdicts]


@handles_errors
def score(
    paths: list[str] = typer.Argument(..., help="E-mail files, folders, mbox files, .eml files, or - for stdin."),
    model: str = typer.Option(..., "--model", "-m", help="Model id (from `sealdog deploy`)."),
    secret_key: Path = typer.Option(None, "--secret-key", "-k", help="Decrypt the verdicts with this key (direct delivery)."),
    delivery: str = typer.Option(None, "--delivery", help="direct (verdicts come back; default with --secret-key) or inbox (stored for the key holder; default without)."),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    fmt: str = FormatOption,
) -> None:
    """Score e-mails (files, folders, mbox, .eml, - for stdin) with a sealed model.

    With --secret-key the verdicts come back and are decrypted and printed (message,
    verdict); without, they go to the model's verdict inbox (collect them with `sealdog
    verdicts`). Exit status: 0 ok, 2 bad input, 3 server unreachable, 4 server refused,
    5 decryption failed.
    """
    from sealdog.client.decryption import decrypt_direct
    from sealdog.client.http import DirectResult, Email, InboxAck
    from sealdog.mail.sources import read_mail

    _check_format(fmt)
    delivery = delivery or ("direct" if secret_key else "inbox")
    if delivery not in ("direct", "inbox"):
        raise typer.BadParameter("--delivery must be direct or inbox")
    if delivery == "direct" and secret_key is None:
        raise typer.BadParameter("direct delivery returns encrypted verdicts: give --secret-key to decrypt them")
    sk = _secret_key(secret_key) if secret_key else None  # fail on a bad key before sending anything
    items = read_mail(paths)
    emails = [Email(item.raw, item.name) for item in items]
    with _client(url, token, timeout) as client:
        if sk is not None:
            info = client.get_model(model)
            if info.key_fingerprint != sk.public_key.fingerprint:
                raise KeyMismatchError(
                    f"Model {model} is sealed for key {info.key_fingerprint[:16]}..., not for "
                    f"{secret_key} ({sk.public_key.fingerprint[:16]}...): its verdicts would not decrypt."
                )
        with _progress() as progress:
            task = progress.add_task("scoring", total=len(emails))
            results = client.score(model, emails, delivery=delivery,  # type: ignore[arg-type]
                                   progress=lambda n: progress.advance(task, n))
    if delivery == "direct":
        assert sk is not None
        verdicts = decrypt_direct(sk, [r for r in results if isinstance(r, DirectResult)])
        _emit_rows(_verdict_rows(verdicts), ["message", "verdict"], fmt, f"verdicts of model {model}")
        spam = sum(v.positive for v in verdicts)
        typer.echo(f"{len(verdicts)} scored: {spam} spam, {len(verdicts) - spam} ham", err=True)
    else:
        acks = [r for r in results if isinstance(r, InboxAck)]
        rows = [{"inbox_entry": a.inbox_entry, "count": a.count} for a in acks]
        _emit_rows(rows, ["inbox_entry", "count"], fmt, f"submitted to the inbox of model {model}")
        typer.echo(f"{sum(a.count for a in acks)} e-mails scored; verdicts wait in the key holder's inbox", err=True)


@handles_errors
def verdicts(
    model: str = typer.Option(..., "--model", "-m", help="Model id."),
    secret_key: Path = SecretKeyOption,
    after: str = typer.Option(None, "--after", help="Start after this cursor (default: the cursor file's, else 0)."),
    cursor_file: Path = typer.Option(None, "--cursor-file", help="Read the start cursor from, and save the next one to, this file."),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    fmt: str = FormatOption,
) -> None:
    """Collect and decrypt the verdict inbox of a model, after a cursor.

    The next cursor is printed on stderr (and saved with --cursor-file, after the verdicts
    are printed), so repeated runs never show a verdict twice.
    """
    from sealdog.client.decryption import decrypt_inbox
    from sealdog.fileio import atomic_write_text

    _check_format(fmt)
    sk = _secret_key(secret_key)
    start = after
    if start is None and cursor_file is not None and cursor_file.exists():
        start = cursor_file.read_text().strip() or "0"
    start = start or "0"
    with _client(url, token, timeout) as client:
        info = client.get_model(model)
        if info.key_fingerprint != sk.public_key.fingerprint:
            raise KeyMismatchError(
                f"Model {model} is sealed for key {info.key_fingerprint[:16]}..., not for {secret_key}."
            )
        entries = list(client.iter_inbox(model, after=start))
    results = decrypt_inbox(sk, entries)
    _emit_rows(_verdict_rows(results), ["message", "verdict", "cursor"], fmt, f"inbox of model {model}")
    next_cursor = entries[-1].cursor if entries else start
    if cursor_file is not None:
        atomic_write_text(cursor_file, next_cursor + "\n")
    spam = sum(v.positive for v in results)
    typer.echo(f"{len(results)} verdicts ({spam} spam) in {len(entries)} entries; next cursor {next_cursor}", err=True)


# --- audit ------------------------------------------------------------------------------


@handles_errors
def export_openings(
    sealed_model: Path = typer.Argument(..., help="The sealed-model file to open for an auditor."),
    secret_key: Path = SecretKeyOption,
    out: Path = typer.Option(..., "--out", "-o", help="Openings file to write (give it to the auditor with the plaintext model)."),
    workers: int = typer.Option(0, "--workers", help="Processes (0 = all cores)."),
) -> None:
    """Key holder: export a sealed model's openings for an auditor.

    The opening of a ciphertext is its encryption randomness; with the plaintext model and
    the openings an auditor re-encrypts and checks the sealed model without the secret key.
    """
    from sealdog.client.openings import recover_openings, write_openings
    from sealdog.sealed_model import SealedModel

    sk = _secret_key(secret_key)
    model = SealedModel.read(sealed_model)
    with _progress() as progress:
        task = progress.add_task("opening ciphertexts", total=None)
        openings = recover_openings(sk, model, workers=workers or None,
                                    progress=lambda n, total: progress.update(task, completed=n, total=total))
    write_openings(out, openings, sk.public_key.bits)
    typer.echo(f"wrote {out}: openings of {len(openings.values)} ciphertexts of model {model.digest[:16]}...", err=True)


@handles_errors
def audit(
    sealed_model: Path = typer.Argument(..., help="The sealed-model file (as deployed)."),
    plain_model: Path = typer.Option(None, "--model", help="The plaintext model it should match (from `sealdog train`)."),
    secret_key: Path = typer.Option(None, "--secret-key", "-k", help="Key holder mode: decrypt the sealed model."),
    openings: Path = typer.Option(None, "--openings", help="Auditor mode: verify every ciphertext from these openings."),
    data: Path = typer.Option(None, "--data", help="Labelled data set to evaluate on (Enron-Spam folder)."),
    folders: str = typer.Option(None, "--folders", help="Enron folders to evaluate on, e.g. enron2,enron3 (default: the sample corpus if --data is absent)."),
    limit: int = typer.Option(0, "--limit", help="Evaluate on at most N e-mails (0 = all)."),
    report: Path = typer.Option(Path("sealdog-audit.html"), "--report", help="HTML report to write."),
    top: int = typer.Option(20, "--top", help="Terms to show per class."),
    method: str = typer.Option("auto", "--method", help="Auditor check: exact (one ciphertext at a time), batched (2^-128-sound, fast) or auto (exact up to 5,000 ciphertexts)."),
    workers: int = typer.Option(0, "--workers", help="Processes (0 = all cores)."),
) -> None:
    """Audit a sealed model against its plaintext model; write an HTML report.

    Key holder (--secret-key): check every ciphertext decrypts to the plaintext model (or
    decrypt every weight), show the most spam- and ham-indicative terms, evaluate on
    labelled data. Auditor (--openings, no secret key): re-encrypt the plaintext model with
    the openings and compare the sealed model ciphertext by ciphertext.
    """
    from sealdog.client import audit as audit_mod

    if (secret_key is None) == (openings is None):
        raise typer.BadParameter("give exactly one of --secret-key (key holder) or --openings (auditor)")
    if method not in ("auto", "exact", "batched"):
        raise typer.BadParameter("--method must be auto, exact or batched")
    with _progress() as progress:
        task = progress.add_task("checking ciphertexts", total=None)

        def tick(n: int, total: int) -> None:
            progress.update(task, completed=n, total=total)

        result = audit_mod.run_audit(
            sealed_path=sealed_model, plain_path=plain_model,
            secret_key=_secret_key(secret_key) if secret_key else None,
            openings_path=openings, data=data, folders=folders.split(",") if folders else None,
            limit=limit or None, top=top, workers=workers or None, method=method, progress=tick,
        )
    audit_mod.write_report(report, result)
    audit_mod.print_summary(result)
    typer.echo(f"report: {report}", err=True)
    if not result.passed:
        from sealdog.client.errors import AuditError

        raise AuditError(result.failure or "audit failed")


# --- demo -------------------------------------------------------------------------------


@demo_app.callback()
def demo(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="End with one JSON line of results."),
    limit: int = typer.Option(0, "--limit", help="Score only N held-out e-mails (0 = all)."),
    data: Path = typer.Option(None, "--data", help="Enron-Spam folder (default: ../shared/datasets/enron-spam, $SEALDOG_DATA)."),
    bits: int = typer.Option(3072, "--bits", help="Paillier key size (3072 default; 2048 is the secure floor)."),
    workers: int = typer.Option(0, "--workers", help="Processes for parsing and the server's scoring (0 = all cores)."),
    delivery: str = typer.Option("inbox", "--delivery", help="inbox (verdicts collected from the inbox) or direct."),
) -> None:
    """The spam demo, end to end on this machine.

    Keygen, train on Enron-Spam (or the built-in sample), seal, start a server on
    127.0.0.1, deploy, score the held-out e-mails over HTTP, decrypt, report.
    """
    if ctx.invoked_subcommand is not None:
        return
    from sealdog.client.demo import DemoOptions, run_spam_demo

    if delivery not in ("inbox", "direct"):
        raise typer.BadParameter("--delivery must be inbox or direct")
    try:
        result = run_spam_demo(DemoOptions(data=data, limit=limit or None, bits=bits,
                                           workers=workers or None, delivery=delivery))
    except (SealdogError, MailError) as exc:
        _err(str(exc))
        raise typer.Exit(exit_code_for(exc)) from None
    if as_json:
        typer.echo(json.dumps(result.to_json()))
