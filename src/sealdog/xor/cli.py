"""Commands of sealdog.xor: `sealdog demo xor` (added to the root's `demo` group), and
`sealdog xor keyholder serve` / `sealdog xor train`: encrypted training in two processes
over HTTP (`sealdog.xor.ckks.http`)."""

from __future__ import annotations

import json
from enum import StrEnum
from pathlib import Path

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


xor_app = typer.Typer(
    name="xor",
    help="Encrypted XOR training between two processes: the key holder and the data holder.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
keyholder_app = typer.Typer(
    name="keyholder", help="The key holder's side (the secret key).", no_args_is_help=True
)
xor_app.add_typer(keyholder_app, name="keyholder")


@keyholder_app.command("serve")
@handles_errors
def keyholder_serve(
    token_file: Path = typer.Option(
        ...,
        help="Where to write a fresh bearer token (0600) for the data holder; written before "
        "the service listens.",
    ),
    out: Path = typer.Option(
        ..., help="Where to write the trained network's weights (JSON, 0600) at the end."
    ),
    seed: int | None = typer.Option(None, help="Seed of the initial weights (default random)."),
    ckks_preset: CkksPreset = typer.Option(CkksPreset.standard, help="CKKS preset."),
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (loopback by default)."),
    port: int = typer.Option(8765, min=1, max=65535, help="TCP port."),
    json_output: bool = typer.Option(False, "--json", help="End with one JSON line."),
) -> None:
    """Hold the secret key and answer one data holder's training until the final weights."""
    import secrets as secrets_module

    from sealdog.crypto.ckks.params import preset
    from sealdog.fileio import atomic_write_text
    from sealdog.xor.ckks.http import serve_keyholder
    from sealdog.xor.ckks.keyholder import XorKeyHolder
    from sealdog.xor.momentum import MomentumConfig

    seed = secrets_module.randbelow(2**31) if seed is None else seed
    keyholder = XorKeyHolder.generate(preset(ckks_preset.value), MomentumConfig(seed=seed))
    token = secrets_module.token_urlsafe(32)
    atomic_write_text(token_file, token + "\n", mode=0o600)
    typer.echo(f"key holder on http://{host}:{port} (seed {seed}; token in {token_file})", err=True)
    net = serve_keyholder(keyholder, token, host=host, port=port)
    if net is None:
        raise SealdogError("stopped before the data holder handed over the final weights")
    weights = {"w1": net.w1.tolist(), "w2": net.w2.tolist(), "fit_range": net.act.fit_range}
    atomic_write_text(out, json.dumps(weights) + "\n", mode=0o600)
    summary = {
        "role": "keyholder",
        "seed": seed,
        "predictions": [round(float(p), 4) for p in keyholder.last_predictions],
        "refreshes": keyholder.refreshes_answered,
        "restarts": keyholder.restarts_answered,
        "out": str(out),
    }
    typer.echo(f"trained network written to {out}", err=True)
    if json_output:
        typer.echo(json.dumps(summary))


@xor_app.command("train")
@handles_errors
def data_holder_train(
    keyholder: str = typer.Option(..., help="The key holder's URL, e.g. http://127.0.0.1:8765"),
    token_file: Path = typer.Option(..., help="File holding the key holder's bearer token."),
    iterations: int | None = typer.Option(
        None, min=1, help="Iteration cap (default: the key holder's)."
    ),
    json_output: bool = typer.Option(False, "--json", help="End with one JSON line."),
) -> None:
    """The data holder: train on the truth table with encrypted weights (no secret key)."""
    from sealdog.xor.ckks.http import train_over_http
    from sealdog.xor.ckks.session import Judged

    try:
        token = token_file.read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise SealdogError(f"cannot read the token file: {exc.strerror}") from None

    def line(judged: Judged) -> None:
        typer.echo(
            f"iteration {judged.iteration}: {judged.outcome.value} | {judged.seconds:.1f} s | "
            f"{judged.refreshes} refreshes | {judged.restarts} restarts",
            err=True,
        )

    result = train_over_http(keyholder, token, on_judged=line, max_iterations=iterations)
    summary = {
        "role": "data_holder",
        "outcome": result.drive.outcome.value,
        "iterations": result.drive.iterations,
        "refreshes": result.drive.refreshes,
        "restarts": result.drive.restarts,
        "seconds": round(result.drive.seconds, 2),
        "key_fingerprint": result.key_fingerprint,
    }
    if json_output:
        typer.echo(json.dumps(summary))


def register(app: typer.Typer) -> None:
    """Add `sealdog xor ...` to the root app."""
    app.add_typer(xor_app, name="xor")
