"""The report's JSON shape, table and files (no torch needed)."""

from __future__ import annotations

import json
import stat

from sealdog.experiments.report import (
    CurvePoint,
    SettingResult,
    encrypted_summary_lines,
    markdown_table,
    summary_json,
    write_report,
)

NOT_AVAILABLE = {"status": "not available", "reason": "sealdog.crypto.vhe lacks encrypt"}


def _result(name: str, by_length: list[float]) -> SettingResult:
    return SettingResult(
        setting=name,
        description=f"{name} description",
        train_strings=1000,
        epochs=2.5,
        seconds=3.25,
        stopped="epochs",
        accuracy=sum(by_length) / len(by_length),
        accuracy_length50=by_length[-1],
        accuracy_by_length=by_length,
        curve=[
            CurvePoint(
                strings_seen=256,
                seconds=0.1,
                train_loss=0.69,
                val_accuracy=0.5,
                val_accuracy_length50=0.5,
            ),
            CurvePoint(
                strings_seen=512,
                seconds=0.2,
                train_loss=0.1,
                val_accuracy=0.9,
                val_accuracy_length50=0.8,
                val_accuracy_by_length=by_length,
            ),
        ],
    )


def _results() -> list[SettingResult]:
    return [
        _result("end_fixed50", [0.5] * 49 + [0.52]),
        _result("end_random1_50", [1.0] * 20 + [0.97] + [1.0] * 29),
        _result("running50", [1.0] * 50),
    ]


def test_summary_json_shape() -> None:
    report = summary_json(_results(), NOT_AVAILABLE, run={"quick": True, "seed": 0, "threads": 2})
    json.loads(json.dumps(report))  # serialisable
    assert report["experiment"] == "parity"
    assert set(report["settings"]) == {"end_fixed50", "end_random1_50", "running50"}
    random = report["settings"]["end_random1_50"]
    assert random["min_accuracy_by_length"] == 0.97
    assert random["worst_length"] == 21
    assert random["accuracy"] == round((49 + 0.97) / 50, 6)
    assert len(random["accuracy_by_length"]) == 50
    assert report["settings"]["end_fixed50"]["accuracy_length50"] == 0.52
    assert "curve" not in random
    assert report["encrypted"] == NOT_AVAILABLE
    with_curves = summary_json(_results(), NOT_AVAILABLE, with_curves=True)
    assert with_curves["settings"]["running50"]["curve"][1]["val_accuracy"] == 0.9


def test_markdown_table_has_one_row_per_setting() -> None:
    table = markdown_table(_results()).splitlines()
    assert len(table) == 2 + 3
    assert (
        "| end_random1_50 | 1,000 | 2.5 | 3.2 | epochs | 99.94% | 100.00% | 21 (97.00%) |" in table
    )


def test_encrypted_lines_say_not_available() -> None:
    (line,) = encrypted_summary_lines(NOT_AVAILABLE)
    assert "not available" in line and "lacks encrypt" in line
    done = {
        "status": "ok",
        "strings": 1000,
        "correct": 998,
        "length": 50,
        "seconds": 1.5,
        "ms_per_step": 3.7,
        "params": {
            "name": "demo",
            "lwe_dim": 4,
            "log_q": 1260,
            "log_w": 20,
            "security_bits_est": 0.58,
        },
        "noise_by_step": {
            "tracked_bound_bits": [3.5, 12.0],
            "measured_max_abs": [4, 85],
            "decrypt_limit_bits": 19,
        },
        "max_length_by_preset": {"demo": 60},
        "presets": {"demo": {"max_length": 60, "limit": "step 61: modulus chain exhausted"}},
    }
    lines = encrypted_summary_lines(done)
    assert "998/1000 strings of length 50" in lines[0] and "k=4, log q=1260" in lines[0]
    assert "2^3.5 -> 2^12.0" in lines[1] and "4 -> 85" in lines[1] and "< 2^19" in lines[1]
    assert lines[2] == (
        "  preset demo: longest string that decrypts correctly: 60 "
        "(step 61: modulus chain exhausted)"
    )


def test_write_report_writes_json_table_and_png(tmp_path) -> None:
    paths = write_report(tmp_path / "out", _results(), NOT_AVAILABLE, run={"seed": 1})
    data = json.loads(paths["json"].read_text())
    assert data["run"] == {"seed": 1}
    assert len(data["settings"]["end_fixed50"]["curve"]) == 2
    assert paths["plot"].read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    text = paths["table"].read_text()
    assert "| running50 |" in text and "not available" in text
    assert not stat.S_IMODE(paths["json"].stat().st_mode) & 0o022
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == sorted(
        p.name for p in paths.values()
    )  # no temp files left behind
