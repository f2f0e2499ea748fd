"""Encrypted XOR training: the data holder's loop, and both roles in one process.

`drive` is the data holder's loop, the one of `sealdog.xor.momentum.train_momentum` on
ciphertexts: judge the predictions (the key holder answers), then stop, restart or step as
`momentum.next_action` says. It only needs a `CkksXorTrainer`, whose transports may be
in-process calls or HTTP requests (`sealdog.xor.ckks.http`).

`train_ckks_xor` builds a key holder (secret key) and a data holder (`CkksXorTrainer`, no
secret key) and wires the trainer's transports straight to the key holder's byte methods,
then hands the final weights to the key holder.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sealdog.crypto.ckks.params import CkksParams
from sealdog.xor.ckks.keyholder import XorKeyHolder
from sealdog.xor.ckks.training import CkksXorTrainer
from sealdog.xor.momentum import (
    Action,
    MomentumConfig,
    Outcome,
    RunProgress,
    final_outcome,
    next_action,
)
from sealdog.xor.plaintext import XorNet


@dataclass(frozen=True)
class Judged:
    """What the data holder knows after an iteration was judged (no decrypted value)."""

    iteration: int  # steps taken so far, all attempts
    outcome: Outcome
    seconds: float
    refreshes: int
    restarts: int


@dataclass(frozen=True)
class DriveResult:
    outcome: Outcome
    iterations: int
    refreshes: int
    restarts: int
    seconds: float


def drive(
    trainer: CkksXorTrainer,
    config: MomentumConfig,
    *,
    on_judged: Callable[[Judged], None] | None = None,
) -> DriveResult:
    """The data holder's training loop (module doc); the final weights stay with the
    trainer (`trainer.final_weights()`) for the caller to hand over."""
    start = time.perf_counter()
    progress = RunProgress()
    while True:
        decision = trainer.judge()
        if on_judged is not None:
            on_judged(
                Judged(
                    progress.steps,
                    decision,
                    time.perf_counter() - start,
                    trainer.refreshes,
                    progress.restarts,
                )
            )
        action = next_action(decision, progress, config)
        if action is Action.stop:
            break
        if action is Action.restart:
            trainer.restart()
            progress = RunProgress(progress.steps, 0, progress.restarts + 1)
            continue
        trainer.step()
        progress = RunProgress(progress.steps + 1, progress.attempt_steps + 1, progress.restarts)
    return DriveResult(
        final_outcome(decision),
        trainer.steps,
        trainer.refreshes,
        trainer.restarts,
        time.perf_counter() - start,
    )


@dataclass(frozen=True)
class IterationReport:
    """What the key holder sees after judging an iteration (for progress lines)."""

    iteration: int
    predictions: list[float]
    seconds: float
    refreshes: int
    restarts: int = 0
    outcome: Outcome = Outcome.running


@dataclass(frozen=True)
class CkksTrainingResult:
    net: XorNet  # decrypted by the key holder at the end
    keyholder: XorKeyHolder
    outcome: Outcome
    iterations: int
    refreshes: int
    seconds: float
    predictions: list[float]  # the last judged (encrypted, hardened) predictions
    restarts: int = 0


def train_ckks_xor(
    params: CkksParams,
    config: MomentumConfig,
    *,
    on_iteration: Callable[[IterationReport], None] | None = None,
    keyholder: XorKeyHolder | None = None,
) -> CkksTrainingResult:
    """Both roles in this process, exchanging only bytes."""
    start = time.perf_counter()
    keyholder = keyholder or XorKeyHolder.generate(params, config)
    trainer = CkksXorTrainer(
        keyholder.server_bundle(),
        keyholder.initial_state(),
        config,
        refresh=keyholder.refresh,
        judge=keyholder.judge,
        restart=keyholder.restart,
    )

    def report(judged: Judged) -> None:
        if on_iteration is not None:
            on_iteration(
                IterationReport(
                    judged.iteration,
                    list(keyholder.last_predictions),
                    time.perf_counter() - start,
                    judged.refreshes,
                    judged.restarts,
                    judged.outcome,
                )
            )

    result = drive(trainer, config, on_judged=report)
    net = keyholder.receive_final(trainer.final_weights())
    return CkksTrainingResult(
        net=net,
        keyholder=keyholder,
        outcome=result.outcome,
        iterations=result.iterations,
        refreshes=result.refreshes,
        seconds=time.perf_counter() - start,
        predictions=list(keyholder.last_predictions),
        restarts=result.restarts,
    )
