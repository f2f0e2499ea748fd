"""Recurrent networks learning parity (PyTorch, CPU): models, training loops, evaluation.

Three settings, after the OpenAI warm-up and the Keras running-parity example:

- ``end_fixed50``: strings of length 50, the parity given only after the last bit;
- ``end_random1_50``: strings of random length 1..50, the parity only at each string's end;
- ``running50``: strings of length 50, the parity of the prefix as a target at every step.

All three use the same small LSTM, optimiser and batch size, so the only difference is the
supervision. Variable lengths are handled by masking: the LSTM is causal, so its output at
step ``length - 1`` of a zero-padded string is exactly its output on the unpadded string;
we gather that step (end-only targets) or mask the loss past the end (running targets).

This module imports torch; import it only when an experiment actually runs.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch import nn

from sealdog.experiments.parity_data import (
    BitStrings,
    fixed_length_strings,
    random_length_strings,
    strings_of_each_length,
)
from sealdog.experiments.report import CurvePoint, SettingResult

MAX_LENGTH = 50

LogFn = Callable[[str], None]


@dataclass(frozen=True)
class Setting:
    """One supervision regime: which strings are drawn and where the targets are."""

    name: str
    targets: str  # "end" (parity after the last bit) or "running" (prefix parity each step)
    random_lengths: bool  # lengths uniform in 1..MAX_LENGTH, else all MAX_LENGTH
    description: str
    max_length: int = MAX_LENGTH

    def is_solved(self, accuracy_by_length: np.ndarray) -> bool:
        """Early-stopping rule: 100% on every length this setting is trained on.

        The fixed-length end-only setting only ever sees its full length; the other two
        see every length 1..max_length (running targets supervise every prefix).
        """
        if self.targets == "end" and not self.random_lengths:
            return float(accuracy_by_length[self.max_length - 1]) == 1.0
        return float(accuracy_by_length.min()) == 1.0


SETTINGS: dict[str, Setting] = {
    s.name: s
    for s in (
        Setting("end_fixed50", "end", False, "end-only target, every string of length 50"),
        Setting("end_random1_50", "end", True, "end-only target, lengths uniform in 1..50"),
        Setting("running50", "running", False, "running parity target at every step, length 50"),
    )
}


@dataclass(frozen=True)
class TrainConfig:
    """Budget and hyper-parameters shared by all settings (fixed before any run)."""

    train_strings: int = 100_000
    hidden_size: int = 16
    batch_size: int = 256
    learning_rate: float = 1e-2
    max_epochs: int = 30
    max_seconds: float = 180.0  # per setting, checked after every batch
    eval_every_batches: int = 50
    dense_eval_every_batches: int = 10  # finer learning curves early on ...
    dense_eval_until_batch: int = 1000  # ... up to this batch
    validation_per_length: int = 100  # early-stopping set: this many strings of each length
    test_per_length: int = 200  # final held-out set: this many strings of each length
    grad_clip: float = 1.0

    @classmethod
    def quick(cls) -> TrainConfig:
        """A smoke-test budget: the whole three-setting run in well under a minute."""
        return cls(
            train_strings=20_000,
            max_epochs=8,
            max_seconds=10.0,
            eval_every_batches=20,
            dense_eval_every_batches=20,
            validation_per_length=10,
            test_per_length=40,
        )


class ParityLSTM(nn.Module):
    """A one-layer LSTM reading one bit per step, a linear read-out of the parity logit."""

    def __init__(self, hidden_size: int = 16) -> None:
        super().__init__()
        self.lstm = nn.LSTM(input_size=1, hidden_size=hidden_size, batch_first=True)
        self.readout = nn.Linear(hidden_size, 1)

    def forward(self, bits: torch.Tensor) -> torch.Tensor:
        """(batch, steps) bits in {0, 1} -> (batch, steps) logits of the prefix parity."""
        inputs = (2.0 * bits.float() - 1.0).unsqueeze(-1)  # centre: -1 / +1
        states, _ = self.lstm(inputs)
        return self.readout(states).squeeze(-1)


def make_training_set(setting: Setting, rng: np.random.Generator, count: int) -> BitStrings:
    """The training strings of a setting (the references use 100,000)."""
    if setting.random_lengths:
        return random_length_strings(rng, count, setting.max_length)
    return fixed_length_strings(rng, count, setting.max_length)


def loss_on_batch(
    model: ParityLSTM, setting: Setting, bits: torch.Tensor, lengths: torch.Tensor
) -> torch.Tensor:
    """Binary cross-entropy on the setting's targets (end only, or every step in range)."""
    logits = model(bits)
    running = torch.cumsum(bits, dim=1) % 2
    if setting.targets == "running":
        mask = torch.arange(bits.shape[1])[None, :] < lengths[:, None]
        losses = nn.functional.binary_cross_entropy_with_logits(
            logits, running.float(), reduction="none"
        )
        return (losses * mask).sum() / mask.sum()
    last = (lengths - 1)[:, None]
    end_logits = logits.gather(1, last).squeeze(1)
    end_targets = running.gather(1, last).squeeze(1).float()
    return nn.functional.binary_cross_entropy_with_logits(end_logits, end_targets)


@torch.no_grad()
def predict_end_parity(
    model: ParityLSTM, strings: BitStrings, batch_size: int = 4096
) -> np.ndarray:
    """The model's parity verdict after each string's last bit (0/1 per string)."""
    model.eval()
    out = np.empty(len(strings), dtype=np.uint8)
    for start in range(0, len(strings), batch_size):
        bits = torch.from_numpy(strings.bits[start : start + batch_size].astype(np.int64))
        last = torch.from_numpy(strings.lengths[start : start + batch_size] - 1)[:, None]
        logits = model(bits).gather(1, last).squeeze(1)
        out[start : start + batch_size] = (logits > 0).numpy().astype(np.uint8)
    model.train()
    return out


def accuracy_by_length(model: ParityLSTM, strings: BitStrings) -> np.ndarray:
    """Fraction of correct end-of-string verdicts for each length 1..max_length."""
    correct = predict_end_parity(model, strings) == strings.end_parity()
    hits = np.bincount(strings.lengths - 1, weights=correct, minlength=strings.max_length)
    counts = np.bincount(strings.lengths - 1, minlength=strings.max_length)
    return hits / np.maximum(counts, 1)


def train_setting(
    setting: Setting, config: TrainConfig, seed: int, *, log: LogFn | None = None
) -> SettingResult:
    """Train one setting from scratch until validation hits 100%, or the epoch/time cap."""
    rng = np.random.default_rng([seed, zlib.crc32(setting.name.encode())])
    torch.manual_seed(int(rng.integers(2**31)))
    train = make_training_set(setting, rng, config.train_strings)
    validation = strings_of_each_length(rng, config.validation_per_length, setting.max_length)
    test = strings_of_each_length(rng, config.test_per_length, setting.max_length)

    model = ParityLSTM(config.hidden_size)
    optimiser = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    all_bits = torch.from_numpy(train.bits.astype(np.int64))
    all_lengths = torch.from_numpy(train.lengths)

    curve: list[CurvePoint] = []
    seen = batches = 0
    loss_sum, loss_count = 0.0, 0
    stopped = "epochs"
    started = time.perf_counter()
    for _epoch in range(config.max_epochs):
        order = torch.randperm(len(train))
        for start in range(0, len(train), config.batch_size):
            index = order[start : start + config.batch_size]
            loss = loss_on_batch(model, setting, all_bits[index], all_lengths[index])
            optimiser.zero_grad()
            loss.backward()
            nn.utils.clip_grad_norm_(model.parameters(), config.grad_clip)
            optimiser.step()
            seen += len(index)
            batches += 1
            loss_sum, loss_count = loss_sum + loss.item(), loss_count + 1
            out_of_time = time.perf_counter() - started >= config.max_seconds
            every = (
                config.dense_eval_every_batches
                if batches <= config.dense_eval_until_batch
                else config.eval_every_batches
            )
            if batches % every and not out_of_time:
                continue
            by_length = accuracy_by_length(model, validation)
            point = CurvePoint(
                strings_seen=seen,
                seconds=time.perf_counter() - started,
                train_loss=loss_sum / loss_count,
                val_accuracy=float(by_length.mean()),
                val_accuracy_length50=float(by_length[-1]),
                val_accuracy_by_length=[round(float(a), 4) for a in by_length],
            )
            curve.append(point)
            loss_sum, loss_count = 0.0, 0
            if log is not None:
                log(
                    f"  {setting.name}: {seen:>9,} strings, {point.seconds:6.1f} s, "
                    f"loss {point.train_loss:.4f}, held-out acc {point.val_accuracy:.4f} "
                    f"(len 50: {point.val_accuracy_length50:.4f})"
                )
            if setting.is_solved(by_length):
                stopped = "solved"
                break
            if out_of_time:
                stopped = "time"
                break
        if stopped != "epochs":
            break
    seconds = time.perf_counter() - started

    by_length = accuracy_by_length(model, test)
    return SettingResult(
        setting=setting.name,
        description=setting.description,
        train_strings=len(train),
        epochs=round(seen / len(train), 2),
        seconds=seconds,
        stopped=stopped,
        accuracy=float(by_length.mean()),
        accuracy_length50=float(by_length[-1]),
        accuracy_by_length=[float(a) for a in by_length],
        curve=curve,
    )


def run_parity_experiments(
    config: TrainConfig, seed: int = 0, threads: int = 2, *, log: LogFn | None = None
) -> list[SettingResult]:
    """Train all three settings in turn on `threads` CPU threads."""
    torch.set_num_threads(threads)
    results = []
    for setting in SETTINGS.values():
        if log is not None:
            log(f"training {setting.name}: {setting.description}")
        results.append(train_setting(setting, config, seed, log=log))
    return results
