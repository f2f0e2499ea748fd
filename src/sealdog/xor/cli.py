"""Commands of sealdog.xor: `sealdog demo xor`, added to the root's `demo` group."""

from __future__ import annotations

from enum import StrEnum

import typer

from sealdog.cli_errors import handles_errors


class Preset(StrEnum):
    """The VHE parameter presets (`sealdog.crypto.vhe.params.PRESETS`)."""

    demo = "demo"
    large = "large"
    test = "test"


@handles_errors
def xor_demo_command(
    preset: Preset = typer.Option(
        Preset.demo,
        help=(
            "VHE preset: demo (fast), large, or test (unit tests: too shallow for many iterations)."
        ),
    ),
    seed: int = typer.Option(32, help="Seed of the initial weights."),
    iterations: int = typer.Option(
        10, help="Encrypted gradient steps (bounded by the preset's depth)."
    ),
    json_output: bool = typer.Option(False, "--json", help="End with one JSON line."),
) -> None:
    """Train an XOR network whose weights stay encrypted the whole time (research/demo grade)."""
    from sealdog.xor.demo import run_xor_demo

    run_xor_demo(json_output=json_output, preset=preset.value, seed=seed, iterations=iterations)


def register_demo(demo_app: typer.Typer) -> None:
    """Add `sealdog demo xor` to the root's `demo` group."""
    demo_app.command("xor")(xor_demo_command)
