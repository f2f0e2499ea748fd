"""Passphrase-protected secret-key files: scrypt cost of new files, old files still open,
a crafted file's scrypt parameters bounded before any work, empty passphrases refused."""

from __future__ import annotations

import json
import time
import tracemalloc
from pathlib import Path

import pytest

from sealdog.client.keyfiles import write_keypair
from sealdog.crypto.paillier import (
    EmptyPassphraseError,
    PassphraseRequiredError,
    generate_keypair,
    load_secret_key,
    save_secret_key,
)
from sealdog.crypto.paillier import keys as keys_mod
from sealdog.errors import CorruptDataError

KEY = generate_keypair(512, insecure=True)


def test_new_files_use_scrypt_n_2_17_and_open(tmp_path: Path) -> None:
    _, sk = KEY
    path = tmp_path / "sk.json"
    save_secret_key(sk, path, passphrase="correct horse")
    kdf = json.loads(path.read_text())["kdf"]
    assert kdf["name"] == "scrypt" and kdf["n"] >= 2**17 and kdf["r"] == 8
    assert load_secret_key(path, passphrase="correct horse").p == sk.p


def test_files_written_with_n_2_15_still_open(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _, sk = KEY
    path = tmp_path / "old.json"
    monkeypatch.setattr(keys_mod, "_SCRYPT_N", 2**15)  # what Sealdog wrote before issue 13
    save_secret_key(sk, path, passphrase="old passphrase")
    monkeypatch.undo()
    assert json.loads(path.read_text())["kdf"]["n"] == 2**15
    assert load_secret_key(path, passphrase="old passphrase").q == sk.q


@pytest.mark.parametrize("passphrase", ["", None])
def test_empty_passphrase_is_refused_when_writing(tmp_path: Path, passphrase: str | None) -> None:
    _, sk = KEY
    path = tmp_path / "sk.json"
    if passphrase is None:  # no passphrase at all: an unprotected 0600 file, still allowed
        save_secret_key(sk, path, passphrase=passphrase)
        assert load_secret_key(path).p == sk.p
        return
    with pytest.raises(EmptyPassphraseError, match="empty passphrase"):
        save_secret_key(sk, path, passphrase=passphrase)
    assert not path.exists()
    with pytest.raises(EmptyPassphraseError):
        write_keypair(
            tmp_path / "p.json", tmp_path / "s.json", bits=512, insecure=True, passphrase=""
        )
    assert not (tmp_path / "s.json").exists()


def test_empty_passphrase_does_not_open_a_protected_file(tmp_path: Path) -> None:
    _, sk = KEY
    path = tmp_path / "sk.json"
    save_secret_key(sk, path, passphrase="correct horse")
    with pytest.raises(PassphraseRequiredError):
        load_secret_key(path, passphrase="")


@pytest.mark.parametrize(
    ("field", "value"),
    [("n", 2**30), ("n", 2**17 + 1), ("n", 2**10), ("r", 10**6), ("p", 10**6), ("n", True)],
)
def test_crafted_scrypt_parameters_are_refused_before_any_work(
    tmp_path: Path, field: str, value: int
) -> None:
    """The attack: a key file asking for scrypt n = 2^30 (128 GiB at r = 8). Refused at once,
    without allocating; n = 2^17 (the default) costs ~128 MiB and a few tenths of a second of
    CPU. Timed in this thread's CPU seconds, which a loaded machine does not stretch."""
    _, sk = KEY
    path = tmp_path / "sk.json"
    save_secret_key(sk, path, passphrase="correct horse")
    data = json.loads(path.read_text())
    data["kdf"][field] = value
    path.write_text(json.dumps(data))
    tracemalloc.start()
    start = time.thread_time()
    try:
        with pytest.raises(CorruptDataError, match=r"scrypt|malformed"):
            load_secret_key(path, passphrase="correct horse")
        elapsed = time.thread_time() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert elapsed < 0.1 and peak < 1 << 20
