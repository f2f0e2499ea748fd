"""CKKS keys: the key holder's private context and the server bundle without the secret key.

A TenSEAL context holds the parameters and keys. The key holder's (`KeyHolderContext`) has
the secret key; `server_bundle()` serialises a copy made public (`make_context_public`):
parameters, public key and relinearisation keys, no secret key and no Galois keys (the
networks never rotate). Its SHA-256 is the key fingerprint named in every sealed model.

Reading a bundle (`load_public`) is what the server does with untrusted bytes: it refuses a
bundle that carries a secret key, reads N and the moduli back from SEAL's own context and
checks them against the HE Standard's table and a known preset, so a sealed model can never
bring weaker parameters than the ones this build knows.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, field
from typing import Any

from sealdog.crypto.ckks.backend import sealapi, tenseal
from sealdog.crypto.ckks.errors import CkksCorruptDataError, CkksParameterError
from sealdog.crypto.ckks.params import PRESETS, CkksParams, security_bits
from sealdog.crypto.frame import Frame
from sealdog.fileio import atomic_write_bytes

MAX_BUNDLE_BYTES = 256 * 1024 * 1024
KEY_FILE = Frame(b"SDKK", 1, "sealdog-ckks-secret-key", "a Sealdog CKKS secret-key file")


def build_context(params: CkksParams) -> Any:
    """A fresh private TenSEAL context for `params` (checked first) with relinearisation keys."""
    ts = tenseal()
    params.check()
    ctx = ts.context(
        ts.SCHEME_TYPE.CKKS,
        poly_modulus_degree=params.poly_modulus_degree,
        coeff_mod_bit_sizes=list(params.coeff_mod_bit_sizes),
    )
    ctx.global_scale = float(2**params.scale_bits)
    ctx.generate_relin_keys()
    return ctx


def read_back(ctx: Any) -> tuple[int, tuple[int, ...]]:
    """(N, modulus bit sizes) as SEAL's own context holds them (special prime included)."""
    sealapi()  # registers SEAL's types with the binding
    data = ctx.seal_context().data.key_context_data()
    parms = data.parms()
    bits = tuple(int(q.bit_count()) for q in parms.coeff_modulus())
    return int(parms.poly_modulus_degree()), bits


def params_of(ctx: Any) -> CkksParams:
    """The known preset a context was built with; CkksParameterError if it matches none or
    falls short of 128 bits by the HE Standard (checked on what SEAL reports)."""
    n, bits = read_back(ctx)
    if security_bits(n, sum(bits)) < 128:
        raise CkksParameterError(
            f"CKKS context with ring dimension {n} and {sum(bits)} modulus bits is below "
            "128-bit security by the HE Standard"
        )
    scale = float(ctx.global_scale)
    for params in PRESETS.values():
        if (
            params.poly_modulus_degree == n
            and params.coeff_mod_bit_sizes == bits
            and scale == float(2**params.scale_bits)
        ):
            return params
    raise CkksParameterError(
        f"CKKS context (N={n}, moduli {list(bits)}) matches no preset this build knows "
        f"({', '.join(sorted(PRESETS))})"
    )


def fingerprint(bundle: bytes) -> str:
    """The key's name: SHA-256 of the server bundle's bytes."""
    return hashlib.sha256(bundle).hexdigest()


def load_public(bundle: bytes) -> tuple[Any, CkksParams]:
    """(public context, its preset) from server-bundle bytes; refuses a secret key."""
    if len(bundle) > MAX_BUNDLE_BYTES:
        raise CkksCorruptDataError(f"CKKS bundle is over {MAX_BUNDLE_BYTES:,} bytes")
    ts = tenseal()
    try:
        ctx = ts.context_from(bytes(bundle))
    except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError from C++
        raise CkksCorruptDataError(f"not a CKKS context ({type(exc).__name__})") from None
    if ctx.is_private() or ctx.has_secret_key():
        raise CkksParameterError("a server bundle must not carry the secret key; refusing it")
    if not ctx.has_public_key() or not ctx.has_relin_keys():
        raise CkksCorruptDataError("a CKKS server bundle needs the public and relinearisation keys")
    return ctx, params_of(ctx)


@dataclass
class KeyHolderContext:
    """The key holder's side: the private context (secret key inside). Never sent anywhere."""

    context: Any
    params: CkksParams
    _bundle: bytes | None = field(default=None, repr=False, compare=False)

    @classmethod
    def generate(cls, params: CkksParams) -> KeyHolderContext:
        ctx = build_context(params)
        return cls(ctx, params_of(ctx))

    def server_bundle(self) -> bytes:
        """Parameters, public key, relinearisation keys: what the server and the trainer get
        (serialised once; its SHA-256 is the key fingerprint)."""
        if self._bundle is not None:
            return self._bundle
        public = self.context.copy()
        public.make_context_public()
        data: bytes = public.serialize(
            save_public_key=True,
            save_secret_key=False,
            save_galois_keys=False,
            save_relin_keys=True,
        )
        self._bundle = data
        return data

    @property
    def key_fingerprint(self) -> str:
        return fingerprint(self.server_bundle())

    def to_bytes(self) -> bytes:
        """The private context (secret key included) and the server bundle, framed: write it
        only with `write` (0600). The bundle travels along because TenSEAL's serialisation
        is not deterministic: a bundle made again from a reloaded context has other bytes,
        hence another fingerprint, and outputs of models already sealed would not match."""
        private: bytes = self.context.serialize(save_secret_key=True)
        bundle = self.server_bundle()
        header = {
            "format": KEY_FILE.format,
            "key_fingerprint": fingerprint(bundle),
            "private_bytes": len(private),
        }
        return KEY_FILE.write(header, private + bundle)

    def write(self, path: str | os.PathLike[str]) -> None:
        """Atomically, readable by the owner only."""
        atomic_write_bytes(path, self.to_bytes(), mode=0o600)

    @classmethod
    def from_bytes(cls, data: bytes) -> KeyHolderContext:
        header, body = KEY_FILE.read(data)
        size = header.get("private_bytes")
        if not isinstance(size, int) or isinstance(size, bool) or not 0 < size < len(body):
            raise CkksCorruptDataError("CKKS key file: bad 'private_bytes'")
        private, bundle = bytes(body[:size]), bytes(body[size:])
        if fingerprint(bundle) != header.get("key_fingerprint"):
            raise CkksCorruptDataError("CKKS key file: the bundle does not match its fingerprint")
        ts = tenseal()
        try:
            ctx = ts.context_from(private)
        except Exception as exc:  # TenSEAL raises bare ValueError/RuntimeError from C++
            raise CkksCorruptDataError(f"not a CKKS context ({type(exc).__name__})") from None
        if not ctx.is_private():
            raise CkksCorruptDataError("this CKKS context has no secret key")
        return cls(ctx, params_of(ctx), bundle)
