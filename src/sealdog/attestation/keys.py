"""Auditor keys: Ed25519 key pairs, their files, and the server's list of trusted auditors.

The private key is a PKCS#8 PEM file written 0600 (atomically); the public key travels as
the base64 of its 32 raw bytes (one line: fits an environment variable). An auditor is named
by `auditor_id`: the first 32 hex digits of SHA-256 over the raw public key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from sealdog.errors import SealdogError
from sealdog.fileio import atomic_write_bytes, atomic_write_text

RAW_PUBLIC_BYTES = 32


class AuditorKeyError(SealdogError):
    """An auditor key (file, base64 text or trusted list) cannot be used."""


def generate_auditor_key() -> Ed25519PrivateKey:
    return Ed25519PrivateKey.generate()


def _raw(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)


def public_key_b64(public: Ed25519PublicKey) -> str:
    """The one-line form of a public key: base64 of its 32 raw bytes."""
    return base64.b64encode(_raw(public)).decode("ascii")


def auditor_id(public: Ed25519PublicKey) -> str:
    return hashlib.sha256(_raw(public)).hexdigest()[:32]


def write_keypair(private: Ed25519PrivateKey, path: str | os.PathLike[str]) -> Path:
    """Write the private key to `path` (0600) and its public key to `<path>.pub` (0644);
    returns the public key's path. Refuses to overwrite an existing private key."""
    target = Path(path)
    if target.exists():
        raise AuditorKeyError(f"{target} exists; refusing to overwrite an auditor key.")
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    atomic_write_bytes(target, pem, mode=0o600)
    public_path = target.with_name(target.name + ".pub")
    atomic_write_text(public_path, public_key_b64(private.public_key()) + "\n", mode=0o644)
    return public_path


def read_private_key(path: str | os.PathLike[str]) -> Ed25519PrivateKey:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise AuditorKeyError(f"Cannot read auditor key {path}: {exc.strerror or exc}.") from exc
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise AuditorKeyError(
            f"{path} is not an auditor private key (make one with `sealdog auditor-keygen`)."
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise AuditorKeyError(f"{path} is not an Ed25519 key.")
    return key


def parse_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64 line, or from PEM (SubjectPublicKeyInfo) text."""
    text = text.strip()
    if text.startswith("-----BEGIN"):
        try:
            key = serialization.load_pem_public_key(text.encode("ascii"))
        except (ValueError, TypeError, UnicodeEncodeError) as exc:
            raise AuditorKeyError("malformed PEM public key") from exc
        if not isinstance(key, Ed25519PublicKey):
            raise AuditorKeyError("the PEM public key is not Ed25519")
        return key
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        raise AuditorKeyError("an auditor public key must be base64 of 32 bytes") from None
    if len(raw) != RAW_PUBLIC_BYTES:
        raise AuditorKeyError(
            f"an auditor public key must be base64 of 32 bytes, got {len(raw)} bytes"
        )
    return Ed25519PublicKey.from_public_bytes(raw)


def _entry_key(entry: str) -> Ed25519PublicKey:
    """One trusted-list entry: a file path (that exists) or the key's base64 text."""
    path = Path(entry).expanduser()
    if path.is_file():
        try:
            return parse_public_key(path.read_text("ascii"))
        except (OSError, UnicodeDecodeError) as exc:
            raise AuditorKeyError(f"cannot read auditor public key {entry}: {exc}") from exc
        except AuditorKeyError as exc:
            raise AuditorKeyError(f"{entry}: {exc}") from exc
    try:
        return parse_public_key(entry)
    except AuditorKeyError as exc:
        raise AuditorKeyError(
            f"trusted auditor {entry[:60]!r} is neither a readable file nor a key: {exc}"
        ) from exc


@dataclass(frozen=True)
class TrustedAuditors:
    """The server's trusted auditor keys, by `auditor_id`."""

    keys: dict[str, Ed25519PublicKey]

    @classmethod
    def parse(cls, spec: str) -> TrustedAuditors:
        """Entries separated by commas (or newlines): each a path to a public-key file or the
        key's base64 text. Empty: no auditor is trusted. Any bad entry raises."""
        entries = [e.strip() for e in spec.replace("\n", ",").split(",")]
        return cls.of(_entry_key(e) for e in entries if e)

    @classmethod
    def of(cls, keys: Iterable[Ed25519PublicKey]) -> TrustedAuditors:
        return cls({auditor_id(k): k for k in keys})

    def __bool__(self) -> bool:
        return bool(self.keys)

    def verify(self, auditor: str, signature: bytes, message: bytes) -> bool:
        """True if `auditor` is trusted and signed `message`."""
        key = self.keys.get(auditor)
        if key is None:
            return False
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
