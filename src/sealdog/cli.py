"""The `sealdog` command line: one root Typer app, each package registers its commands.

Every package owns its commands in its own `cli.py` module (`register(app)`), so the
root stays a table of contents and no package imports another's heavy dependencies
just to show `--help`.
"""

from __future__ import annotations

import typer

from sealdog import __version__

app = typer.Typer(
    name="sealdog",
    help="Sealdog: privacy-preserving inference for encrypted models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sealdog {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_version, is_eager=True, help="Print the version and exit."
    ),
) -> None:
    """Sealdog: privacy-preserving inference for encrypted models."""


def _register_all() -> None:
    from sealdog.client import cli as client_cli
    from sealdog.data import cli as data_cli
    from sealdog.experiments import cli as experiments_cli
    from sealdog.server import cli as server_cli
    from sealdog.trainer import cli as trainer_cli
    from sealdog.xor import cli as xor_cli

    for module in (client_cli, trainer_cli, data_cli, server_cli, experiments_cli, xor_cli):
        module.register(app)


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
