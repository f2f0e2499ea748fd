"""The parity experiment's report: a Markdown table, a learning-curve plot and JSON.

`SettingResult` (what one training run produced) lives here, as plain data, so the
report imports neither torch nor the training code. Files are written atomically into one
output folder.
"""

from __future__ import annotations

import io
import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from sealdog.fileio import atomic_write_bytes, atomic_write_text

JSON_NAME = "parity.json"
TABLE_NAME = "parity_report.md"
PLOT_NAME = "parity_curves.png"


@dataclass
class CurvePoint:
    """One evaluation point of a learning curve."""

    strings_seen: int
    seconds: float
    train_loss: float
    val_accuracy: float  # held-out strings of every length 1..50, equal counts
    val_accuracy_length50: float
    val_accuracy_by_length: list[float] = field(default_factory=list)  # index i -> length i + 1


@dataclass
class SettingResult:
    """Outcome of training one setting, plain data ready for the report."""

    setting: str
    description: str
    train_strings: int
    epochs: float
    seconds: float
    stopped: str  # "solved" (validation 100% on its trained lengths), "epochs" or "time"
    accuracy: float  # test strings of every length 1..50
    accuracy_length50: float
    accuracy_by_length: list[float]  # index i -> length i + 1
    curve: list[CurvePoint] = field(default_factory=list)

    @property
    def min_accuracy_by_length(self) -> float:
        return min(self.accuracy_by_length)


def summary_json(
    results: Iterable[SettingResult],
    encrypted: Mapping[str, Any],
    *,
    run: Mapping[str, Any] | None = None,
    with_curves: bool = False,
) -> dict[str, Any]:
    """The report as one JSON-ready dict: `{"experiment", "settings", "encrypted", "run"}`.

    Accuracies are fractions in [0, 1] on held-out strings, equal numbers of each length
    1..50; `min_accuracy_by_length` is the worst single length.
    """
    settings: dict[str, Any] = {}
    for r in results:
        entry: dict[str, Any] = {
            "accuracy": round(r.accuracy, 6),
            "accuracy_length50": round(r.accuracy_length50, 6),
            "min_accuracy_by_length": round(r.min_accuracy_by_length, 6),
            "worst_length": 1 + r.accuracy_by_length.index(r.min_accuracy_by_length),
            "seconds": round(r.seconds, 2),
            "epochs": r.epochs,
            "train_strings": r.train_strings,
            "stopped": r.stopped,
            "accuracy_by_length": [round(a, 4) for a in r.accuracy_by_length],
        }
        if with_curves:
            entry["curve"] = [asdict(p) for p in r.curve]
        settings[r.setting] = entry
    report: dict[str, Any] = {
        "experiment": "parity",
        "settings": settings,
        "encrypted": dict(encrypted),
    }
    if run:
        report["run"] = dict(run)
    return report


def markdown_table(results: Iterable[SettingResult]) -> str:
    """One row per setting: held-out accuracy overall, at length 50, worst length; time."""
    lines = [
        "| setting | train strings | epochs | wall s | stop | acc len 1-50 | acc len 50 | worst "
        "length (acc) |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for r in results:
        worst = 1 + r.accuracy_by_length.index(r.min_accuracy_by_length)
        lines.append(
            f"| {r.setting} | {r.train_strings:,} | {r.epochs:g} | {r.seconds:.1f} | {r.stopped} "
            f"| {100 * r.accuracy:.2f}% | {100 * r.accuracy_length50:.2f}% "
            f"| {worst} ({100 * r.min_accuracy_by_length:.2f}%) |"
        )
    return "\n".join(lines)


def encrypted_summary_lines(encrypted: Mapping[str, Any]) -> list[str]:
    """Human-readable lines for the encrypted-cell part (or why it did not run)."""
    if encrypted.get("status") == "not available":
        reason = encrypted.get("reason", "")
        return [
            f"encrypted recurrent cell: not available ({reason})"
            if reason
            else "encrypted recurrent cell: not available"
        ]
    if encrypted.get("status") == "skipped":
        return ["encrypted recurrent cell: skipped (--no-encrypted)"]
    params = encrypted.get("params", {})
    noise = encrypted.get("noise_by_step", {})
    tracked = noise.get("tracked_bound_bits") or [0.0]
    measured = noise.get("measured_max_abs") or [0]
    lines = [
        f"encrypted recurrent cell: {encrypted.get('correct')}/{encrypted.get('strings')} strings "
        f"of length {encrypted.get('length')} decrypted to the right parity "
        f"(params {params.get('name')}: k={params.get('lwe_dim')}, log q={params.get('log_q')}, "
        f"log w={params.get('log_w')}; est. security {params.get('security_bits_est')} bits; "
        f"{encrypted.get('seconds', 0):.1f} s, {encrypted.get('ms_per_step', 0):.2f} ms per step)",
        f"  noise after 1/{len(tracked)} steps: tracked bound 2^{tracked[0]:.1f} -> "
        f"2^{tracked[-1]:.1f}, "
        f"measured max |e| {measured[0]} -> {measured[-1]}; decryption needs < "
        f"2^{noise.get('decrypt_limit_bits')}",
    ]
    for preset, entry in (encrypted.get("presets") or {}).items():
        lines.append(
            f"  preset {preset}: longest string that decrypts correctly: {entry.get('max_length')} "
            f"({entry.get('limit')})"
        )
    return lines


def learning_curve_png(results: Iterable[SettingResult]) -> bytes:
    """Held-out accuracy and training loss against strings seen, one line per setting."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    results = list(results)
    figure = Figure(figsize=(16, 4.4), layout="constrained")
    acc_ax, loss_ax, map_ax = figure.subplots(1, 3)
    for r in results:
        seen = [p.strings_seen for p in r.curve]
        (line,) = acc_ax.plot(
            seen, [p.val_accuracy for p in r.curve], label=f"{r.setting} (len 1-50)"
        )
        acc_ax.plot(
            seen,
            [p.val_accuracy_length50 for p in r.curve],
            linestyle=":",
            color=line.get_color(),
            alpha=0.5,
            label=f"{r.setting} (len 50)",
        )
        loss_ax.plot(seen, [p.train_loss for p in r.curve], label=r.setting)
    acc_ax.set_xscale("log")
    loss_ax.set_xscale("log")
    loss_ax.axhline(math.log(2), color="grey", linewidth=0.8, linestyle="--", label="chance (ln 2)")
    acc_ax.set_xlabel("training strings seen")
    acc_ax.set_ylabel("held-out accuracy")
    acc_ax.set_ylim(0.3, 1.02)
    acc_ax.axhline(0.5, color="grey", linewidth=0.8)
    acc_ax.legend(fontsize=7)
    acc_ax.set_title("parity: held-out accuracy")
    loss_ax.set_xlabel("training strings seen")
    loss_ax.set_ylabel("training loss (BCE, mean since last point)")
    loss_ax.set_yscale("log")
    loss_ax.legend(fontsize=8)
    loss_ax.set_title("parity: training loss")
    _length_heatmap(map_ax, results)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=110)
    return buffer.getvalue()


def _length_heatmap(ax: Any, results: list[SettingResult]) -> None:
    """Held-out accuracy per string length over training, for the random-length setting.

    It shows the curriculum at work: short strings are solved first, then long ones.
    """
    chosen = next(
        (r for r in results if r.setting == "end_random1_50"), results[0] if results else None
    )
    points = [p for p in chosen.curve if p.val_accuracy_by_length] if chosen else []
    if chosen is None or not points:
        ax.set_axis_off()
        return
    grid = [p.val_accuracy_by_length for p in points]
    image = ax.imshow(
        list(map(list, zip(*grid))),
        aspect="auto",
        origin="lower",
        vmin=0.3,
        vmax=1.0,
        cmap="viridis",
        extent=(0.5, len(points) + 0.5, 0.5, len(grid[0]) + 0.5),
    )
    ax.set_xlabel("evaluation point (training strings seen, in order)")
    ax.set_ylabel("string length")
    ax.set_title(f"{chosen.setting}: held-out accuracy by length")
    ticks = range(1, len(points) + 1, max(1, len(points) // 6))
    ax.set_xticks(list(ticks), [f"{points[i - 1].strings_seen // 1000}k" for i in ticks])
    ax.figure.colorbar(image, ax=ax, label="accuracy")


def write_report(
    out_dir: str | Path,
    results: list[SettingResult],
    encrypted: Mapping[str, Any],
    run: Mapping[str, Any] | None = None,
) -> dict[str, Path]:
    """Write JSON (with curves), the Markdown table and the plot into `out_dir`."""
    out = Path(out_dir)
    paths = {"json": out / JSON_NAME, "table": out / TABLE_NAME, "plot": out / PLOT_NAME}
    full = summary_json(results, encrypted, run=run, with_curves=True)
    png = learning_curve_png(results)
    text = "\n".join(
        [
            "# Parity with recurrent networks",
            "",
            markdown_table(results),
            "",
            *encrypted_summary_lines(encrypted),
            "",
            f"![learning curves]({PLOT_NAME})",
            "",
            "Why the settings differ: see docs/parity.md in the Sealdog repository.",
            "",
        ]
    )
    atomic_write_text(paths["json"], json.dumps(full, indent=1) + "\n")
    atomic_write_bytes(paths["plot"], png)
    atomic_write_text(paths["table"], text)
    return paths
