"""`sealdog demo xor`: CKKS by default (random seed, printed), `--scheme vhe` for the research
demo, the JSON line, and clear errors for presets of the other scheme."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

pytest.importorskip("tenseal")

from sealdog.cli import app
from sealdog.cli_errors import ExitStatus

runner = CliRunner()
KEYS = {
    "demo",
    "scheme",
    "security_bits",
    "seed",
    "iterations",
    "refreshes",
    "restarts",
    "seconds",
    "predictions",
}


def _last_json(output: str) -> dict:
    return json.loads(output.strip().splitlines()[-1])


def test_ckks_is_the_default_with_a_random_printed_seed() -> None:
    result = runner.invoke(app, ["demo", "xor", "--iterations", "1", "--json"])
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert set(summary) >= KEYS
    assert (summary["demo"], summary["scheme"], summary["security_bits"]) == ("xor", "ckks", 128)
    assert summary["iterations"] == 1 and summary["refreshes"] == 1
    assert isinstance(summary["restarts"], int) and "restarts" in result.stderr
    assert len(summary["predictions"]) == 4
    assert isinstance(summary["seed"], int)
    assert f"seed {summary['seed']}" in result.stderr
    assert "iteration 1: predictions" in result.stderr  # piped: one line per iteration


def test_a_given_seed_is_used_and_repeatable_in_plaintext_terms() -> None:
    from sealdog.xor.momentum import MomentumConfig, train_momentum

    result = runner.invoke(app, ["demo", "xor", "--seed", "3", "--iterations", "2", "--json"])
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    reference = train_momentum(MomentumConfig(seed=3, max_iterations=2))
    assert summary["seed"] == 3
    # the key holder reads flooded final weights: within the outputs' tolerance
    assert summary["predictions"] == pytest.approx(reference.predictions, abs=2e-2)


def test_presets_of_the_other_scheme_are_clear_errors() -> None:
    result = runner.invoke(app, ["demo", "xor", "--preset", "demo"])
    assert result.exit_code == ExitStatus.BAD_INPUT and "VHE preset" in result.output
    result = runner.invoke(app, ["demo", "xor", "--ckks-preset", "huge"])
    assert result.exit_code == ExitStatus.BAD_INPUT and "Invalid value" in result.output


def test_ckks_preset_choices_are_the_presets() -> None:
    from sealdog.crypto.ckks.params import PRESETS
    from sealdog.xor.cli import CkksPreset

    assert {p.value for p in CkksPreset} == set(PRESETS)


def test_scheme_vhe_keeps_the_research_demo() -> None:
    result = runner.invoke(
        app, ["demo", "xor", "--scheme", "vhe", "--preset", "test", "--iterations", "1", "--json"]
    )
    assert result.exit_code == 0, result.output
    summary = _last_json(result.stdout)
    assert summary["preset"] == "test" and summary["iterations"] == 1
    assert "Research/demo grade" in result.stderr
