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

import pytest

pytest.importorskip("ray", reason="the optional `ray` extra is not installed")

from sealdog.client.demo_model import plaintext_verdicts  # noqa: E402

pytestmark = pytest.mark.ray


def _sealdog(*args: str, **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sealdog", *args],
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        **kw,
    )


def _bulk_args(bulk, out, *extra: str) -> list[str]:
    paths = [str(p) for p in bulk.paths]
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
    out = tmp_path / "verdicts.parquet"
    args = _bulk_args(bulk, out, "--cpus", "1", "--block", "4", "--flush-every", "0")
    proc = subprocess.Popen(
        [sys.executable, "-m", "sealdog", *args],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "RAY_AUTH_MODE": "disabled"},
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 300
        while len(list(out.glob("part-*.parquet"))) < 3:
            assert proc.poll() is None, "the run ended before it could be killed"
            assert time.monotonic() < deadline
            time.sleep(0.05)
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    partial, _ = _decrypted(bulk, out)
    assert 0 < len(partial) < 210
    resumed = _sealdog(*_bulk_args(bulk, out, "--cpus", "2"))
    assert resumed.returncode == 7, resumed.stderr
    assert f"{len(partial)} e-mails already in" in resumed.stderr
    verdicts, _ = _decrypted(bulk, out)
    assert len(verdicts) == 210
    assert verdicts == _expected(bulk, list(verdicts))
