"""`sealdog demo xor`: encrypted training of the XOR network with a progress bar."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console

from sealdog.crypto.vhe.params import preset as get_preset
from sealdog.progress import Progress
from sealdog.xor.encrypted import ciphertext_tag, train_encrypted
from sealdog.xor.plaintext import INPUTS, TARGETS, TrainingConfig

WARNING = (
    "Research/demo grade: the integer-vector scheme runs ciphertext products only at tiny LWE "
    "dimensions, where lattice reduction breaks it."
)

INITIALISATION_NOTE = (
    f"Initial weights: seed {TrainingConfig.seed}, picked because it converges within the "
    f"{TrainingConfig.iterations} iterations the demo preset's modulus chain allows; most random "
    "initialisations need far more iterations than that (docs/xor.md)."
)


def run_xor_demo(
    json_output: bool = False,
    preset: str = "demo",
    seed: int = TrainingConfig.seed,
    iterations: int = TrainingConfig.iterations,
    key_seed: int | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train the XOR net with encrypted weights; print progress and the four predictions."""
    params = get_preset(preset)
    config = TrainingConfig(seed=seed, iterations=iterations)
    console = console or Console(stderr=json_output)
    est = params.security
    console.print(
        f"[bold]Encrypted XOR training[/] preset={params.name} k={params.lwe_dim} log2 "
        f"q={params.log_q}"
    )
    console.print(f"security estimate: {est.label}")
    console.print(WARNING)
    if seed == TrainingConfig.seed and iterations == TrainingConfig.iterations:
        console.print(INITIALISATION_NOTE)
    start = time.perf_counter()
    with Progress("training", total=config.iterations, console=console) as progress:

        def update(it: int, loss_ct: Any, loss: float) -> None:
            progress.describe(
                f"encrypted loss <ct {ciphertext_tag(loss_ct)}> | decrypted loss (demo only) "
                f"{loss:.4f}"
            )
            progress.advance()

        result = train_encrypted(params, config, key_seed=key_seed, on_iteration=update)
    seconds = time.perf_counter() - start
    predictions = [float(p) for p in result.net.predict(INPUTS)]
    for (a, b), target, p in zip(INPUTS.astype(int), TARGETS, predictions):
        console.print(f"  {a} XOR {b} -> {p:+.3f} (target {target:.0f})")
    summary = {
        "demo": "xor",
        "iterations": result.iterations,
        "seconds": round(seconds, 2),
        "predictions": [round(p, 4) for p in predictions],
        "preset": params.name,
    }
    if json_output:
        print(json.dumps(summary))
    return summary
