"""The key holder's CLI end to end, in subprocesses, against a real server process:
keygen -> (train, seal: fixtures) -> deploy -> score (files, folder, mbox, stdin) ->
verdicts -> audit (key holder and auditor, tampered model), and the bad-input paths."""

from __future__ import annotations

import csv
import io
import json
import os
import socket
import stat
from pathlib import Path

import pytest
from client_support import Artifacts, Live, run_cli, sample_paths

from sealdog.client.local_server import free_port


def _env(live: Live, token: str | None = None) -> dict[str, str]:
    return {"SEALDOG_URL": live.url, "SEALDOG_TOKEN": token or live.owner_token}


def _mbox(paths: list[Path]) -> bytes:
    out = b""
    for p in paths:
        out += (
            b"From sender@example.com Mon Nov 23 10:00:00 2026\n"
            + p.read_bytes().replace(b"\nFrom ", b"\n>From ")
            + b"\n"
        )
    return out


def test_keygen_writes_0600_refuses_overwrite_and_small_keys(tmp_path: Path) -> None:
    pub, key = tmp_path / "a.pub.json", tmp_path / "a.key.json"
    r = run_cli("keygen", "-p", str(pub), "-k", str(key), "--bits", "1024", "--insecure")
    assert r.returncode == 0, r.stderr
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert b"INSECURE" in r.stderr
    fingerprint = r.stdout.decode().strip()
    from sealdog.crypto.paillier import load_public_key

    assert load_public_key(pub).fingerprint == fingerprint
    before = key.read_bytes()
    r = run_cli("keygen", "-p", str(pub), "-k", str(key), "--bits", "1024", "--insecure")
    assert r.returncode == 2 and b"Refusing to overwrite" in r.stderr and b"--force" in r.stderr
    assert b"generating" not in r.stderr  # refused before any work
    assert key.read_bytes() == before
    r = run_cli(
        "keygen", "-p", str(tmp_path / "b.pub"), "-k", str(tmp_path / "b.key"), "--bits", "1024"
    )
    assert r.returncode == 2 and b"--insecure" in r.stderr
    assert not (tmp_path / "b.key").exists() and not (tmp_path / "b.pub").exists()
    r = run_cli("keygen", "-p", str(pub), "-k", str(key), "--bits", "1024", "--insecure", "--force")
    assert r.returncode == 0 and key.read_bytes() != before


def test_passphrase_protected_key(tmp_path: Path, artifacts: Artifacts, live: Live) -> None:
    pub, key = tmp_path / "p.pub.json", tmp_path / "p.key.json"
    r = run_cli(
        "keygen",
        "-p",
        str(pub),
        "-k",
        str(key),
        "--bits",
        "1024",
        "--insecure",
        "--passphrase",
        env={"SEALDOG_PASSPHRASE": "correct horse"},
    )
    assert r.returncode == 0, r.stderr
    assert b"correct horse" not in key.read_bytes()
    r = run_cli("verdicts", "-m", live.model_id, "-k", str(key), env=_env(live))
    assert r.returncode == 2 and b"passphrase" in r.stderr


def test_deploy_score_files_folder_mbox_stdin_and_collect_verdicts(
    tmp_path: Path, artifacts: Artifacts, live: Live
) -> None:
    env = _env(live)
    r = run_cli("deploy", str(artifacts.sealed_model), "-p", str(artifacts.public_key), env=env)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().strip() == live.model_id  # same file, same id

    spam = sample_paths("spam", 20)
    ham = sample_paths("ham", 20)
    # Direct delivery: files and a folder, decrypted on the spot, as CSV.
    r = run_cli(
        "score",
        str(ham[0]),
        str(spam[0].parent),
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--format",
        "csv",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    rows = list(csv.DictReader(io.StringIO(r.stdout.decode())))
    assert [row["message"] for row in rows] == [str(ham[0])] + [str(p) for p in spam]
    assert rows[0]["verdict"] == "ham"
    assert sum(row["verdict"] == "spam" for row in rows[1:]) >= 17

    # stdin, one message, JSON.
    r = run_cli(
        "score",
        "-",
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--format",
        "json",
        env=env,
        input=spam[1].read_bytes(),
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"message": "<stdin>", "verdict": "spam", "cursor": ""}]

    # Inbox delivery by the submitter: an mbox file and an mbox on stdin; nothing decrypted.
    cursor_file = tmp_path / "cursor"
    r = run_cli(
        "verdicts",
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--cursor-file",
        str(cursor_file),
        "--format",
        "json",
        env=env,
    )
    assert r.returncode == 0, r.stderr  # drain what earlier tests left
    box = tmp_path / "mail.mbox"
    box.write_bytes(_mbox(ham[:6]))
    sub_env = _env(live, live.submitter_token)
    r = run_cli("score", str(box), "-m", live.model_id, "--format", "json", env=sub_env)
    assert r.returncode == 0, r.stderr
    assert sum(a["count"] for a in json.loads(r.stdout)) == 6
    assert b"spam" not in r.stdout  # a submitter learns no verdict
    r = run_cli("score", "-", "-m", live.model_id, env=sub_env, input=_mbox(spam[:3]))
    assert r.returncode == 0, r.stderr

    r = run_cli(
        "verdicts",
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--cursor-file",
        str(cursor_file),
        "--format",
        "json",
        env=env,
    )
    assert r.returncode == 0, r.stderr
    got = json.loads(r.stdout)
    assert [g["message"] for g in got] == [f"{box}#{k}" for k in range(1, 7)] + [
        f"<stdin>#{k}" for k in range(1, 4)
    ]
    assert [g["verdict"] for g in got[6:]] == ["spam"] * 3
    assert sum(g["verdict"] == "ham" for g in got[:6]) >= 5
    # The cursor file moved on: a second collection is empty.
    r = run_cli(
        "verdicts",
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--cursor-file",
        str(cursor_file),
        "--format",
        "json",
        env=env,
    )
    assert r.returncode == 0 and json.loads(r.stdout) == []

    r = run_cli("models", "list", "--format", "json", env=env)
    assert r.returncode == 0 and live.model_id in {m["id"] for m in json.loads(r.stdout)}


def test_bad_input_missing_key_wrong_key_server_down_unreadable_file(
    tmp_path: Path, artifacts: Artifacts, live: Live
) -> None:
    env = _env(live)
    mail = str(sample_paths("ham", 1)[0])
    r = run_cli("score", mail, "-m", live.model_id, "-k", str(tmp_path / "none.json"), env=env)
    assert r.returncode == 2 and b"No secret-key file" in r.stderr and b"sealdog keygen" in r.stderr

    r = run_cli("score", mail, "-m", live.model_id, "-k", str(artifacts.other_secret_key), env=env)
    assert r.returncode == 2 and b"not for" in r.stderr and b"would not decrypt" in r.stderr
    r = run_cli("verdicts", "-m", live.model_id, "-k", str(artifacts.other_secret_key), env=env)
    assert r.returncode == 2 and b"sealed for key" in r.stderr

    down = {"SEALDOG_URL": f"http://127.0.0.1:{free_port()}", "SEALDOG_TOKEN": live.owner_token}
    r = run_cli("score", mail, "-m", live.model_id, "-k", str(artifacts.secret_key), env=down)
    assert (
        r.returncode == 3
        and b"Cannot reach the Sealdog server" in r.stderr
        and b"Traceback" not in r.stderr
    )
    r = run_cli("deploy", str(artifacts.sealed_model), env=down)
    assert r.returncode == 3

    sock_path = tmp_path / "unreadable.eml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        r = run_cli(
            "score", str(sock_path), "-m", live.model_id, "-k", str(artifacts.secret_key), env=env
        )
    assert r.returncode == 2 and b"Cannot read e-mail file" in r.stderr
    r = run_cli(
        "score",
        str(tmp_path / "missing.eml"),
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        env=env,
    )
    assert r.returncode == 2 and b"No such e-mail file" in r.stderr

    r = run_cli("score", mail, "-m", "no-such-model", "-k", str(artifacts.secret_key), env=env)
    assert r.returncode == 4 and b"no model" in r.stderr
    r = run_cli("models", "list", env={"SEALDOG_URL": live.url, "SEALDOG_TOKEN": "sdt_wrong"})
    assert r.returncode == 4 and b"invalid or revoked token" in r.stderr
    r = run_cli("models", "list", env={"SEALDOG_URL": live.url})
    assert r.returncode == 2 and b"SEALDOG_TOKEN" in r.stderr

    loose = tmp_path / "loose.key.json"
    loose.write_bytes(artifacts.secret_key.read_bytes())
    os.chmod(loose, 0o644)
    r = run_cli("verdicts", "-m", live.model_id, "-k", str(loose), env=env)
    assert r.returncode == 2 and b"chmod 600" in r.stderr
    # A public key passed as the secret key is named for what it is (not "chmod 600").
    public = tmp_path / "public.json"
    public.write_bytes(artifacts.public_key.read_bytes())
    os.chmod(public, 0o644)
    r = run_cli("verdicts", "-m", live.model_id, "-k", str(public), env=env)
    assert (
        r.returncode == 2
        and b"is a public key, not a secret key" in r.stderr
        and b"chmod" not in r.stderr
    )

    r = run_cli("deploy", str(artifacts.sealed_model), "-p", str(tmp_path / "none.pub"), env=env)
    assert r.returncode == 2


def test_audit_key_holder_and_auditor_and_a_tampered_model(
    tmp_path: Path, artifacts: Artifacts
) -> None:
    report = tmp_path / "audit.html"
    r = run_cli(
        "audit",
        str(artifacts.sealed_model),
        "--model",
        str(artifacts.plain_model),
        "-k",
        str(artifacts.secret_key),
        "--report",
        str(report),
        "--workers",
        "1",
        "--top",
        "5",
    )
    assert r.returncode == 0, r.stderr
    out = r.stdout.decode()
    assert "PASS" in out and "most indicative terms" in out and "accuracy" in out
    html = report.read_text()
    assert html.count("<svg") == 3 and "PASS" in html and "ROC curve" in html

    openings = tmp_path / "model.openings"
    r = run_cli(
        "export-openings",
        str(artifacts.sealed_model),
        "-k",
        str(artifacts.secret_key),
        "-o",
        str(openings),
        "--workers",
        "1",
    )
    assert r.returncode == 0, r.stderr
    # The auditor: no secret key, exact comparison of every ciphertext.
    r = run_cli(
        "audit",
        str(artifacts.sealed_model),
        "--model",
        str(artifacts.plain_model),
        "--openings",
        str(openings),
        "--report",
        str(tmp_path / "auditor.html"),
        "--workers",
        "1",
    )
    assert r.returncode == 0, r.stderr
    assert b"PASS" in r.stdout and b"re-encrypted" in r.stdout

    # Tampered: a weight swapped and the digest recomputed. The openings no longer match it.
    tampered = tmp_path / "tampered.sealed"
    _tamper(artifacts.sealed_model, tampered)
    r = run_cli(
        "audit",
        str(tampered),
        "--model",
        str(artifacts.plain_model),
        "--openings",
        str(openings),
        "--report",
        str(tmp_path / "t.html"),
        "--workers",
        "1",
    )
    assert r.returncode == 6 and b"not the one the key holder opened" in r.stderr


def test_audit_library_modes_catch_a_tampered_model(tmp_path: Path, artifacts: Artifacts) -> None:
    from sealdog.client.audit import run_audit, write_report
    from sealdog.client.errors import AuditError
    from sealdog.client.openings import recover_openings, write_openings
    from sealdog.crypto.paillier import load_secret_key
    from sealdog.errors import SealdogError
    from sealdog.sealed_model import SealedModel

    sk = load_secret_key(artifacts.secret_key)
    common = {"plain_path": artifacts.plain_model, "workers": 1, "top": 5}
    # Key holder without the plaintext model: every weight decrypted, terms and evaluation shown.
    result = run_audit(
        sealed_path=artifacts.sealed_model,
        secret_key=sk,
        openings_path=None,
        **{**common, "plain_path": None},
    )
    assert result.passed and "decrypted" in result.check
    assert result.top_spam and result.top_ham and result.evaluation is not None
    assert result.evaluation.n == 40 and result.evaluation.auc is not None

    tampered = tmp_path / "tampered.sealed"
    _tamper(artifacts.sealed_model, tampered)
    # Openings re-exported for the tampered file: the binding holds, the ciphertext check fails.
    openings = tmp_path / "t.op"
    write_openings(
        openings, recover_openings(sk, SealedModel.read(tampered), workers=1), sk.public_key.bits
    )
    exact = run_audit(
        sealed_path=tampered, secret_key=None, openings_path=openings, method="exact", **common
    )
    assert not exact.passed and exact.mismatches == [7] and "weight 6" in (exact.failure or "")
    assert exact.evaluation is None  # nothing is described for a model that failed its check
    write_report(tmp_path / "t.html", exact)
    assert "FAIL" in (tmp_path / "t.html").read_text()
    batched = run_audit(
        sealed_path=tampered, secret_key=None, openings_path=openings, method="batched", **common
    )
    assert not batched.passed
    keyholder = run_audit(sealed_path=tampered, secret_key=sk, openings_path=None, **common)
    assert not keyholder.passed and "NOT decrypt" in (keyholder.failure or "")
    # The honest model passes both auditor methods with the same openings format.
    honest = tmp_path / "h.op"
    write_openings(
        honest,
        recover_openings(sk, SealedModel.read(artifacts.sealed_model), workers=1),
        sk.public_key.bits,
    )
    for method in ("exact", "batched"):
        assert run_audit(
            sealed_path=artifacts.sealed_model,
            secret_key=None,
            openings_path=honest,
            method=method,
            **common,
        ).passed
    # Wrong key for the model, and flipped bytes without a new digest.
    with pytest.raises(AuditError, match="not for this secret key"):
        run_audit(
            sealed_path=artifacts.sealed_model,
            secret_key=load_secret_key(artifacts.other_secret_key),
            openings_path=None,
            **common,
        )
    raw = bytearray(artifacts.sealed_model.read_bytes())
    raw[-10] ^= 1
    (tmp_path / "flipped.sealed").write_bytes(bytes(raw))
    with pytest.raises(SealdogError, match=r"digest|readable"):
        run_audit(
            sealed_path=tmp_path / "flipped.sealed", secret_key=None, openings_path=honest, **common
        )


def _tamper(source: Path, target: Path) -> None:
    from sealdog.crypto.paillier.codec import ciphertext_width, encode_ciphertexts
    from sealdog.sealed_model import SealedModel

    model = SealedModel.read(source)
    sealed = model.linear()
    pk = sealed.public_key
    cts = [sealed.bias, *sealed.weights]
    cts[7] = cts[7] * (1 + 1000 * pk.n) % pk.nsquare  # weight 6 += 1000 / 2^scale
    manifest = {k: v for k, v in model.manifest.items() if k != "digest"}
    SealedModel(manifest, encode_ciphertexts(cts, width=ciphertext_width(pk))).write(target)


@pytest.mark.parametrize("fmt", ["table", "json", "csv"])
def test_models_list_formats(live: Live, fmt: str) -> None:
    r = run_cli("models", "list", "--format", fmt, env={**_env(live), "COLUMNS": "80"})
    assert r.returncode == 0, r.stderr
    assert live.model_id in r.stdout.decode()  # the whole id, also in an 80-column table
    if fmt == "table":
        assert max(len(line) for line in r.stdout.decode().splitlines()) <= 80


def test_json_flag_everywhere_it_has_a_format(live: Live, artifacts: Artifacts) -> None:
    env = _env(live)
    r = run_cli("models", "list", "--json", env=env)
    assert r.returncode == 0 and live.model_id in {m["id"] for m in json.loads(r.stdout)}
    assert run_cli("models", "list", "-f", "json", env=env).stdout == r.stdout
    mail = str(sample_paths("spam", 1)[0])
    r = run_cli(
        "score", mail, "-m", live.model_id, "-k", str(artifacts.secret_key), "--json", env=env
    )
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == [{"message": mail, "verdict": "spam", "cursor": ""}]
    r = run_cli(
        "verdicts",
        "-m",
        live.model_id,
        "-k",
        str(artifacts.secret_key),
        "--after",
        "0",
        "--json",
        env=env,
    )
    assert r.returncode == 0 and isinstance(json.loads(r.stdout), list)


def test_one_email_is_one_email(live: Live) -> None:
    mail = str(sample_paths("ham", 1)[0])
    r = run_cli("score", mail, "-m", live.model_id, env=_env(live, live.submitter_token))
    assert r.returncode == 0, r.stderr
    assert b"1 e-mail scored;" in r.stderr
    assert (
        b"scoring ..." in r.stderr and b"scoring: done, 1/1 (100%)" in r.stderr
    )  # piped: plain lines


def test_keygen_train_seal_deploy_score_all_through_the_cli(tmp_path: Path, live: Live) -> None:
    """The README's key-holder story with the trainer's commands (sample corpus, small model)."""
    env = _env(live)
    pub, key = tmp_path / "kh.pub.json", tmp_path / "kh.key.json"
    assert (
        run_cli("keygen", "-p", str(pub), "-k", str(key), "--bits", "1024", "--insecure").returncode
        == 0
    )
    r = run_cli(
        "train", "--samples", "--buckets", "256", "--workers", "1", "-o", str(tmp_path / "m.json")
    )
    assert r.returncode == 0, r.stderr
    r = run_cli("seal", str(tmp_path / "m.json"), "-p", str(pub), "-o", str(tmp_path / "m.sealed"))
    assert r.returncode == 0, r.stderr
    r = run_cli("deploy", str(tmp_path / "m.sealed"), "-p", str(pub), env=env)
    assert r.returncode == 0, r.stderr
    model_id = r.stdout.decode().strip()
    spam, ham = sample_paths("spam", 3), sample_paths("ham", 3)
    r = run_cli(
        "score", *map(str, spam + ham), "-m", model_id, "-k", str(key), "--format", "json", env=env
    )
    assert r.returncode == 0, r.stderr
    verdicts = [row["verdict"] for row in json.loads(r.stdout)]
    assert verdicts == ["spam"] * 3 + ["ham"] * 3  # training e-mails: the model fits them
    # Deploying with the wrong public key is caught before the upload.
    r = run_cli(
        "deploy",
        str(tmp_path / "m.sealed"),
        "-p",
        str(Path(live.server.data_dir).parent / "k.pub.json"),
        env=env,
    )  # type: ignore[attr-defined]
    assert r.returncode == 2 and b"not for" in r.stderr
