"""The key holder's commands: keygen, deploy, score, verdicts, models, audit, and the spam demo.

Server URL and token come from --url/--token or SEALDOG_URL/SEALDOG_TOKEN. Results go to
stdout, progress and messages to stderr, so output can be piped. Errors and exit statuses
follow `sealdog.cli_errors` (the README's "Exit codes"): 2 bad input, 3 server unreachable,
4 server refused, 5 decryption failed, 6 audit failed.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import typer

from sealdog.cli_errors import ExitStatus, handles_errors
from sealdog.errors import KeyMismatchError, SealdogError
from sealdog.mail.errors import MailError
from sealdog.progress import Progress, count

if TYPE_CHECKING:
    from sealdog.client.http import Email, OnError, ScoreRun, SealdogClient
    from sealdog.crypto.paillier import SecretKey
    from sealdog.mail.sources import MailItem


class OutputFormat(StrEnum):
    """How a command prints its rows: a table for people, JSON or CSV for programs."""

    table = "table"
    json = "json"
    csv = "csv"


class Delivery(StrEnum):
    """Where verdicts go: back to the caller (direct) or to the model's inbox."""

    direct = "direct"
    inbox = "inbox"


class OnErrorChoice(StrEnum):
    """`sealdog score --on-error`: what to do with an e-mail that is refused."""

    skip = "skip"
    stop = "stop"


class AuditMethod(StrEnum):
    """The auditor's ciphertext check."""

    auto = "auto"
    exact = "exact"
    batched = "batched"


UrlOption = typer.Option(
    "http://127.0.0.1:8000", "--url", envvar="SEALDOG_URL", help="Server URL [env SEALDOG_URL]."
)
TokenOption = typer.Option(
    None, "--token", envvar="SEALDOG_TOKEN", help="API token [env SEALDOG_TOKEN]."
)
TimeoutOption = typer.Option(120.0, "--timeout", help="Seconds to wait for each HTTP answer.")
SecretKeyOption = typer.Option(
    Path("sealdog.key.json"), "--secret-key", "-k", help="Secret-key file (0600)."
)
FormatOption = typer.Option(
    OutputFormat.table, "--format", "-f", help="Output format (--json is short for --format json)."
)
JsonOption = typer.Option(False, "--json", help="Print JSON (the same as --format json).")

models_app = typer.Typer(
    help="Your models on a server: list, delete.", no_args_is_help=True, rich_markup_mode=None
)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.command("keygen")(keygen)
    app.command("deploy")(deploy)
    app.command("score")(score)
    app.command("verdicts")(verdicts)
    app.command("audit")(audit)
    app.command("export-openings")(export_openings)
    app.command("auditor-keygen")(auditor_keygen)
    app.add_typer(models_app, name="models")


def register_demo(demo_app: typer.Typer) -> None:
    """The spam demo is the root's `demo` group's own command (`sealdog demo`)."""
    demo_app.callback()(demo)


# --- helpers ----------------------------------------------------------------------------


def _require_token(token: str | None) -> str:
    if not token:
        raise SealdogError(
            "No API token: pass --token or set SEALDOG_TOKEN (an owner token from the server's "
            "operator)."
        )
    return token


def _client(url: str, token: str | None, timeout: float) -> SealdogClient:
    from sealdog.client.http import SealdogClient

    return SealdogClient(url, _require_token(token), timeout=timeout)


def _secret_key(path: Path) -> SecretKey:
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


def require_same_key(
    sealed_for: str, key_fingerprint: str, *, what: str, key: Path, consequence: str = ""
) -> None:
    """Refuse a key that is not the one `what` (a model, a file) was sealed with.

    `sealed_for` and `key_fingerprint` are key fingerprints; the message names both.
    """
    if sealed_for != key_fingerprint:
        raise KeyMismatchError(
            f"{what} is sealed for key {sealed_for[:16]}..., not for {key} "
            f"({key_fingerprint[:16]}...)" + (f": {consequence}." if consequence else ".")
        )


def _output_format(fmt: OutputFormat, as_json: bool) -> OutputFormat:
    return OutputFormat.json if as_json else fmt


def _emit_rows(
    rows: Sequence[dict[str, Any]],
    columns: Sequence[str],
    fmt: OutputFormat,
    title: str,
    table: tuple[Sequence[dict[str, Any]], Sequence[str]] | None = None,
) -> None:
    """Rows as JSON, CSV or a table (`table`: other rows and columns for the table form).

    In a table no value is ever cut: an `id` column never wraps, the others fold.
    """
    if fmt is OutputFormat.json:
        typer.echo(json.dumps(list(rows), indent=None))
    elif fmt is OutputFormat.csv:
        buf = io.StringIO()
        writer = csv.DictWriter(
            buf, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
        )
        writer.writeheader()
        writer.writerows(rows)
        typer.echo(buf.getvalue(), nl=False)
    else:
        from rich import box
        from rich.console import Console
        from rich.table import Table

        if table is not None:
            rows, columns = table
        view = Table(title=title, box=box.SIMPLE_HEAD, pad_edge=False)
        for col in columns:
            view.add_column(col, no_wrap=col == "id", overflow="fold")
        for row in rows:
            view.add_row(*(str(row.get(c, "")) for c in columns))
        Console().print(view)


# --- keygen -----------------------------------------------------------------------------


@handles_errors
def keygen(
    public_key: Path = typer.Option(
        Path("sealdog.pub.json"), "--public-key", "-p", help="Public-key file to write."
    ),
    secret_key: Path = typer.Option(
        Path("sealdog.key.json"), "--secret-key", "-k", help="Secret-key file to write (0600)."
    ),
    bits: int = typer.Option(
        3072, "--bits", help="Paillier modulus size (3072 default; 2048 is the floor)."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Allow keys under 2048 bits (tests and demos only)."
    ),
    passphrase: bool = typer.Option(
        False,
        "--passphrase",
        help="Protect the secret key with a passphrase (prompted, or $SEALDOG_PASSPHRASE).",
    ),
    force: bool = typer.Option(False, "--force", help="Overwrite existing key files."),
) -> None:
    """Generate a Paillier key pair: a public key to seal models with, a secret key for verdicts."""
    import os

    from sealdog.client.keyfiles import PASSPHRASE_ENV, check_keypair_paths, write_keypair
    from sealdog.crypto.paillier import MIN_SECURE_BITS

    if bits < MIN_SECURE_BITS and not insecure:
        raise SealdogError(
            f"Refusing to generate a {bits}-bit key: the floor is {MIN_SECURE_BITS} bits (default "
            "3072). "
            "Pass --insecure for tests and demos only."
        )
    check_keypair_paths(public_key, secret_key, force=force)  # refuse before any prompt or work
    secret = None
    if passphrase:
        secret = os.environ.get(PASSPHRASE_ENV) or typer.prompt(
            "Passphrase for the secret key", hide_input=True, confirmation_prompt=True
        )
    with Progress(f"generating a {bits}-bit Paillier key pair"):
        pk, _ = write_keypair(
            public_key, secret_key, bits=bits, insecure=insecure, passphrase=secret, force=force
        )
    if pk.insecure:
        typer.secho(
            f"WARNING: {bits}-bit key is INSECURE (below 2048 bits): tests and demos only.",
            fg=typer.colors.RED,
            err=True,
        )
    typer.echo(
        f"public key  {public_key}\nsecret key  {secret_key} (mode "
        f"0600{', passphrase-protected' if secret else ''})",
        err=True,
    )
    typer.echo("fingerprint:", err=True)
    typer.echo(pk.fingerprint)


# --- deploy / models --------------------------------------------------------------------


@handles_errors
def deploy(
    sealed_model: Path = typer.Argument(..., help="Sealed-model file (from `sealdog seal`)."),
    public_key: Path = typer.Option(
        None, "--public-key", "-p", help="Check the model was sealed with this public key."
    ),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    as_json: bool = typer.Option(False, "--json", help="Print the model's metadata as JSON."),
    attestation: Path | None = typer.Option(
        None,
        "--attestation",
        help="An auditor's attestation (from `sealdog audit --attest`) to upload with the model.",
    ),
    strict_rerandomise: bool = typer.Option(
        False,
        "--strict-rerandomise",
        help="Ask the server for a full r^n re-randomisation of every output of this model.",
    ),
) -> None:
    """Upload a sealed model; prints its id (uploading the same file again gives the same id)."""
    from sealdog.client.keyfiles import open_public_key
    from sealdog.sealed_model import SealedModel

    model = SealedModel.read(sealed_model)
    attestation_bytes = None
    if attestation is not None:
        from sealdog.client.attestation import read_attestation

        document = read_attestation(attestation)  # malformed: refused before any upload
        if document.statement.model_digest != model.digest:
            raise SealdogError(
                f"{attestation} attests model {document.statement.model_digest[:16]}..., not "
                f"{sealed_model} ({model.digest[:16]}...)."
            )
        attestation_bytes = document.to_bytes()
    if public_key is not None:
        pk = open_public_key(public_key)
        require_same_key(
            model.key_fingerprint, pk.fingerprint, what=str(sealed_model), key=public_key
        )
    with _client(url, token, timeout) as client:
        info = client.deploy(
            model, attestation=attestation_bytes, strict_rerandomise=strict_rerandomise
        )
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "id": info.id,
                    "digest": info.digest,
                    "key_fingerprint": info.key_fingerprint,
                    "key_bits": info.key_bits,
                    "kind": info.kind,
                }
            )
        )
    else:
        typer.echo(
            f"deployed {sealed_model} (digest {info.digest[:16]}..., {info.key_bits}-bit key)",
            err=True,
        )
        typer.echo(info.id)


@models_app.command("list")
@handles_errors
def models_list(
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    fmt: OutputFormat = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Models visible to this token (the table shows the essentials; JSON and CSV every field)."""
    fmt = _output_format(fmt, as_json)
    with _client(url, token, timeout) as client:
        models = client.list_models()
    rows = [
        {
            "id": m.id,
            "kind": m.kind,
            "key_bits": m.key_bits,
            "key": m.key_fingerprint[:16],
            "digest": m.digest[:16],
            "uploaded_at": m.uploaded_at,
            "score_mode": m.score_mode_enabled,
        }
        for m in models
    ]
    # The table fits 80 columns with the whole id: the fingerprint's start, the upload date.
    brief = [
        {
            "id": m.id,
            "kind": m.kind,
            "bits": m.key_bits,
            "key": m.key_fingerprint[:8],
            "uploaded": str(m.uploaded_at)[:10],
            "scores": "yes" if m.score_mode_enabled else "no",
        }
        for m in models
    ]
    _emit_rows(
        rows,
        ["id", "kind", "key_bits", "key", "digest", "uploaded_at", "score_mode"],
        fmt,
        "models",
        table=(brief, ["id", "kind", "bits", "key", "uploaded", "scores"]),
    )


@models_app.command("delete")
@handles_errors
def models_delete(
    model_id: str, url: str = UrlOption, token: str = TokenOption, timeout: float = TimeoutOption
) -> None:
    """Delete one of your models (and its verdict inbox)."""
    with _client(url, token, timeout) as client:
        client.delete_model(model_id)
    typer.echo(f"deleted {model_id}", err=True)


# --- score / verdicts -------------------------------------------------------------------


def _verdict_rows(
    verdicts: Sequence[Any], flags: dict[str, str] | None = None
) -> list[dict[str, Any]]:
    rows = []
    for v in verdicts:
        row = {"message": v.message_id, "verdict": v.label, "cursor": v.cursor or ""}
        flag = (flags or {}).get(v.message_id or "") or ("truncated" if v.truncated else "")
        if flag:
            row["flag"] = flag
        rows.append(row)
    return rows


def _not_mail_flags(items: Sequence[Any]) -> dict[str, str]:
    """Inputs that are not e-mail (empty, binary, no header line): name -> flag. Scoring
    them still happens (the user asked for it) but their verdict says nothing useful."""
    from sealdog.mail.message import MailKind, classify_input

    flags: dict[str, str] = {}
    for item in items:
        kind = classify_input(item.raw)
        if kind is not MailKind.EMAIL:
            flags[item.name] = "empty" if kind is MailKind.EMPTY else "not e-mail"
    return flags


def _warn(message: str) -> None:
    typer.secho(f"warning: {message}", fg=typer.colors.YELLOW, err=True)


@handles_errors
def score(
    paths: list[str] = typer.Argument(
        ..., help="E-mail files, folders, mbox files, .eml files, or - for stdin."
    ),
    model: str = typer.Option(..., "--model", "-m", help="Model id (from `sealdog deploy`)."),
    secret_key: Path = typer.Option(
        None, "--secret-key", "-k", help="Decrypt the verdicts with this key (direct delivery)."
    ),
    delivery: Delivery | None = typer.Option(
        None,
        "--delivery",
        help=(
            "direct (verdicts come back; default with --secret-key) or inbox (stored for the key "
            "holder; default without)."
        ),
    ),
    on_error: OnErrorChoice = typer.Option(
        OnErrorChoice.skip,
        "--on-error",
        help=(
            "When an e-mail is refused (too large, unparseable): skip it and go on (exit 7 at "
            "the end), or stop sending (what was scored is still printed)."
        ),
    ),
    concurrency: int = typer.Option(
        4,
        "--concurrency",
        min=1,
        max=64,
        help=(
            "Batches in flight at once (the input is read as the run goes, at most two "
            "windows of this many batches held); raise it for a server with many replicas. "
            "--on-error stop sends one batch at a time, so that what is scored is exactly "
            "the input before the refused e-mail."
        ),
    ),
    max_email_bytes: int = typer.Option(
        1024 * 1024,
        "--max-email-bytes",
        min=1,
        help=(
            "The server's per-e-mail cap (SEALDOG_MAX_EMAIL_BYTES, 1 MiB by default): larger "
            "e-mails are refused here, without being uploaded."
        ),
    ),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    fmt: OutputFormat = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Score e-mails (files, folders, mbox, .eml, - for stdin) with a sealed model.

    With --secret-key the verdicts come back and are decrypted and printed (message,
    verdict); without, they go to the model's verdict inbox (collect them with `sealdog
    verdicts`). An e-mail the server would refuse is reported by name (big.mbox#301) and
    the others are still scored; input that is not e-mail is warned about and flagged.
    Exit status: 0 ok, 2 bad input, 3 server unreachable, 4 server refused, 5 decryption
    failed, 7 some e-mails were not scored.
    """
    from sealdog.client.decryption import decrypt_direct
    from sealdog.client.http import DirectResult, InboxAck, OnError
    from sealdog.mail.sources import iter_mail

    fmt = _output_format(fmt, as_json)
    delivery = delivery or (Delivery.direct if secret_key else Delivery.inbox)
    if delivery is Delivery.direct and secret_key is None:
        raise typer.BadParameter(
            "direct delivery returns encrypted verdicts: give --secret-key to decrypt them"
        )
    sk = (
        _secret_key(secret_key) if secret_key else None
    )  # fail on a bad key before sending anything
    stream = _MailStream(iter_mail(paths))  # checks every source before anything is sent
    wire: Literal["direct", "inbox"] = "direct" if delivery is Delivery.direct else "inbox"
    if sk is None:
        _require_token(token)  # no second HTTP client (its TLS setup costs start-up time)
    else:
        with _client(url, token, timeout) as client:
            info = client.get_model(model)
            require_same_key(
                info.key_fingerprint,
                sk.public_key.fingerprint,
                what=f"Model {model}",
                key=secret_key,
                consequence="its verdicts would not decrypt",
            )
    with Progress("scoring", rate="e-mails") as progress:
        stream.on_end = progress.set_total
        run = asyncio.run(
            _score_stream(
                stream,
                model,
                url=url,
                token=token,
                timeout=timeout,
                concurrency=1 if on_error is OnErrorChoice.stop else concurrency,
                max_email_bytes=max_email_bytes,
                delivery=wire,
                on_error=OnError(on_error.value),
                progress=progress.advance,
            )
        )
    flags = stream.flags
    for refusal in run.refused:
        _warn(f"not scored: {refusal.reason}")
    if delivery is Delivery.direct:
        assert sk is not None
        verdicts = decrypt_direct(sk, [r for r in run.results if isinstance(r, DirectResult)])
        cut = any(v.truncated for v in verdicts)
        columns = ["message", "verdict"] + (["flag"] if flags or cut else [])
        _emit_rows(_verdict_rows(verdicts, flags), columns, fmt, f"verdicts of model {model}")
        spam = sum(v.positive for v in verdicts)
        typer.echo(
            f"{len(verdicts):,} scored: {spam:,} spam, {len(verdicts) - spam:,} ham"
            + _shortfall(run, flags),
            err=True,
        )
    else:
        acks = [r for r in run.results if isinstance(r, InboxAck)]
        rows = [{"inbox_entry": a.inbox_entry, "count": a.count} for a in acks]
        _emit_rows(rows, ["inbox_entry", "count"], fmt, f"submitted to the inbox of model {model}")
        typer.echo(
            f"{count(sum(a.count for a in acks), 'e-mail')} scored; verdicts wait in the key "
            "holder's inbox" + _shortfall(run, flags),
            err=True,
        )
    if stream.error is not None:
        raise stream.error
    if run.error is not None:
        raise run.error
    if run.refused or run.unsent:
        raise typer.Exit(int(ExitStatus.PARTIAL))


# E-mails per request of `sealdog score`: a request costs a few ms next to ~10 ms of
# encrypted scoring per e-mail, and small batches spread a run over every replica and
# scoring process (256, the server's cap, left two replicas idle in turn).
SCORE_BATCH = 64


class _MailStream:
    """The e-mails of a `score` run as they are read: each non-mail input is warned about
    once and remembered (`flags`); a source that fails mid-run ends the stream and is kept
    (`error`, raised after what was scored is printed)."""

    def __init__(self, items: Iterator[MailItem]) -> None:
        self._items = items
        self.flags: dict[str, str] = {}
        self.error: MailError | None = None
        self.read = 0
        self.on_end: Callable[[int], None] | None = None  # called with the count at the end

    def __iter__(self) -> Iterator[Email]:
        from sealdog.client.http import Email

        try:
            for item in self._items:
                flag = _not_mail_flags([item]).get(item.name)
                if flag is not None:
                    self.flags[item.name] = flag
                    what = "empty" if flag == "empty" else "not an e-mail (binary or no headers)"
                    _warn(
                        f"{item.name} is {what}; it is scored, but its verdict is flagged {flag!r}"
                    )
                self.read += 1
                yield Email(item.raw, item.name)
        except MailError as exc:
            self.error = exc
            return
        if self.on_end is not None:
            self.on_end(self.read)


async def _score_stream(
    stream: _MailStream,
    model: str,
    *,
    url: str,
    token: str | None,
    timeout: float,
    concurrency: int,
    max_email_bytes: int,
    delivery: Literal["direct", "inbox"],
    on_error: OnError,
    progress: Callable[[int], None],
) -> ScoreRun:
    """`sealdog score`'s run: windows of two rounds of `concurrency` batches (by count and
    bytes), at most two windows held, `concurrency` batches in flight."""
    from sealdog.client.http import AsyncSealdogClient
    from sealdog.client.http.batching import cut_windows
    from sealdog.client.http.client import DEFAULT_MAX_BODY_BYTES

    windows = cut_windows(
        stream,
        size=lambda e: e.wire_size,
        max_count=2 * concurrency * SCORE_BATCH,
        max_bytes=max(2, concurrency) * DEFAULT_MAX_BODY_BYTES,
    )
    async with AsyncSealdogClient(
        url,
        token,
        timeout=timeout,
        concurrency=concurrency,
        batch_size=SCORE_BATCH,
        max_email_bytes=max_email_bytes,
    ) as client:
        return await client.score_stream(
            model, windows, delivery=delivery, progress=progress, on_error=on_error
        )


def _shortfall(run: ScoreRun, flags: dict[str, str]) -> str:
    """The summary's tail: what was not scored, and what was flagged."""
    parts = []
    if run.refused:
        parts.append(f"{count(len(run.refused), 'e-mail')} refused (listed above)")
    if run.unsent:
        parts.append(f"{count(run.unsent, 'e-mail')} not sent")
    if flags:
        parts.append(f"{count(len(flags), 'input')} flagged as not e-mail")
    return "; " + "; ".join(parts) if parts else ""


@handles_errors
def verdicts(
    model: str | None = typer.Option(None, "--model", "-m", help="Model id (its inbox)."),
    secret_key: Path = SecretKeyOption,
    from_archive: Path | None = typer.Option(
        None,
        "--from",
        help="Instead of an inbox: decrypt a verdict archive written by `sealdog bulk score`.",
    ),
    after: str | None = typer.Option(
        None, "--after", help="Start after this cursor (default: the cursor file's, else 0)."
    ),
    cursor_file: Path | None = typer.Option(
        None,
        "--cursor-file",
        help="Read the start cursor from, and save the next one to, this file.",
    ),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
    fmt: OutputFormat = FormatOption,
    as_json: bool = JsonOption,
) -> None:
    """Collect and decrypt the verdict inbox of a model, after a cursor.

    The next cursor is printed on stderr (and saved with --cursor-file, after the verdicts
    are printed), so repeated runs never show a verdict twice. With --from, the verdicts of
    a bulk run's archive instead (offline, no server).
    """
    from sealdog.client.decryption import decrypt_inbox
    from sealdog.fileio import atomic_write_text

    fmt = _output_format(fmt, as_json)
    if from_archive is not None:
        if model is not None:
            raise SealdogError("Give --model (an inbox) or --from (an archive), not both.")
        _archive_verdicts(from_archive, secret_key, fmt)
        return
    if model is None:
        raise SealdogError("Missing option --model (or --from ARCHIVE).")
    sk = _secret_key(secret_key)
    start = after
    if start is None and cursor_file is not None and cursor_file.exists():
        start = cursor_file.read_text().strip() or "0"
    start = start or "0"
    with _client(url, token, timeout) as client:
        info = client.get_model(model)
        require_same_key(
            info.key_fingerprint,
            sk.public_key.fingerprint,
            what=f"Model {model}",
            key=secret_key,
            consequence="its verdicts would not decrypt",
        )
        entries = list(client.iter_inbox(model, after=start))
    results = decrypt_inbox(sk, entries)
    columns = ["message", "verdict", "cursor"] + (
        ["flag"] if any(v.truncated for v in results) else []
    )
    _emit_rows(_verdict_rows(results), columns, fmt, f"inbox of model {model}")
    next_cursor = entries[-1].cursor if entries else start
    if cursor_file is not None:
        atomic_write_text(cursor_file, next_cursor + "\n")
    spam = sum(v.positive for v in results)
    typer.echo(
        f"{count(len(results), 'verdict')} ({spam:,} spam) in "
        f"{count(len(entries), 'entry', 'entries')}; "
        f"next cursor {next_cursor}",
        err=True,
    )


def _archive_verdicts(folder: Path, secret_key: Path, fmt: OutputFormat) -> None:
    """`verdicts --from`: every message of a bulk run's archive, scored or set aside."""
    from sealdog.bulk.archive import ArchiveManifest, read_rows, stored_ids
    from sealdog.client.decryption import decrypt_archive

    manifest = ArchiveManifest.read(folder)
    sk = _secret_key(secret_key)
    require_same_key(
        manifest.key_fingerprint,
        sk.public_key.fingerprint,
        what=f"The archive {folder}",
        key=secret_key,
        consequence="its verdicts would not decrypt",
    )
    with Progress("decrypting verdicts", total=stored_ids(folder)) as progress:
        results, set_aside = decrypt_archive(sk, read_rows(folder), progress=progress.advance)
    rows = _verdict_rows(results)
    rows += [{"message": i, "verdict": "none", "flag": why} for i, why in set_aside.items()]
    columns = ["message", "verdict"] + (["flag"] if any("flag" in r for r in rows) else [])
    _emit_rows(rows, columns, fmt, f"verdicts in {folder}")
    spam = sum(v.positive for v in results)
    typer.echo(
        f"{count(len(results), 'verdict')} ({spam:,} spam) of model "
        f"{manifest.model_digest[:16]}...; {count(len(set_aside), 'e-mail')} set aside",
        err=True,
    )


# --- audit ------------------------------------------------------------------------------


@handles_errors
def export_openings(
    sealed_model: Path = typer.Argument(..., help="The sealed-model file to open for an auditor."),
    secret_key: Path = SecretKeyOption,
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Openings file to write (give it to the auditor with the plaintext model).",
    ),
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
    with Progress("opening ciphertexts") as progress:
        openings = recover_openings(sk, model, workers=workers or None, progress=progress.update)
    write_openings(out, openings, sk.public_key.bits)
    typer.echo(
        f"wrote {out}: openings of {count(len(openings.values), 'ciphertext')} of model "
        f"{model.digest[:16]}...",
        err=True,
    )


@handles_errors
def audit(
    sealed_model: Path = typer.Argument(..., help="The sealed-model file (as deployed)."),
    plain_model: Path = typer.Option(
        None, "--model", help="The plaintext model it should match (from `sealdog train`)."
    ),
    mailbox: str | None = typer.Option(
        None,
        "--mailbox",
        help="The mailbox the model was sealed for (`sealdog seal --mailbox`); default: none.",
    ),
    secret_key: Path = typer.Option(
        None, "--secret-key", "-k", help="Key holder mode: decrypt the sealed model."
    ),
    openings: Path = typer.Option(
        None, "--openings", help="Auditor mode: verify every ciphertext from these openings."
    ),
    ham: list[Path] | None = typer.Option(
        None,
        "--ham",
        metavar="PATH",
        help=("Your held-out ham to evaluate on (folder, Maildir, mbox, archive; repeatable)."),
    ),
    spam: list[Path] | None = typer.Option(
        None, "--spam", metavar="PATH", help="Your held-out spam to evaluate on (repeatable)."
    ),
    labels: Path | None = typer.Option(
        None, "--labels", help="CSV of path,label rows to evaluate on (mixed folders)."
    ),
    terms: Path | None = typer.Option(
        None,
        "--terms",
        help="Term map naming hashing buckets (default: MODEL.terms.json next to --model).",
    ),
    data: Path = typer.Option(
        None, "--data", help="Labelled data set to evaluate on (Enron-Spam folder)."
    ),
    folders: str = typer.Option(
        None,
        "--folders",
        help=(
            "Enron folders to evaluate on, e.g. enron2,enron3 (default: the 40 bundled "
            "samples if neither --ham/--spam nor --data is given)."
        ),
    ),
    limit: int = typer.Option(0, "--limit", help="Evaluate on at most N e-mails (0 = all)."),
    report: Path = typer.Option(
        Path("sealdog-audit.html"), "--report", help="HTML report to write."
    ),
    top: int = typer.Option(20, "--top", help="Terms to show per class."),
    method: AuditMethod = typer.Option(
        AuditMethod.auto,
        "--method",
        help=(
            "Auditor check: exact (one ciphertext at a time), batched (2^-128-sound, fast) or auto "
            "(exact up to 5,000 ciphertexts)."
        ),
    ),
    workers: int = typer.Option(0, "--workers", help="Processes (0 = all cores)."),
    attest: bool = typer.Option(
        False,
        "--attest",
        help="After the checks pass, also check the bounds (--max-weight, score bound, "
        "featuriser) and sign an attestation with --auditor-key.",
    ),
    auditor_key: Path | None = typer.Option(
        None, "--auditor-key", help="Auditor private key (from `sealdog auditor-keygen`)."
    ),
    max_weight: float | None = typer.Option(
        None,
        "--max-weight",
        help="The per-weight bound to certify: every |weight| must be at most this.",
    ),
    featuriser: Path | None = typer.Option(
        None,
        "--featuriser",
        help="The declared featuriser spec (JSON, or a plaintext model file) to check against.",
    ),
    attestation_out: Path | None = typer.Option(
        None,
        "--attestation-out",
        help="Attestation file to write (default: SEALED_MODEL.attestation.json).",
    ),
) -> None:
    """Audit a sealed model against its plaintext model; write an HTML report.

    Key holder (--secret-key): check every ciphertext decrypts to the plaintext model (or
    decrypt every weight), show the most spam- and ham-indicative terms (named by the
    training term map), evaluate on labelled data (your held-out mail with --ham/--spam).
    Auditor (--openings, no secret key): re-encrypt the plaintext model with the openings
    and compare the sealed model ciphertext by ciphertext. Exit status 6 when a check fails.
    With --attest (and --auditor-key, --max-weight, --model): check every weight against the
    bound, the declared score bound against the weights, the featuriser spec, and sign an
    attestation for `sealdog deploy --attestation`; nothing is signed if a check fails.
    """
    from sealdog.client import audit as audit_mod

    if (secret_key is None) == (openings is None):
        raise typer.BadParameter(
            "give exactly one of --secret-key (key holder) or --openings (auditor)"
        )
    signing_key = None
    declared = None
    if attest:
        from sealdog.attestation import read_private_key
        from sealdog.client.attestation import read_featuriser_spec

        if auditor_key is None or max_weight is None or plain_model is None:
            raise typer.BadParameter("--attest needs --auditor-key, --max-weight and --model")
        signing_key = read_private_key(auditor_key)  # refuse a bad key before the work
        declared = read_featuriser_spec(featuriser) if featuriser is not None else None
    with Progress("checking ciphertexts") as progress:
        result = audit_mod.run_audit(
            sealed_path=sealed_model,
            plain_path=plain_model,
            secret_key=_secret_key(secret_key) if secret_key else None,
            openings_path=openings,
            data=data,
            folders=folders.split(",") if folders else None,
            limit=limit or None,
            top=top,
            workers=workers or None,
            method=method.value,
            progress=progress.update,
            mail=(
                audit_mod.MailSet(ham or (), spam or (), labels, workers or None)
                if ham or spam or labels
                else None
            ),
            terms_path=terms,
            mailbox=mailbox,
        )
    if signing_key is not None and result.passed:
        assert max_weight is not None and plain_model is not None
        _attest(
            result,
            sealed_model,
            plain_model,
            signing_key,
            max_weight,
            declared,
            attestation_out,
            mailbox,
        )
    audit_mod.write_report(report, result)
    audit_mod.print_summary(result)
    typer.echo(f"report: {report}", err=True)
    if not result.passed:
        from sealdog.client.errors import AuditError

        raise AuditError(result.failure or "audit failed")


def _attest(
    result: Any,
    sealed_model: Path,
    plain_model: Path,
    key: Any,
    max_weight: float,
    declared: dict[str, Any] | None,
    out: Path | None,
    mailbox: str | None = None,
) -> None:
    """The bound checks, then (if they pass) the signed attestation; recorded on `result`."""
    from sealdog.client.attestation import attest, check_bounds, write_attestation
    from sealdog.sealed_model import SealedModel
    from sealdog.trainer.model import LinearModel

    model = SealedModel.read(sealed_model)
    plain = LinearModel.load(plain_model).for_named_mailbox(mailbox)
    bounds = check_bounds(model, plain, max_weight=max_weight, declared_featuriser=declared)
    result.bound_checks = bounds.checked
    if not bounds.passed:
        result.passed = False
        result.failure = "refusing to attest: " + "; ".join(bounds.failures)
        return
    attestation = attest(model, bounds, key, ciphertext_check=result.check)
    path = out or sealed_model.with_name(sealed_model.name + ".attestation.json")
    write_attestation(path, attestation)
    result.attestation = attestation.to_json()
    typer.echo(f"attestation: {path} (auditor {attestation.statement.auditor})", err=True)


@handles_errors
def auditor_keygen(
    out: Path = typer.Option(
        Path("auditor.key"), "--out", "-o", help="Private key file to write (0600)."
    ),
) -> None:
    """Make an auditor's Ed25519 key pair: OUT (private, 0600) and OUT.pub (public, base64).

    Give the .pub line to server operators: SEALDOG_TRUSTED_AUDITORS accepts the file's
    path or its text."""
    from sealdog.attestation import (
        auditor_id,
        generate_auditor_key,
        public_key_b64,
        write_keypair,
    )

    key = generate_auditor_key()
    public_path = write_keypair(key, out)
    typer.echo(f"private key {out} (mode 0600)\npublic key  {public_path}", err=True)
    typer.echo(f"auditor {auditor_id(key.public_key())}", err=True)
    typer.echo(public_key_b64(key.public_key()))


# --- demo -------------------------------------------------------------------------------


@handles_errors
def demo(
    ctx: typer.Context,
    as_json: bool = typer.Option(False, "--json", help="End with one JSON line of results."),
    limit: int = typer.Option(0, "--limit", help="Score only N held-out e-mails (0 = all)."),
    data: Path = typer.Option(
        None,
        "--data",
        help="Enron-Spam folder (default: ../shared/datasets/enron-spam, $SEALDOG_DATA).",
    ),
    bits: int = typer.Option(
        3072, "--bits", help="Paillier key size (3072 default; 2048 is the secure floor)."
    ),
    workers: int = typer.Option(
        0, "--workers", help="Processes for parsing and the server's scoring (0 = all cores)."
    ),
    delivery: Delivery = typer.Option(
        Delivery.inbox, "--delivery", help="inbox (verdicts collected from the inbox) or direct."
    ),
) -> None:
    """The spam demo, end to end on this machine.

    Keygen, train on Enron-Spam (or the built-in sample), seal, start a server on
    127.0.0.1, deploy, score the held-out e-mails over HTTP, decrypt, report.
    """
    if ctx.invoked_subcommand is not None:
        return
    from sealdog.client.demo import DemoOptions, run_spam_demo

    result = run_spam_demo(
        DemoOptions(
            data=data,
            limit=limit or None,
            bits=bits,
            workers=workers or None,
            delivery=delivery.value,
        )
    )
    if as_json:
        typer.echo(json.dumps(result.to_json()))
