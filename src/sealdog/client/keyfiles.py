"""Key files on the key holder's machine: generate, refuse to clobber, open with a passphrase.

Default names: `sealdog.pub.json` (public, 0644) and `sealdog.key.json` (secret, 0600). A
passphrase comes from the caller or the SEALDOG_PASSPHRASE environment variable; it is never
logged or echoed.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from sealdog.crypto.paillier import (
    PassphraseRequiredError,
    PublicKey,
    SecretKey,
    generate_keypair,
    load_public_key,
    load_secret_key,
    save_public_key,
    save_secret_key,
)
from sealdog.crypto.paillier.keys import PUBLIC_KEY_FORMAT
from sealdog.errors import SealdogError

DEFAULT_PUBLIC_KEY = Path("sealdog.pub.json")
DEFAULT_SECRET_KEY = Path("sealdog.key.json")
PASSPHRASE_ENV = "SEALDOG_PASSPHRASE"


class KeyFileError(SealdogError):
    """A key file is missing, would be overwritten, or cannot be opened."""


def check_keypair_paths(public_path: Path, secret_path: Path, *, force: bool = False) -> None:
    """Refuse (before any work) to overwrite key files without `force`, or to use one file twice."""
    if not force:
        existing = [str(p) for p in (public_path, secret_path) if p.exists()]
        if existing:
            raise KeyFileError(
                f"Refusing to overwrite {', '.join(existing)}: a lost secret key makes every model "
                "sealed with it undecryptable. Pass --force to replace, or choose other paths."
            )
    if public_path.resolve() == secret_path.resolve():
        raise KeyFileError("The public and the secret key need two different files.")


def write_keypair(
    public_path: Path,
    secret_path: Path,
    *,
    bits: int,
    insecure: bool = False,
    passphrase: str | None = None,
    force: bool = False,
) -> tuple[PublicKey, SecretKey]:
    """Generate a key pair and write both files (secret 0600); no file is touched on refusal."""
    check_keypair_paths(public_path, secret_path, force=force)
    pk, sk = generate_keypair(bits, insecure=insecure)
    save_secret_key(sk, secret_path, passphrase=passphrase)
    save_public_key(pk, public_path)
    return pk, sk


def open_secret_key(path: Path, passphrase: str | None = None) -> SecretKey:
    """Load a secret key; a protected file takes `passphrase` or $SEALDOG_PASSPHRASE."""
    if not path.exists():
        raise KeyFileError(
            f"No secret-key file at {path}. Create one with `sealdog keygen`, or pass --secret-key."
        )
    if _is_public_key_file(path):
        raise KeyFileError(
            f"{path} is a public key, not a secret key: pass the secret-key file (`sealdog keygen` "
            "wrote it next to the public key, sealdog.key.json by default) with --secret-key/-k."
        )
    mode = path.stat().st_mode & 0o077
    if mode:
        raise KeyFileError(
            f"Secret-key file {path} is readable by other users (mode "
            f"{oct(path.stat().st_mode & 0o777)}); "
            f"fix it with `chmod 600 {path}`."
        )
    try:
        return load_secret_key(path, passphrase or os.environ.get(PASSPHRASE_ENV))
    except PassphraseRequiredError as exc:
        raise KeyFileError(f"{exc} (set {PASSPHRASE_ENV} or answer the prompt).") from exc


def _is_public_key_file(path: Path) -> bool:
    """Whether `path` holds a Sealdog public key (checked before the secret key's permissions)."""
    try:
        data = json.loads(path.read_bytes())
    except (OSError, ValueError):
        return False
    return isinstance(data, dict) and data.get("format") == PUBLIC_KEY_FORMAT


def open_public_key(path: Path) -> PublicKey:
    if not path.exists():
        raise KeyFileError(
            f"No public-key file at {path}. Create one with `sealdog keygen`, or pass --public-key."
        )
    return load_public_key(path)
