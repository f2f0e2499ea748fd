"""Paillier key pairs (g = n + 1): generation via phe, CRT decryption via gmpy2, key files.

Invariants:
- A `PublicKey` below `MIN_SECURE_BITS` exists only if it was created with `insecure=True`
  (and its JSON says so), so a demo key can never be mistaken for a production key.
- `fingerprint` is the SHA-256 of the canonical JSON of the public key; it is stable across
  save/load and is the key's name everywhere (verdicts, sealed models).
- Secret-key files are written atomically with mode 0600, optionally sealed with a
  passphrase (scrypt + AES-256-GCM via `cryptography`). New files use scrypt N = 2^17,
  r = 8, p = 1 (OWASP's minimum; 128 MiB, 1.1 s per opening measured on a loaded 2-core box,
  0.28 s for 2^15); files written with
  N = 2^15 before still open. The parameters read from a file are bounded
  (`SCRYPT_N_RANGE`, r, p), so a crafted file cannot make opening it take minutes or
  gigabytes. An empty passphrase is refused: it would protect nothing.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import secrets
from pathlib import Path
from typing import Any

import gmpy2
import phe
from gmpy2 import mpz

from sealdog.crypto.frame import canonical_json, check_format
from sealdog.errors import CorruptDataError, InsecureParametersError, SealdogError
from sealdog.fileio import atomic_write_text

__all__ = [  # canonical_json moved to crypto.frame; re-exported for its former importers
    "DEFAULT_KEY_BITS",
    "KEY_FORMAT_VERSION",
    "MIN_SECURE_BITS",
    "PUBLIC_KEY_FORMAT",
    "SCRYPT_N_RANGE",
    "SECRET_KEY_FORMAT",
    "EmptyPassphraseError",
    "PassphraseRequiredError",
    "PublicKey",
    "SecretKey",
    "WrongPassphraseError",
    "canonical_json",
    "generate_keypair",
    "load_public_key",
    "load_secret_key",
    "save_public_key",
    "save_secret_key",
]

MIN_SECURE_BITS = 2048
DEFAULT_KEY_BITS = 3072

PUBLIC_KEY_FORMAT = "sealdog-paillier-public-key"
SECRET_KEY_FORMAT = "sealdog-paillier-secret-key"
KEY_FORMAT_VERSION = 1

_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**17, 8, 1
SCRYPT_N_RANGE = (2**14, 2**20)  # accepted when opening: old files (2^15) up to 1 GiB at r = 8
_SCRYPT_MAX_R, _SCRYPT_MAX_P = 16, 4


class WrongPassphraseError(SealdogError):
    """The passphrase does not open this secret-key file (or the file was altered)."""


class PassphraseRequiredError(SealdogError):
    """The secret-key file is passphrase-protected and no passphrase was given."""


class EmptyPassphraseError(SealdogError):
    """An empty passphrase was given to protect a secret key."""


class PublicKey:
    """A Paillier public key with g = n + 1, so g^m = 1 + m*n (mod n^2)."""

    __slots__ = ("_fingerprint", "bits", "insecure", "n", "nsquare")

    n: mpz
    nsquare: mpz

    def __init__(self, n: int | mpz, *, insecure: bool = False) -> None:
        n = mpz(n)
        if n < 15 or n % 2 == 0 or gmpy2.is_square(n):
            raise CorruptDataError(
                "Paillier modulus n must be an odd composite > 15 that is not a square."
            )
        bits = int(n.bit_length())
        if bits < MIN_SECURE_BITS and not insecure:
            raise InsecureParametersError(
                f"A {bits}-bit Paillier key is below the {MIN_SECURE_BITS}-bit floor; "
                "use 3072 bits (or 2048), or pass insecure=True for tests and demos only."
            )
        self.n = n
        self.nsquare = n * n
        self.bits = bits
        self.insecure = bits < MIN_SECURE_BITS
        self._fingerprint: str | None = None

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "format": PUBLIC_KEY_FORMAT,
            "version": KEY_FORMAT_VERSION,
            "n": format(self.n, "x"),
        }
        if self.insecure:
            data["insecure"] = True
        return data

    @classmethod
    def from_json(cls, data: object) -> PublicKey:
        data = check_format(
            data,
            format=PUBLIC_KEY_FORMAT,
            version=KEY_FORMAT_VERSION,
            what="a Sealdog Paillier public key",
        )
        try:
            n = mpz(str(data["n"]), 16)
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptDataError("Public key JSON has no valid hexadecimal 'n'.") from exc
        return cls(n, insecure=bool(data.get("insecure", False)))

    @property
    def fingerprint(self) -> str:
        if self._fingerprint is None:
            self._fingerprint = hashlib.sha256(canonical_json(self.to_json())).hexdigest()
        return self._fingerprint

    def to_phe(self) -> phe.PaillierPublicKey:
        return phe.PaillierPublicKey(int(self.n))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and self.n == other.n

    def __hash__(self) -> int:
        return hash(self.n)

    def __repr__(self) -> str:
        return f"PublicKey(bits={self.bits}, fingerprint={self.fingerprint[:16]}...)"


class SecretKey:
    """The factorisation of n, with CRT constants precomputed for fast decryption."""

    __slots__ = ("_hp", "_hq", "_pinv_q", "_psquare", "_qsquare", "p", "public_key", "q")

    p: mpz
    q: mpz

    def __init__(self, public_key: PublicKey, p: int | mpz, q: int | mpz) -> None:
        p, q = mpz(p), mpz(q)
        if p * q != public_key.n:
            raise CorruptDataError("Secret key factors do not multiply to the public modulus n.")
        if p == q:
            raise CorruptDataError("Secret key factors p and q must differ.")
        if p > q:
            p, q = q, p
        self.public_key = public_key
        self.p, self.q = p, q
        self._psquare, self._qsquare = p * p, q * q
        self._hp = self._h(p, self._psquare)
        self._hq = self._h(q, self._qsquare)
        self._pinv_q = gmpy2.invert(p, q)

    def _h(self, prime: mpz, prime_sq: mpz) -> mpz:
        g = self.public_key.n + 1
        lp = (gmpy2.powmod(g, prime - 1, prime_sq) - 1) // prime
        return gmpy2.invert(lp, prime)

    def decrypt_raw(self, ciphertext: int | mpz) -> mpz:
        """The plaintext in [0, n) of a ciphertext 0 < c < n^2 (CRT: two half-size powmods)."""
        c = mpz(ciphertext)
        if not 0 < c < self.public_key.nsquare:
            raise CorruptDataError("Ciphertext out of range 0 < c < n^2: it is not for this key.")
        p, q = self.p, self.q
        mp = ((gmpy2.powmod(c, p - 1, self._psquare) - 1) // p) * self._hp % p
        mq = ((gmpy2.powmod(c, q - 1, self._qsquare) - 1) // q) * self._hq % q
        return mp + p * ((mq - mp) * self._pinv_q % q)

    def decrypt_signed(self, ciphertext: int | mpz) -> int:
        """The plaintext as a signed integer in the symmetric range [-(n-1)/2, (n-1)/2]."""
        m = self.decrypt_raw(ciphertext)
        n = self.public_key.n
        return int(m - n) if m > n // 2 else int(m)

    def to_json(self) -> dict[str, Any]:
        return {
            "format": SECRET_KEY_FORMAT,
            "version": KEY_FORMAT_VERSION,
            "public_key": self.public_key.to_json(),
            "p": format(self.p, "x"),
            "q": format(self.q, "x"),
        }

    @classmethod
    def from_json(cls, data: object) -> SecretKey:
        data = check_format(
            data,
            format=SECRET_KEY_FORMAT,
            version=KEY_FORMAT_VERSION,
            what="a Sealdog Paillier secret key",
        )
        public_key = PublicKey.from_json(data.get("public_key"))
        try:
            p, q = mpz(str(data["p"]), 16), mpz(str(data["q"]), 16)
        except (KeyError, ValueError, TypeError) as exc:
            raise CorruptDataError("Secret key JSON has no valid hexadecimal 'p' and 'q'.") from exc
        return cls(public_key, p, q)

    def __repr__(self) -> str:  # never print the factors
        return f"SecretKey(public_key={self.public_key!r})"


def generate_keypair(
    bits: int = DEFAULT_KEY_BITS, *, insecure: bool = False
) -> tuple[PublicKey, SecretKey]:
    """A fresh key pair (phe's generator: random primes of bits/2 each, via gmpy2)."""
    if bits < MIN_SECURE_BITS and not insecure:
        raise InsecureParametersError(
            f"Refusing to generate a {bits}-bit Paillier key (floor: {MIN_SECURE_BITS} bits; "
            f"default {DEFAULT_KEY_BITS}). Pass insecure=True only for tests and demos."
        )
    if bits < 128 or bits % 2:
        raise InsecureParametersError("Key size must be an even number of bits >= 128.")
    while True:
        phe_pk, phe_sk = phe.generate_paillier_keypair(n_length=bits)
        if mpz(phe_pk.n).bit_length() == bits:
            break
    pk = PublicKey(phe_pk.n, insecure=insecure)
    return pk, SecretKey(pk, phe_sk.p, phe_sk.q)


def save_public_key(pk: PublicKey, path: str | os.PathLike[str]) -> None:
    atomic_write_text(path, json.dumps(pk.to_json(), indent=2) + "\n", mode=0o644)


def load_public_key(path: str | os.PathLike[str]) -> PublicKey:
    return PublicKey.from_json(_read_json(path, "public key"))


def save_secret_key(
    sk: SecretKey, path: str | os.PathLike[str], passphrase: str | None = None
) -> None:
    """Write the secret key with mode 0600 (atomically); with a passphrase, encrypted."""
    data = sk.to_json()
    if passphrase is not None:
        _check_passphrase(passphrase)
        data = _seal_with_passphrase(data, passphrase, sk.public_key)
    atomic_write_text(path, json.dumps(data, indent=2) + "\n", mode=0o600)


def load_secret_key(path: str | os.PathLike[str], passphrase: str | None = None) -> SecretKey:
    data = _read_json(path, "secret key")
    if data.get("format") == SECRET_KEY_FORMAT + "-sealed":
        if not passphrase:
            raise PassphraseRequiredError(f"{path} is passphrase-protected: give its passphrase.")
        data = _open_with_passphrase(data, passphrase)
    return SecretKey.from_json(data)


def _read_json(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SealdogError(f"No {what} file at {path}.") from exc
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CorruptDataError(f"{path} is not valid JSON ({what} expected): {exc}") from exc
    if not isinstance(data, dict):
        raise CorruptDataError(f"{path} does not hold a JSON object ({what} expected).")
    return data


def _check_passphrase(passphrase: str) -> None:
    if not passphrase:
        raise EmptyPassphraseError(
            "Refusing an empty passphrase: it would protect nothing. Give a real passphrase, "
            "or none at all for an unprotected (0600) key file."
        )


def _check_kdf_params(n: int, r: int, p: int) -> None:
    """Bounds on a file's scrypt parameters, checked before any derivation runs."""
    low, high = SCRYPT_N_RANGE
    if not (low <= n <= high and n & (n - 1) == 0 and 1 <= r <= _SCRYPT_MAX_R):
        raise CorruptDataError(
            f"Secret-key file asks for scrypt n={n}, r={r}: outside what Sealdog writes or "
            f"reads (n a power of two in [2^14, 2^20], r <= {_SCRYPT_MAX_R})."
        )
    if not 1 <= p <= _SCRYPT_MAX_P:
        raise CorruptDataError(f"Secret-key file asks for scrypt p={p} (at most {_SCRYPT_MAX_P}).")


def _kdf(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

    _check_kdf_params(n, r, p)
    return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode("utf-8"))


def _seal_with_passphrase(data: dict[str, Any], passphrase: str, pk: PublicKey) -> dict[str, Any]:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    salt, nonce = secrets.token_bytes(16), secrets.token_bytes(12)
    key = _kdf(passphrase, salt, _SCRYPT_N, _SCRYPT_R, _SCRYPT_P)
    header = {
        "format": SECRET_KEY_FORMAT + "-sealed",
        "version": KEY_FORMAT_VERSION,
        "key_fingerprint": pk.fingerprint,
        "kdf": {
            "name": "scrypt",
            "n": _SCRYPT_N,
            "r": _SCRYPT_R,
            "p": _SCRYPT_P,
            "salt": base64.b64encode(salt).decode(),
        },
        "cipher": {"name": "AES-256-GCM", "nonce": base64.b64encode(nonce).decode()},
    }
    ct = AESGCM(key).encrypt(nonce, canonical_json(data), canonical_json(header))
    return {**header, "ciphertext": base64.b64encode(ct).decode()}


def _open_with_passphrase(sealed: dict[str, Any], passphrase: str) -> dict[str, Any]:
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    try:
        header = {k: v for k, v in sealed.items() if k != "ciphertext"}
        kdf, cipher = header["kdf"], header["cipher"]
        if kdf["name"] != "scrypt" or cipher["name"] != "AES-256-GCM":
            raise CorruptDataError("Unsupported secret-key protection scheme.")
        salt, nonce = base64.b64decode(kdf["salt"]), base64.b64decode(cipher["nonce"])
        ct = base64.b64decode(sealed["ciphertext"])
        key = _kdf(passphrase, salt, int(kdf["n"]), int(kdf["r"]), int(kdf["p"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise CorruptDataError("Passphrase-protected secret-key file is malformed.") from exc
    try:
        plain = AESGCM(key).decrypt(nonce, ct, canonical_json(header))
    except InvalidTag as exc:
        raise WrongPassphraseError(
            "Wrong passphrase for this secret-key file (or the file was altered)."
        ) from exc
    data = json.loads(plain)
    if not isinstance(data, dict):  # authenticated, so only a writer's bug could get here
        raise CorruptDataError("Passphrase-protected secret key does not hold a JSON object.")
    return data
