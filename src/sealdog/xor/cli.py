"""Commands of sealdog.xor: `sealdog demo xor`, hooked onto the client's `demo` group."""

from __future__ import annotations

import typer

from sealdog.errors import SealdogError


def xor_demo_command(
    preset: str = typer.Option("demo", help="VHE preset: demo (fast) or large."),
    seed: int = typer.Option(32, help="Seed of the initial weights."),
    iterations: int = typer.Option(10, help="Encrypted gradient steps (bounded by the preset's depth)."),
    json_output: bool = typer.Option(False, "--json", help="End with one JSON line."),
) -> None:
    """Train an XOR network whose weights stay encrypted the whole time (research/demo grade)."""
    from sealdog.xor.demo import run_xor_demo

    try:
        run_xor_demo(json_output=json_output, preset=preset, seed=seed, iterations=iterations)
    except SealdogError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from None


def register(app: typer.Typer) -> None:
    """Add `sealdog demo xor` to the `demo` group (the spam demo is the group's own callback)."""
    from sealdog.client.cli import demo_app

    demo_app.command("xor")(xor_demo_command)
