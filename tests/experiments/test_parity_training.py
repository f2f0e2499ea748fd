"""The LSTM, its masking and a tiny training run (needs the optional torch extra)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

torch = pytest.importorskip("torch", reason="PyTorch not installed: pip install 'sealdog[parity]'")

from sealdog.experiments.parity import (  # noqa: E402
    SETTINGS,
    ParityLSTM,
    Setting,
    TrainConfig,
    accuracy_by_length,
    loss_on_batch,
    train_setting,
)
from sealdog.experiments.parity_data import strings_of_each_length  # noqa: E402


def test_forward_shapes() -> None:
    model = ParityLSTM(hidden_size=8)
    bits = torch.randint(0, 2, (5, 17))
    assert model(bits).shape == (5, 17)


def test_padding_does_not_change_the_output_at_the_string_end() -> None:
    torch.manual_seed(0)
    model = ParityLSTM(hidden_size=8)
    short = torch.tensor([[1, 0, 1, 1]])
    padded = torch.tensor([[1, 0, 1, 1, 0, 0, 0]])
    assert torch.allclose(model(short)[0, 3], model(padded)[0, 3])


def test_end_loss_uses_only_the_last_real_step() -> None:
    """Changing padding positions' targets must not change an end-only loss."""
    torch.manual_seed(0)
    model = ParityLSTM(hidden_size=4)
    setting = SETTINGS["end_random1_50"]
    lengths = torch.tensor([3, 5])
    bits = torch.tensor([[1, 1, 0, 0, 0], [1, 0, 1, 1, 1]])
    expected_targets = torch.tensor([0.0, 0.0])  # XOR(1,1,0)=0, XOR(1,0,1,1,1)=0
    logits = model(bits).detach()
    end_logits = torch.stack([logits[0, 2], logits[1, 4]])
    expected = torch.nn.functional.binary_cross_entropy_with_logits(end_logits, expected_targets)
    assert torch.allclose(loss_on_batch(model, setting, bits, lengths), expected)


def test_running_loss_masks_steps_past_the_end() -> None:
    torch.manual_seed(0)
    model = ParityLSTM(hidden_size=4)
    setting = SETTINGS["running50"]
    bits = torch.tensor([[1, 0, 1, 0]])
    full = loss_on_batch(model, setting, bits, torch.tensor([4]))
    half = loss_on_batch(model, setting, bits[:, :2], torch.tensor([2]))
    masked = loss_on_batch(model, setting, bits, torch.tensor([2]))
    assert torch.allclose(half, masked)
    assert not torch.allclose(full, masked)


def test_accuracy_by_length_is_per_length() -> None:
    model = ParityLSTM(hidden_size=4)
    grid = strings_of_each_length(np.random.default_rng(0), 4, 6)
    acc = accuracy_by_length(model, grid)
    assert acc.shape == (6,)
    assert ((acc >= 0) & (acc <= 1)).all()
    assert set((acc * 4).round(6).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}


def test_tiny_run_learns_running_parity() -> None:
    """Running parity on strings of length 10 is learnt in seconds; the model must get it."""
    torch.set_num_threads(1)
    setting = Setting("running10", "running", False, "running parity, length 10", max_length=10)
    config = dataclasses.replace(
        TrainConfig.quick(),
        train_strings=4000,
        batch_size=64,
        max_epochs=10,
        max_seconds=40.0,
        eval_every_batches=20,
        validation_per_length=50,
        test_per_length=100,
    )
    result = train_setting(setting, config, seed=0)
    assert len(result.accuracy_by_length) == 10
    assert result.stopped == "solved", result.curve
    assert result.min_accuracy_by_length >= 0.99, result.accuracy_by_length
    assert result.curve[0].val_accuracy < 0.9  # it starts at chance, so it did learn
