"""Commands of sealdog.experiments: `sealdog experiments parity`.

PyTorch is an optional extra (`pip install 'sealdog[parity]'`); it is imported only
inside the command, so `sealdog --help` and every other command run without it.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable
from pathlib import Path

import typer

from sealdog.cli_errors import handles_errors
from sealdog.errors import SealdogError

experiments_app = typer.Typer(
    name="experiments",
    help="Research experiments (recurrent parity networks; needs the optional PyTorch extra).",
    no_args_is_help=True,
    rich_markup_mode=None,
)


class TorchMissingError(SealdogError):
    """The parity experiments need PyTorch, which is an optional extra."""


def _require_torch() -> None:
    if importlib.util.find_spec("torch") is None:
        raise TorchMissingError(
            "the parity experiments need PyTorch (CPU build is enough): "
            "pip install 'sealdog[parity]'  (or: pip install torch)"
        )


@experiments_app.command("parity")
@handles_errors
def parity_command(
    json_out: bool = typer.Option(False, "--json", help="End with one JSON line (the summary)."),
    out: Path = typer.Option(
        Path("parity-report"), "--out", help="Folder for parity.json, the table and the plot."
    ),
    quick: bool = typer.Option(False, "--quick", help="Small data and budget (under a minute)."),
    seed: int = typer.Option(0, "--seed", min=0, help="Seed for data and weights."),
    threads: int = typer.Option(
        1,
        "--threads",
        min=1,
        help=(
            "torch.set_num_threads(N); 1 is fastest for these tiny LSTMs, and robust to a busy "
            "machine."
        ),
    ),
    encrypted: bool = typer.Option(
        True, "--encrypted/--no-encrypted", help="Also run parity on the encrypted recurrent cell."
    ),
    encrypted_strings: int | None = typer.Option(
        None,
        "--encrypted-strings",
        min=1,
        help="Strings for the encrypted cell (default 1000; 10 with --quick).",
    ),
) -> None:
    """Train LSTMs on parity (end-only fixed 50, end-only random 1-50, running 50) and report."""
    from sealdog.experiments.report import encrypted_summary_lines, markdown_table, summary_json

    _require_torch()
    from sealdog.experiments.encrypted_parity import run_encrypted_parity
    from sealdog.experiments.parity import TrainConfig, run_parity_experiments
    from sealdog.experiments.report import write_report

    config = TrainConfig.quick() if quick else TrainConfig()

    def to_stderr(line: str) -> None:
        typer.echo(line, err=True)

    log: Callable[[str], None] = to_stderr if json_out else typer.echo
    results = run_parity_experiments(config, seed=seed, threads=threads, log=log)
    if encrypted:
        log("encrypted recurrent cell (integer-vector scheme) ...")
        sealed = run_encrypted_parity(
            strings=encrypted_strings or (10 if quick else 1000),
            length=50,
            seed=seed,
            presets=["test"] if quick else None,
            log=log,
        )
    else:
        sealed = {"status": "skipped"}
    run = {"quick": quick, "seed": seed, "threads": threads}
    paths = write_report(out, results, sealed, run=run)

    human: Callable[[str], None] = to_stderr if json_out else typer.echo
    human("")
    human(markdown_table(results))
    for line in encrypted_summary_lines(sealed):
        human(line)
    human(f"report: {paths['table']}  plot: {paths['plot']}  json: {paths['json']}")
    if json_out:
        typer.echo(json.dumps(summary_json(results, sealed, run=run)))


def register(app: typer.Typer) -> None:
    """Add `sealdog experiments ...` to the root app."""
    app.add_typer(experiments_app, name="experiments")
