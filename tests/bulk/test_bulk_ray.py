"""`sealdog bulk score` on a local Ray, as real processes: every e-mail scored once, exactly
as the plaintext model says; a re-run skips what is done; a run killed with SIGKILL loses
nothing that reached the archive and the next run completes it."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from dataclasses import replace

import pytest

pytest.importorskip("ray", reason="the optional `ray` extra is not installed")

from sealdog.client.demo_model import plaintext_verdicts

pytestmark = pytest.mark.ray

MBOX_SEPARATOR = b"From someone@example.com Mon Jan  1 00:00:00 2024\n"


def _sealdog(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealdog", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        **kw,
    )


def _bulk_args(bulk, out, *extra: str, more=()) -> list[str]:
    paths = [str(p) for p in (*bulk.paths, *more)]
    return ["bulk", "score", *paths, "--sealed", str(bulk.sealed), "-p", str(bulk.public_key),
            "--out", str(out), "--insecure", *extra]  # fmt: skip


def _decrypted(bulk, out) -> tuple[dict[str, str], list[dict]]:
    done = _sealdog("verdicts", "--from", str(out), "-k", str(bulk.secret_key), "--json")
    assert done.returncode == 0, done.stderr
    rows = json.loads(done.stdout)
    scored = [r for r in rows if r["verdict"] != "none"]
    ids = [r["message"] for r in scored]
    assert len(ids) == len(set(ids))
    return {r["message"]: r["verdict"] for r in scored}, [r for r in rows if r not in scored]


def _expected(bulk, ids) -> dict[str, str]:
    names = [i.split(" <")[0] for i in ids]
    flags = plaintext_verdicts(bulk.plain_model, [bulk.raw_by_name[n] for n in names], workers=1)
    return {i: "spam" if f else "ham" for i, f in zip(ids, flags)}


def test_bulk_score_then_decrypt_offline_then_resume(bulk, tmp_path) -> None:
    out = tmp_path / "verdicts.parquet"
    run = _sealdog(*_bulk_args(bulk, out, "--cpus", "2", "--block", "16"))
    assert run.returncode == 7, run.stderr  # the non-mail file was set aside, all else scored
    assert "210 e-mails scored" in run.stderr and "1 e-mail set aside (1 not-email)" in run.stderr
    verdicts, set_aside = _decrypted(bulk, out)
    assert len(verdicts) == 210
    assert verdicts == _expected(bulk, list(verdicts))
    assert [r["message"] for r in set_aside] == [f"{bulk.paths[0]}/junk.bin"]

    again = _sealdog(*_bulk_args(bulk, out, "--cpus", "1"))
    assert again.returncode == 7, again.stderr
    assert "0 e-mails scored" in again.stderr and "210 e-mails already in" in again.stderr
    assert _decrypted(bulk, out)[0] == verdicts


def test_a_killed_run_resumes_without_loss_or_duplicates(bulk, tmp_path) -> None:
    # A run long enough to be caught in the middle: 2,000 more messages, blocks of 4.
    big = tmp_path / "big.mbox"
    raws = dict(bulk.raw_by_name)
    samples = sorted(bulk.raw_by_name.values())
    with big.open("wb") as handle:
        for i in range(2000):
            raw = b"Message-ID: <big%d@example.com>\n" % i + samples[i % len(samples)]
            handle.write(MBOX_SEPARATOR + raw.replace(b"\nFrom ", b"\n>From ") + b"\n")
            raws[f"{big}#{i + 1}"] = raw
    total = len(raws)
    out = tmp_path / "verdicts.parquet"
    args = _bulk_args(bulk, out, "--cpus", "1", "--block", "4", "--flush-every", "0", more=[big])
    proc = subprocess.Popen(
        [sys.executable, "-m", "sealdog", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while not list(out.glob("part-*.parquet")):
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial, _ = _decrypted(bulk, out)
    assert 0 < len(partial) < total
    resumed = _sealdog(*_bulk_args(bulk, out, "--cpus", "2", more=[big]))
    assert resumed.returncode == 7, resumed.stderr
    assert f"{len(partial):,} e-mail" in resumed.stderr and "already in" in resumed.stderr
    verdicts, _ = _decrypted(bulk, out)
    assert len(verdicts) == total
    expected_bulk = replace(bulk, raw_by_name=raws)
    assert verdicts == _expected(expected_bulk, list(verdicts))


NICENESS_PROBE = """
import os, sys
from pathlib import Path
import ray
from sealdog.bulk.job import BulkOptions, _start_ray
_start_ray(ray, BulkOptions((), Path(sys.argv[1]), num_cpus=1))
worker = ray.get(ray.remote(num_cpus=1)(lambda: os.nice(0)).remote())
print(os.nice(0), worker)
"""


def test_a_local_ray_runs_its_workers_at_the_commands_own_priority(tmp_path) -> None:
    # Ray renices workers by +15 unless told otherwise; under `nice -n 3` they stay at +3
    probe = subprocess.run(
        [sys.executable, "-c", NICENESS_PROBE, str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        preexec_fn=lambda: os.nice(3),
    )
    assert probe.returncode == 0, probe.stderr
    driver, worker = map(int, probe.stdout.split())
    assert worker == driver == min(os.nice(0) + 3, 19)
