"""Commands of sealdog.xor: `sealdog demo xor`, added to the root's `demo` group."""

from __future__ import annotations

from enum import StrEnum

import typer

from sealdog.cli_errors import handles_errors
from sealdog.errors import SealdogError


class Scheme(StrEnum):
    """Which backend trains the network."""

    ckks = "ckks"
    vhe = "vhe"


class Preset(StrEnum):
    """The VHE parameter presets (`sealdog.crypto.vhe.params.PRESETS`)."""

    demo = "demo"
    large = "large"
    test = "test"


class CkksPreset(StrEnum):
    """The CKKS parameter presets (`sealdog.crypto.ckks.params.PRESETS`)."""

    standard = "standard"
    wide = "wide"


@handles_errors
def xor_demo_command(
    scheme: Scheme = typer.Option(
        Scheme.ckks,
        help=(
            "ckks: 128-bit CKKS (TenSEAL), random seed, masked refreshes with the key holder. "
            "vhe: the integer-vector research backend (NOT confidential), fixed seed."
        ),
    ),
    ckks_preset: CkksPreset = typer.Option(
        CkksPreset.standard,
        help="ckks: standard (N=8192, fast) or wide (N=16384, more precise, slower).",
    ),
    preset: Preset | None = typer.Option(
        None,
        help="vhe: demo (default, fast), large, or test (too shallow for many iterations).",
    ),
    seed: int | None = typer.Option(
        None, help="Seed of the initial weights (ckks: random and printed; vhe: 32)."
    ),
    iterations: int | None = typer.Option(
        None,
        min=1,
        help="ckks: iteration cap over all restarts (default 400); vhe: gradient steps "
        "(default 10, bounded by the preset's depth).",
    ),
    json_output: bool = typer.Option(False, "--json", help="End with one JSON line."),
) -> None:
    """Train an XOR network whose weights stay encrypted the whole time."""
    if scheme is Scheme.ckks:
        if preset is not None:
            raise SealdogError(
                f"--preset {preset.value} is a VHE preset: add --scheme vhe, or choose a CKKS "
                "preset with --ckks-preset standard|wide"
            )
        from sealdog.xor.demo import run_ckks_xor_demo

        run_ckks_xor_demo(
            json_output=json_output,
            preset=ckks_preset.value,
            seed=seed,
            max_iterations=iterations,
        )
        return
    from sealdog.xor.demo import run_xor_demo
    from sealdog.xor.plaintext import TrainingConfig

    run_xor_demo(
        json_output=json_output,
        preset=(preset or Preset.demo).value,
        seed=TrainingConfig.seed if seed is None else seed,
        iterations=TrainingConfig.iterations if iterations is None else iterations,
    )


def register_demo(demo_app: typer.Typer) -> None:
    """Add `sealdog demo xor` to the root's `demo` group."""
    demo_app.command("xor")(xor_demo_command)
