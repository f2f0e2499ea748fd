"""Encrypted XOR training over HTTP: `sealdog xor keyholder serve` in one process, the data
holder in another, on loopback; the data holder's process never holds a secret key.

1. A real key holder process (the CLI) and a data holder process in which every way to a
   CKKS secret key raises (key generation, key files, TenSEAL's private contexts,
   decryption); it also walks the heap at every iteration for a TenSEAL context with a
   secret key. The run restarts once (seed 8 diverges after one step, as in plaintext), and
   the key holder ends with the plaintext trainer's weights.
2. The same two roles through the CLIs (`sealdog xor train`).
3. The service refuses a missing/wrong token (401), an oversized body (413) and bad bytes
   (400), in process.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import httpx
import numpy as np
import pytest

pytest.importorskip("tenseal")

from fastapi.testclient import TestClient

from sealdog.crypto.ckks.params import PRESETS
from sealdog.xor.ckks import http as xor_http
from sealdog.xor.ckks.keyholder import XorKeyHolder
from sealdog.xor.ckks.outputs import OUTPUT_TOLERANCE
from sealdog.xor.momentum import MomentumConfig, train_momentum

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "PYTHONPATH": str(REPO / "src")}

TRAP = textwrap.dedent(
    """
    import gc
    import tenseal
    import sealdog.crypto.ckks.keys as keys
    import sealdog.crypto.ckks.vectors as vectors

    def _explode(*args, **kwargs):
        raise AssertionError("secret-key code path reached in the data holder")

    keys.build_context = _explode
    keys.KeyHolderContext.generate = classmethod(_explode)
    keys.KeyHolderContext.from_bytes = classmethod(_explode)
    keys.KeyHolderContext.__init__ = _explode
    tenseal.context = _explode  # a new TenSEAL context is a new secret key
    tenseal.CKKSVector.decrypt = _explode
    for name in dir(vectors):
        if name.startswith("decrypt"):
            setattr(vectors, name, _explode)

    def no_private_context():
        found = [o for o in gc.get_objects() if isinstance(o, tenseal.enc_context.Context)]
        assert found, "the trainer's public context should be on the heap"
        assert not any(o.is_private() or o.has_secret_key() for o in found), "secret key!"
        return len(found)
    """
)

DATA_HOLDER = TRAP + textwrap.dedent(
    """
    import json, sys
    from sealdog.xor.ckks.http import train_over_http

    checks = []
    result = train_over_http(
        sys.argv[1], sys.argv[2], max_iterations=int(sys.argv[3]),
        on_judged=lambda judged: checks.append(no_private_context()),
    )
    print(json.dumps({
        "outcome": result.drive.outcome.value, "iterations": result.drive.iterations,
        "restarts": result.drive.restarts, "refreshes": result.drive.refreshes,
        "heap_checks": len(checks),
    }))
    """
)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_keyholder(tmp_path: Path, seed: int) -> tuple[subprocess.Popen[str], str, Path]:
    port = _free_port()
    token_file, out = tmp_path / "token", tmp_path / "net.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "sealdog.cli", "xor", "keyholder", "serve", "--seed", str(seed),
         "--port", str(port), "--token-file", str(token_file), "--out", str(out), "--json"],
        env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        assert proc.poll() is None, proc.communicate()[1]
        try:
            if httpx.get(f"{url}{xor_http.PREFIX}/healthz", timeout=1).status_code == 200:
                return proc, url, out
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise AssertionError("the key holder did not come up")


def _finish(proc: subprocess.Popen[str]) -> dict:
    stdout, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 0, stderr
    return json.loads(stdout.strip().splitlines()[-1])


def test_training_over_http_with_no_secret_key_in_the_data_holder(tmp_path) -> None:
    config = MomentumConfig(seed=8, max_iterations=2)
    reference = train_momentum(config)
    proc, url, out = _start_keyholder(tmp_path, seed=8)
    try:
        token = (tmp_path / "token").read_text().strip()
        assert stat.S_IMODE((tmp_path / "token").stat().st_mode) == 0o600
        data_holder = subprocess.run(
            [sys.executable, "-c", DATA_HOLDER, url, token, "2"],
            env=ENV, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert data_holder.returncode == 0, data_holder.stderr
        ran = json.loads(data_holder.stdout.strip().splitlines()[-1])
        keyholder = _finish(proc)
    finally:
        proc.kill()
    assert ran == {
        "outcome": reference.outcome.value,
        "iterations": 2,
        "restarts": 1,
        "refreshes": ran["refreshes"],
        "heap_checks": 4,  # judged: start, diverged, restarted, capped
    }
    assert ran["refreshes"] >= 1 and keyholder["refreshes"] == ran["refreshes"]
    assert keyholder["restarts"] == 1
    assert stat.S_IMODE(out.stat().st_mode) == 0o600
    weights = json.loads(out.read_text())
    np.testing.assert_allclose(weights["w1"], reference.state.net.w1, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(weights["w2"], reference.state.net.w2, atol=OUTPUT_TOLERANCE)
    np.testing.assert_allclose(
        keyholder["predictions"], reference.predictions, atol=OUTPUT_TOLERANCE
    )


def test_the_two_clis_train_together(tmp_path) -> None:
    proc, url, out = _start_keyholder(tmp_path, seed=3)
    try:
        cli = subprocess.run(
            [sys.executable, "-m", "sealdog.cli", "xor", "train", "--keyholder", url,
             "--token-file", str(tmp_path / "token"), "--iterations", "1", "--json"],
            env=ENV, capture_output=True, text=True, timeout=600,
        )  # fmt: skip
        assert cli.returncode == 0, cli.stderr
        keyholder = _finish(proc)
    finally:
        proc.kill()
    summary = json.loads(cli.stdout.strip().splitlines()[-1])
    assert summary["role"] == "data_holder" and summary["iterations"] == 1
    assert summary["outcome"] == "exhausted" and summary["restarts"] == 0
    assert "iteration 1: running" in cli.stderr
    assert keyholder["role"] == "keyholder" and out.exists()


@pytest.fixture(scope="module")
def service() -> tuple[TestClient, XorKeyHolder]:
    keyholder = XorKeyHolder.generate(PRESETS["standard"], MomentumConfig(seed=3))
    return TestClient(xor_http.keyholder_app(keyholder, "t" * 32)), keyholder


def test_the_service_refuses_without_the_token(service) -> None:
    client, _ = service
    base = xor_http.PREFIX
    assert client.get(f"{base}/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer " + "x" * 32}):
        assert client.get(f"{base}/bundle", headers=headers).status_code == 401
        assert client.get(f"{base}/config", headers=headers).status_code == 401
        assert client.post(f"{base}/refresh", content=b"x", headers=headers).status_code == 401


def test_the_service_refuses_bad_and_oversized_bodies(service, monkeypatch) -> None:
    client, keyholder = service
    auth = {"Authorization": "Bearer " + "t" * 32}
    bad = client.post(f"{xor_http.PREFIX}/judge", content=b"not a frame", headers=auth)
    assert bad.status_code == 400 and bad.text
    monkeypatch.setattr(xor_http, "MAX_BODY_BYTES", 1024)
    big = client.post(f"{xor_http.PREFIX}/refresh", content=b"x" * 2048, headers=auth)
    assert big.status_code == 413
    assert keyholder.refreshes_answered == 0


def test_the_config_carries_no_seed(service) -> None:
    client, keyholder = service
    config = client.get(
        f"{xor_http.PREFIX}/config", headers={"Authorization": "Bearer " + "t" * 32}
    ).json()
    assert "seed" not in config and config["key_fingerprint"] == keyholder.key_fingerprint
    assert set(config) == {*xor_http.PUBLIC_FIELDS, "key_fingerprint"}


def test_a_short_token_is_refused() -> None:
    keyholder = XorKeyHolder.generate(PRESETS["standard"], MomentumConfig(seed=3))
    with pytest.raises(ValueError, match="16 characters"):
        xor_http.keyholder_app(keyholder, "short")
