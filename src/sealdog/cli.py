"""The `sealdog` command line: one root Typer app, each package registers its commands.

Every package owns its commands in its own `cli.py` module (`register(app)`), so the
root stays a table of contents and no package imports another's heavy dependencies
just to show `--help`. The root owns the groups that several packages add to: `demo`
(a package with a demo adds it with `register_demo(demo_app)`).

Every command follows one error contract (`sealdog.cli_errors`: typed errors -> one red
line and a documented exit status) and shows its help without Rich markup, so text in
square brackets (`[env SEALDOG_PORT]`) stays visible.
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
    rich_markup_mode=None,
)

demo_app = typer.Typer(
    help="End-to-end demos. Without a sub-command: the spam demo (keys, training, sealing, "
    "a local server, encrypted scoring, decryption, accuracy).",
    invoke_without_command=True,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"sealdog {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        callback=_version,
        is_eager=True,
        help="Print the version and exit.",
    ),
) -> None:
    """Sealdog: privacy-preserving inference for encrypted models."""


def _register_all() -> None:
    from sealdog.bulk import cli as bulk_cli
    from sealdog.client import cli as client_cli
    from sealdog.data import cli as data_cli
    from sealdog.experiments import cli as experiments_cli
    from sealdog.server import cli as server_cli
    from sealdog.trainer import cli as trainer_cli
    from sealdog.xor import cli as xor_cli

    modules = (client_cli, trainer_cli, data_cli, server_cli, experiments_cli, xor_cli, bulk_cli)
    for module in modules:
        module.register(app)
    for demo_module in (client_cli, xor_cli):
        demo_module.register_demo(demo_app)
    app.add_typer(demo_app, name="demo")


_register_all()


def main() -> None:
    app()


if __name__ == "__main__":  # pragma: no cover
    main()
