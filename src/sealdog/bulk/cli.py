"""`sealdog bulk score`: a mail archive scored on Ray into a resumable verdict archive.

Run by whoever holds the archive (no secret key needed: the sealed model and its public
key are enough); the key holder decrypts the result offline with
`sealdog verdicts --from OUT -k KEY`.
"""

from __future__ import annotations

from pathlib import Path

import typer

from sealdog.bulk.reading import DEFAULT_BLOCK_MESSAGES
from sealdog.cli_errors import ExitStatus, handles_errors
from sealdog.client.cli import TimeoutOption, TokenOption, UrlOption, require_same_key
from sealdog.errors import SealdogError
from sealdog.mail.message import DEFAULT_MAX_EMAIL_BYTES
from sealdog.progress import Progress, count

bulk_app = typer.Typer(
    help="Score whole mail archives on Ray (optional extra: sealdog[ray]).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


def register(app: typer.Typer) -> None:
    """Add the `bulk` group to the root app."""
    app.add_typer(bulk_app, name="bulk")


def _model_bytes(
    model_id: str | None, sealed: Path | None, url: str, token: str | None, timeout: float
) -> bytes:
    if (model_id is None) == (sealed is None):
        raise SealdogError("Give exactly one of --model-id (from the server) and --sealed FILE.")
    if sealed is not None:
        try:
            return sealed.read_bytes()
        except OSError as exc:
            raise SealdogError(f"Cannot read sealed model {sealed}: {exc.strerror}.") from None
    from sealdog.client.http import SealdogClient

    if not token:
        raise SealdogError("No API token: pass --token or set SEALDOG_TOKEN to download the model.")
    with SealdogClient(url, token, timeout=timeout) as client:
        assert model_id is not None
        return client.download_model(model_id).to_bytes()


@bulk_app.command("score")
@handles_errors
def score(
    paths: list[str] = typer.Argument(
        ..., help="Mail to score: folders, Maildirs, mbox files, .tar.gz/.zip archives."
    ),
    out: Path = typer.Option(
        ...,
        "--out",
        "-o",
        help="Verdict archive folder to write (or resume), e.g. verdicts.parquet.",
    ),
    model_id: str | None = typer.Option(
        None, "--model-id", "-m", help="Download this model from the server."
    ),
    sealed: Path | None = typer.Option(None, "--sealed", help="Or: a sealed-model file."),
    public_key: Path | None = typer.Option(
        None,
        "--public-key",
        "-p",
        help="Check that the model is sealed for this public key (the one you decrypt with).",
    ),
    address: str | None = typer.Option(
        None, "--address", help="Ray cluster: auto or ray://host:port (default: start Ray here)."
    ),
    cpus: int | None = typer.Option(
        None, "--cpus", min=1, help="Scoring workers when Ray starts here (default: all cores)."
    ),
    block: int = typer.Option(
        DEFAULT_BLOCK_MESSAGES, "--block", min=1, max=65536, help="Messages per work unit."
    ),
    max_email_bytes: int = typer.Option(
        DEFAULT_MAX_EMAIL_BYTES, "--max-email-bytes", min=1, help="Larger messages are set aside."
    ),
    flush_seconds: float = typer.Option(
        10.0, "--flush-every", min=0.0, help="Seconds between parts written to OUT."
    ),
    insecure: bool = typer.Option(
        False, "--insecure", help="Accept keys under 2048 bits (tests and demos only)."
    ),
    url: str = UrlOption,
    token: str = TokenOption,
    timeout: float = TimeoutOption,
) -> None:
    """Score every message under PATHS with a sealed model, on Ray, into a verdict archive.

    Verdicts are packed, blinded, re-randomised ciphertexts (the server's own scoring code),
    written to OUT as Parquet parts with a stable id per message (source, index,
    Message-ID). Interrupted runs keep what they scored; running again skips it.
    """
    from sealdog.bulk.archive import ArchiveError  # needs pyarrow: imported when used
    from sealdog.bulk.job import BulkOptions, run_bulk

    data = _model_bytes(model_id, sealed, url, token, timeout)
    if public_key is not None:
        from sealdog.client.keyfiles import open_public_key
        from sealdog.sealed_model import SealedModel

        require_same_key(
            SealedModel.from_bytes(data).key_fingerprint,
            open_public_key(public_key).fingerprint,
            what="The model",
            key=public_key,
            consequence="its verdicts would not decrypt with your key",
        )
    options = BulkOptions(
        tuple(paths),
        out,
        address=address,
        num_cpus=cpus,
        block_messages=block,
        max_email_bytes=max_email_bytes,
        insecure=insecure,
        flush_seconds=flush_seconds,
    )
    try:
        with Progress("scoring mail on Ray") as progress:
            summary = run_bulk(data, options, progress=progress.advance)
    except ArchiveError as exc:
        raise SealdogError(str(exc)) from None
    reasons = ", ".join(f"{n:,} {r}" for r, n in sorted(summary.skip_reasons.items()))
    typer.echo(
        f"{count(summary.scored, 'e-mail')} scored in {summary.seconds:.1f} s "
        f"({summary.emails_per_second:,.1f} e-mails/s on {count(summary.workers, 'worker')}); "
        f"{count(summary.already_done, 'e-mail')} already in {out}; "
        f"{count(summary.skipped, 'e-mail')} set aside{' (' + reasons + ')' if reasons else ''}",
        err=True,
    )
    if summary.skipped:  # every other message was scored and kept: exit 7, like `score`
        raise typer.Exit(code=int(ExitStatus.PARTIAL))
