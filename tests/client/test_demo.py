"""`sealdog demo` on the built-in sample corpus (smoke test), the local server's lifecycle,
verdict decryption errors, and the demo's metric arithmetic."""

from __future__ import annotations

import json
import os
from pathlib import Path

import httpx
import pytest
from client_support import Artifacts, run_cli

from sealdog.client.demo import rates, split_held_out
from sealdog.data.sample_corpus import load_samples


def test_demo_limit_40_on_the_sample_corpus(tmp_path: Path) -> None:
    r = run_cli(
        "demo",
        "--json",
        "--limit",
        "40",
        "--workers",
        "1",
        "--bits",
        "2048",
        env={"SEALDOG_DATA": str(tmp_path / "no-corpus-here")},
        timeout=300,
    )
    assert r.returncode == 0, r.stderr.decode()[-2000:]
    err = r.stderr.decode()
    assert "built-in sample corpus" in err and "server stopped" in err
    last = r.stdout.decode().strip().splitlines()[-1]
    result = json.loads(last)
    assert list(result) == [
        "demo",
        "n_scored",
        "accuracy",
        "fpr",
        "fnr",
        "agreement",
        "seconds",
        "corpus",
    ]
    assert result["demo"] == "spam" and result["corpus"] == "sample"
    assert result["n_scored"] == 10  # the sample corpus holds out 5 ham + 5 spam
    assert result["agreement"] == 1.0
    assert result["accuracy"] >= 0.7
    assert "agreement encrypted vs plaintext" in r.stdout.decode()


def test_demo_refuses_an_explicit_missing_corpus_path(tmp_path: Path) -> None:
    r = run_cli("demo", "--data", str(tmp_path / "nothing"), "--limit", "2", timeout=120)
    assert r.returncode == 2
    assert b"Enron-Spam corpus not found" in r.stderr and b"sealdog data fetch" in r.stderr


def test_local_server_is_stopped_when_the_body_raises(tmp_path: Path) -> None:
    from sealdog.client.local_server import LocalServer

    server = LocalServer(tmp_path / "srv", scoring_processes=1)
    with pytest.raises(RuntimeError, match="boom"), server:
        assert httpx.get(server.url + "/healthz", timeout=5).status_code == 200
        pid = server.pid
        raise RuntimeError("boom")
    assert not server.running
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)  # type: ignore[arg-type]
    with pytest.raises(httpx.ConnectError):
        httpx.get(server.url + "/healthz", timeout=2)


def test_held_out_split_and_limit_interleave_classes() -> None:
    emails = load_samples()
    train, held = split_held_out(emails, 5)
    assert len(train) == 30 and len(held) == 10
    assert [e.label for e in held] == [0, 1] * 5
    assert {e.name for e in held} == {f"ham-{k}.eml" for k in range(16, 21)} | {
        f"spam-{k}.eml" for k in range(16, 21)
    }
    assert not {id(e) for e in held} & {id(e) for e in train}


def test_rates_match_hand_counts() -> None:
    r = rates([0, 0, 0, 0, 1, 1, 1], [False, True, False, False, True, True, False])
    assert (r.tp, r.tn, r.fp, r.fn) == (2, 3, 1, 1)
    assert (
        r.accuracy == pytest.approx(5 / 7)
        and r.fpr == pytest.approx(1 / 4)
        and r.fnr == pytest.approx(1 / 3)
    )


def test_decryption_with_the_wrong_key_is_refused(artifacts: Artifacts) -> None:
    from sealdog.client.decryption import decrypt_batch
    from sealdog.client.errors import DecryptionError
    from sealdog.crypto.paillier import LinearScorer, load_secret_key
    from sealdog.mail.featuriser import Featuriser
    from sealdog.sealed_model import SealedModel

    model = SealedModel.read(artifacts.sealed_model)
    featuriser = Featuriser.from_spec(model.featuriser)
    vectors = [featuriser.featurise_email(e.raw) for e in load_samples()[:3]]
    verdicts = LinearScorer(model.linear()).score_batch(vectors)
    assert len(decrypt_batch(load_secret_key(artifacts.secret_key), verdicts)) == 3
    with pytest.raises(DecryptionError, match="--secret-key is the key the model was sealed with"):
        decrypt_batch(load_secret_key(artifacts.other_secret_key), verdicts)


def test_ctrl_c_during_the_demo_stops_the_server(tmp_path: Path) -> None:
    import signal
    import subprocess
    import sys
    import time

    err = tmp_path / "demo.err"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALDOG_")}
    env["SEALDOG_DATA"] = str(tmp_path / "none")
    with err.open("w") as handle:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealdog.cli",
                "demo",
                "--limit",
                "10",
                "--workers",
                "1",
                "--bits",
                "2048",
            ],
            stdout=subprocess.DEVNULL,
            stderr=handle,
            env=env,
        )
    deadline = time.monotonic() + 120
    while "server running at " not in err.read_text():
        assert proc.poll() is None and time.monotonic() < deadline, err.read_text()
        time.sleep(0.1)
    url = err.read_text().split("server running at ", 1)[1].split()[0]
    assert httpx.get(url + "/healthz", timeout=5).status_code == 200
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) != 0
    with pytest.raises(httpx.ConnectError):
        httpx.get(url + "/healthz", timeout=2)


def test_the_demo_judges_held_out_mail_of_one_known_mailbox_by_its_threshold() -> None:
    import numpy as np

    from sealdog.client.demo import model_for_held_out
    from sealdog.data.enron import LabelledEmail
    from sealdog.mail.featuriser import FeaturiserSpec
    from sealdog.trainer.model import LinearModel

    model = LinearModel(np.ones(8), -1.0, FeaturiserSpec(n_buckets=8), {}, {"enron6": 0.5})
    enron6 = [LabelledEmail("enron6", f"{i}", i % 2, b"x") for i in range(4)]
    judged, whose = model_for_held_out(model, enron6)
    assert judged.bias == model.for_mailbox("enron6").bias == -1.5 and "enron6" in whose
    mixed = [*enron6, LabelledEmail("enron5", "y", 0, b"y")]
    assert model_for_held_out(model, mixed)[0] is model
    unseen = [LabelledEmail("samples", "z", 0, b"z")]
    assert model_for_held_out(model, unseen) == (model, "the default")
