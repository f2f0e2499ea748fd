"""`LocalServer(cpus=...)` pins the whole server tree to those cores (the scale-out bench
gives each replica one core): the supervisor, and the scoring processes it starts later,
inherit the affinity; without `cpus` nothing is pinned."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sealdog.client.local_server import LocalServer


def _tree(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            ppid = int(stat[stat.rindex(")") + 2 :].split()[1])
            children.setdefault(ppid, []).append(int(entry))
    out, todo = [], [root]
    while todo:
        pid = todo.pop()
        out.append(pid)
        todo.extend(children.get(pid, ()))
    return out


@pytest.mark.skipif(not hasattr(os, "sched_getaffinity"), reason="Linux only")
def test_cpus_pins_the_server_and_its_scoring_processes(tmp_path: Path) -> None:
    allowed = sorted(os.sched_getaffinity(0))
    core = allowed[-1]
    with LocalServer(
        tmp_path / "srv", insecure_demo=True, scoring_processes=1, cpus=frozenset({core})
    ) as srv:
        assert srv.pid is not None
        tree = _tree(srv.pid)
        scoring = [p for p in tree if b"scoring_worker" in Path(f"/proc/{p}/cmdline").read_bytes()]
        assert scoring  # the scoring processes were started by the pinned server
        for pid in tree:
            assert os.sched_getaffinity(pid) == {core}
    with LocalServer(tmp_path / "free", insecure_demo=True) as srv:
        assert srv.pid is not None
        assert os.sched_getaffinity(srv.pid) == set(allowed)
