"""Commands of sealdog.data: `sealdog data fetch` and `sealdog data info`."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from sealdog.cli_errors import handles_errors

data_app = typer.Typer(
    name="data",
    help="The Enron-Spam corpus: download and verify it, or show where Sealdog finds it.",
    no_args_is_help=True,
    rich_markup_mode=None,
)


@data_app.command("fetch")
@handles_errors
def fetch(
    dest: Path = typer.Option(Path("data/enron-spam"), "--dest", help="Folder to download into."),
    folders: str = typer.Option(
        "enron1,enron2,enron3,enron4,enron5,enron6", help="Comma-separated enronN list."
    ),
    base_url: str = typer.Option(
        None, "--base-url", help="Mirror to download from (default: the official site)."
    ),
) -> None:
    """Download the Enron-Spam archives and verify each by its published SHA-256."""
    from rich.progress import DownloadColumn, Progress, TransferSpeedColumn

    from sealdog.data.fetch import BASE_URL, fetch_enron

    chosen = [f.strip() for f in folders.split(",") if f.strip()]
    with Progress(*Progress.get_default_columns(), DownloadColumn(), TransferSpeedColumn()) as bar:
        task = bar.add_task("downloading", total=None)
        paths = fetch_enron(
            dest, chosen, base_url=base_url or BASE_URL, progress=lambda n: bar.advance(task, n)
        )
    for path in paths:
        typer.echo(f"verified {path}")
    typer.echo(f"use it with --data {dest} or SEALDOG_DATA={dest}")


@data_app.command("info")
@handles_errors
def info(
    data: Path = typer.Option(
        None, "--data", help="Corpus folder (default: SEALDOG_DATA, then the usual places)."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print one JSON object."),
) -> None:
    """Show where the Enron-Spam corpus is and how many e-mails each folder holds."""
    from sealdog.data.enron import available_folders, count_labels, load_folder, locate_enron

    root = locate_enron(data)
    counts = {f: count_labels(load_folder(root, f)) for f in available_folders(root)}
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "root": str(root),
                    "folders": {f: {"ham": h, "spam": s} for f, (h, s) in counts.items()},
                }
            )
        )
        return
    typer.echo(f"Enron-Spam at {root}")
    for folder, (ham, spam) in counts.items():
        typer.echo(f"  {folder}: {ham:5d} ham  {spam:5d} spam")


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(data_app, name="data")
