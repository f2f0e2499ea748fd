"""CPU seconds of process trees, read from /proc (Linux), for the benchmarks' per-group
CPU accounting: what a phase cost each group of processes, whatever else ran on the box.

`tree_cpu(pid)` is user + system time of a process and every live descendant (children
reaped during the window are counted by their parent's cutime/cstime, so a tree's total
only drops if a process dies unreaped, e.g. SIGKILLed, which the benchmarks avoid inside a
measured phase). `CpuMeter` snapshots named groups before and after a phase.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path

TICK = os.sysconf("SC_CLK_TCK")
Table = dict[int, tuple[int, float, float]]


def _stat(pid: int) -> tuple[int, float, float] | None:
    """(ppid, own cpu seconds, reaped children's cpu seconds), None if gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # after "pid (comm) "
    ppid = int(fields[1])
    utime, stime, cutime, cstime = (int(v) for v in fields[11:15])
    return ppid, (utime + stime) / TICK, (cutime + cstime) / TICK


def _cmdline(pid: int) -> str:
    try:
        return (
            Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        )
    except OSError:
        return ""


def process_table() -> dict[int, tuple[int, float, float]]:
    table: dict[int, tuple[int, float, float]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            st = _stat(int(entry))
            if st is not None:
                table[int(entry)] = st
    return table


def descendants(root: int, table: dict[int, tuple[int, float, float]]) -> list[int]:
    """`root` and every live process under it."""
    children: dict[int, list[int]] = {}
    for pid, (ppid, _, _) in table.items():
        children.setdefault(ppid, []).append(pid)
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        if pid in table:
            out.append(pid)
            todo.extend(children.get(pid, ()))
    return out


def tree_cpu(
    roots: Iterable[int],
    table: dict[int, tuple[int, float, float]] | None = None,
    keep: Callable[[str], bool] | None = None,
) -> float:
    """CPU seconds (own + reaped children) of the trees under `roots`; with `keep`, only
    processes whose command line it accepts."""
    table = process_table() if table is None else table
    total = 0.0
    for root in roots:
        for pid in descendants(root, table):
            if keep is None or keep(_cmdline(pid)):
                _, own, reaped = table[pid]
                total += own + reaped
    return total


def is_scoring(cmdline: str) -> bool:
    return "sealdog.server.scoring_worker" in cmdline


class CpuMeter:
    """`meter = CpuMeter({"group": lambda table: seconds, ...}); meter.start(); ...;
    meter.stop()` -> CPU seconds each group spent in between."""

    def __init__(self, groups: dict[str, Callable[[dict[int, tuple[int, float, float]]], float]]):
        self.groups = groups
        self._before: dict[str, float] = {}

    def _read(self) -> dict[str, float]:
        table = process_table()
        return {name: read(table) for name, read in self.groups.items()}

    def start(self) -> None:
        self._before = self._read()

    def stop(self) -> dict[str, float]:
        after = self._read()
        return {name: after[name] - self._before[name] for name in self.groups}
