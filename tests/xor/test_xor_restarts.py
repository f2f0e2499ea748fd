"""The restart policy of `sealdog.xor.momentum` (fresh initial weights on divergence or after
`restart_after` steps) in the plaintext trainer, and the same decisions in the encrypted one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from sealdog.xor.momentum import (
    Action,
    MomentumConfig,
    Outcome,
    RunProgress,
    final_outcome,
    next_action,
    train_momentum,
)

CONFIG = MomentumConfig(seed=0, max_iterations=10, restart_after=4, max_restarts=2)


@pytest.mark.parametrize(
    ("outcome", "progress", "action"),
    [
        (Outcome.converged, RunProgress(0, 0, 0), Action.stop),
        (Outcome.running, RunProgress(3, 3, 0), Action.step),
        (Outcome.running, RunProgress(4, 4, 0), Action.restart),  # stalled
        (Outcome.diverged, RunProgress(1, 1, 0), Action.restart),
        (Outcome.diverged, RunProgress(1, 1, 2), Action.stop),  # no restart left
        (Outcome.running, RunProgress(9, 4, 2), Action.stop),
        (Outcome.running, RunProgress(10, 2, 1), Action.stop),  # the cap over all attempts
        (Outcome.diverged, RunProgress(10, 2, 1), Action.stop),
    ],
)
def test_next_action(outcome: Outcome, progress: RunProgress, action: Action) -> None:
    assert next_action(outcome, progress, CONFIG) is action


def test_final_outcome_of_a_run_stopped_while_running_is_exhausted() -> None:
    assert final_outcome(Outcome.running) is Outcome.exhausted
    assert final_outcome(Outcome.diverged) is Outcome.diverged
    assert final_outcome(Outcome.converged) is Outcome.converged


def test_attempts_draw_distinct_repeatable_weights_from_sub_seeds() -> None:
    config = MomentumConfig(seed=5)
    first, again, second = config.initial_net(0), config.initial_net(0), config.initial_net(1)
    np.testing.assert_array_equal(first.w1, again.w1)
    assert not np.allclose(first.w1, second.w1)
    rng = np.random.default_rng([5, 1])  # the documented sub-seed
    np.testing.assert_array_equal(second.w1, rng.normal(0, config.init_scale, (2, 3)))
    np.testing.assert_array_equal(second.w2, rng.normal(0, config.init_scale, 3))
    with pytest.raises(ValueError):
        config.initial_net(-1)


def test_a_diverged_start_restarts_and_then_converges() -> None:
    # seed 8's first initialisation diverges after one step (measured; pinned here)
    config = MomentumConfig(seed=8)
    assert train_momentum(replace(config, max_restarts=0)).outcome is Outcome.diverged
    result = train_momentum(config)
    assert result.outcome is Outcome.converged and result.restarts == 1
    assert all(abs(p - t) < 0.1 for p, t in zip(result.predictions, [0, 1, 1, 0], strict=True))


def test_a_stalled_attempt_restarts_and_the_cap_counts_all_attempts() -> None:
    config = MomentumConfig(seed=0, max_iterations=7, restart_after=3)
    result = train_momentum(config)
    assert result.outcome is Outcome.exhausted
    assert (result.iterations, result.restarts) == (7, 2)  # 3 + 3 + 1 steps


def test_restarts_reach_every_seed_of_a_sample() -> None:
    """The default policy converges on 100 consecutive seeds (bench/xor_restarts.py runs
    1,000); the old one (scale 2, no restarts) fails some of the same seeds."""
    results = [train_momentum(MomentumConfig(seed=s)) for s in range(100)]
    assert all(r.outcome is Outcome.converged for r in results)
    assert any(r.restarts for r in results)
    old = MomentumConfig(init_scale=2.0, max_iterations=300, max_restarts=0)
    assert not all(
        train_momentum(replace(old, seed=s)).outcome is Outcome.converged for s in range(100)
    )


def test_bad_caps_are_refused() -> None:
    with pytest.raises(ValueError):
        MomentumConfig(restart_after=0)
    with pytest.raises(ValueError):
        MomentumConfig(max_iterations=-1)
