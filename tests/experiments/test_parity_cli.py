"""`sealdog experiments parity`: plumbing, the torch-free import and the missing-torch error."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from sealdog.cli import app


def test_importing_the_cli_does_not_import_torch() -> None:
    code = "import sys, sealdog.cli; print('torch' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_help_lists_the_parity_options() -> None:
    result = CliRunner().invoke(app, ["experiments", "parity", "--help"])
    assert result.exit_code == 0
    for option in ("--json", "--out", "--quick", "--seed", "--threads"):
        assert option in result.output


def test_missing_torch_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    import sealdog.experiments.cli as cli

    real = cli.importlib.util.find_spec
    monkeypatch.setattr(
        cli.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "torch" else real(name, *a),
    )
    result = CliRunner().invoke(
        app, ["experiments", "parity", "--quick", "--out", str(tmp_path / "r")]
    )
    assert result.exit_code == 2
    assert "sealdog[parity]" in result.output
    assert not (tmp_path / "r").exists()


def test_quick_json_run_end_to_end(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    pytest.importorskip("torch", reason="PyTorch not installed: pip install 'sealdog[parity]'")
    from sealdog.experiments.parity import TrainConfig

    tiny = dataclasses.replace(
        TrainConfig.quick(),
        train_strings=512,
        max_epochs=1,
        validation_per_length=2,
        test_per_length=2,
    )
    monkeypatch.setattr(TrainConfig, "quick", classmethod(lambda cls: tiny))
    result = CliRunner().invoke(
        app,
        [
            "experiments",
            "parity",
            "--quick",
            "--json",
            "--threads",
            "1",
            "--encrypted-strings",
            "2",
            "--out",
            str(tmp_path),
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["experiment"] == "parity"
    assert set(summary["settings"]) == {"end_fixed50", "end_random1_50", "running50"}
    for entry in summary["settings"].values():
        assert entry["train_strings"] == 512
        assert 0.0 <= entry["accuracy"] <= 1.0
        assert len(entry["accuracy_by_length"]) == 50
    assert "min_accuracy_by_length" in summary["settings"]["end_random1_50"]
    sealed = summary["encrypted"]
    assert sealed["status"] in ("ok", "not available"), sealed
    if sealed["status"] == "ok":
        assert (sealed["strings"], sealed["correct"], sealed["length"]) == (2, 2, 50)
        assert set(sealed["max_length_by_preset"]) == {"test"}
    else:
        assert "not available" in result.output
    assert {p.name for p in tmp_path.iterdir()} >= {
        "parity.json",
        "parity_report.md",
        "parity_curves.png",
    }
