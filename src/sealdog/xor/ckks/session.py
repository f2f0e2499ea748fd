"""Encrypted XOR training with both roles in one process, exchanging only bytes.

`train_ckks_xor` builds a key holder (secret key) and a data holder (`CkksXorTrainer`, no
secret key) and wires the trainer's two transports straight to the key holder's byte
methods; over a network the same callables would be HTTP requests. It runs the loop of
`sealdog.xor.momentum.train_momentum`: judge the predictions, stop when converged or
diverged, otherwise step; then hands the final weights to the key holder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sealdog.crypto.ckks.params import CkksParams
from sealdog.xor.ckks.keyholder import XorKeyHolder
from sealdog.xor.ckks.training import CkksXorTrainer
from sealdog.xor.momentum import MomentumConfig, Outcome
from sealdog.xor.plaintext import XorNet


@dataclass(frozen=True)
class IterationReport:
    """What the key holder sees after judging an iteration (for progress lines)."""

    iteration: int
    predictions: list[float]
    seconds: float
    refreshes: int


@dataclass(frozen=True)
class CkksTrainingResult:
    net: XorNet  # decrypted by the key holder at the end
    keyholder: XorKeyHolder
    outcome: Outcome
    iterations: int
    refreshes: int
    seconds: float
    predictions: list[float]  # the last judged (encrypted, hardened) predictions


def train_ckks_xor(
    params: CkksParams,
    config: MomentumConfig,
    *,
    on_iteration: Callable[[IterationReport], None] | None = None,
    keyholder: XorKeyHolder | None = None,
) -> CkksTrainingResult:
    start = time.perf_counter()
    keyholder = keyholder or XorKeyHolder.generate(params, config)
    trainer = CkksXorTrainer(
        keyholder.server_bundle(),
        keyholder.initial_state(),
        config,
        refresh=keyholder.refresh,
        judge=keyholder.judge,
    )
    outcome = Outcome.exhausted
    for iteration in range(config.max_iterations + 1):
        decision = trainer.judge()
        if on_iteration is not None:
            on_iteration(
                IterationReport(
                    iteration,
                    list(keyholder.last_predictions),
                    time.perf_counter() - start,
                    trainer.refreshes,
                )
            )
        if decision is not Outcome.running:
            outcome = decision
            break
        if iteration == config.max_iterations:
            break
        trainer.step()
    net = keyholder.receive_final(trainer.final_weights())
    return CkksTrainingResult(
        net=net,
        keyholder=keyholder,
        outcome=outcome,
        iterations=trainer.steps,
        refreshes=trainer.refreshes,
        seconds=time.perf_counter() - start,
        predictions=list(keyholder.last_predictions),
    )
