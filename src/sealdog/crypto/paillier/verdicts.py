"""Verdict-only blinding, packing of many scores into one ciphertext, and their decryption.

Blinding (verdict mode): for an integer score s the server returns Enc(t) with
t = r*s + r', r >= 1 and r' uniform in [0, r), both secret and fresh per score. Then t >= 0 iff
s >= 0, exactly (s = -1 gives t <= -r + r' < 0; s = 0 gives t = r' >= 0). Score mode uses
r = 1, r' = 0 (t = s).

r is LOG-UNIFORM (see `BlindingFactor`): r = m * 2^u with u uniform in 0..U and a mantissa m
of M = bitlen(B) + KAPPA + 1 bits drawn with density proportional to 1/m, so r has density
~1/r on [2^(M-1), 2^(M+U)). Why: given t, the likelihood of a score s is
sum_{r in (t/(s+1), t/s]} P(r)/r ~ integral c/r^2 dr = c/t, the same for every s whose
window fits; the key holder's view of |s| is flat over a window of U octaves. For two scores
of the same sign whose magnitudes differ by a factor 2^delta, the statistical distance
between their slot values is about delta/(U+1), plus ~2^-KAPPA because the support of r is
discrete (the mantissa must exceed |s| by KAPPA bits so that consecutive candidates r
overlap; a short mantissa would pin s to the few values floor(t/r)). A uniform 64-bit r, by
contrast, puts 3/4 of its mass in the top two octaves: the key holder reads log2|s| to ~2
bits (distance 1/2 between s and 2s).

Packing: with |s| <= B (the model's score_bound), |t| < T = (B + 1) * 2^rho. Each slot holds
v = t + T in [1, 2T - 1] (a public offset makes it non-negative), slot_bits = bitlen(2T - 1)
(= rho + bitlen(B) + 1 or + 2), and K = floor((bitlen(n) - 2) / slot_bits) slots fit below n:
P = sum_k v_k * 2^(slot_bits * k) < 2^(bitlen(n) - 2) < n. The server computes Enc(P) as one
Horner chain prod_k Enc(s_k)^(r_k * 2^(slot_bits*k)) with r_k's bits riding on the shift
squarings, times the public constant (1 + M*n) with M = sum_k (r'_k + T) * 2^(slot_bits*k),
then re-randomises once per packed ciphertext.

Unpacking checks that every slot is in [1, 2T - 1] and the bits above the last slot are zero,
so a ciphertext decrypted with the wrong key (a uniform P) is rejected except with
probability about 2^-(slots + 1); the key fingerprint is checked before that.
"""

from __future__ import annotations

import json
import secrets
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from gmpy2 import mpz

from sealdog.crypto.paillier.codec import (
    ciphertexts_from_json,
    ciphertexts_to_json,
    decode_ciphertexts,
    encode_ciphertexts,
    width_for_modulus_bits,
)
from sealdog.crypto.paillier.keys import PublicKey, SecretKey, canonical_json
from sealdog.errors import CorruptDataError, KeyMismatchError, SealdogError


class Mode(StrEnum):
    """What a scored ciphertext holds: a blinded verdict (the default) or the exact score."""

    VERDICT = "verdict"
    SCORE = "score"


MODES = tuple(Mode)
VERDICTS_FORMAT = "sealdog-paillier-verdicts"
VERDICTS_VERSION = 1
_BYTES_MAGIC = b"SDEV"
_WINDOW_BITS = 3  # the mantissa's window in the Horner chain: 2^w - 2 precomputed powers per slot
BLINDING_WINDOW_OCTAVES = 16  # U: |s| is hidden within 2^U (distance ~delta/(U+1) per 2^delta)
BLINDING_MARGIN_BITS = 8  # KAPPA: mantissa > 2^KAPPA * |s|; discreteness adds ~2^-KAPPA distance


class PackingError(SealdogError):
    """Scores of this size (with this blinding) cannot be packed under this key."""


@dataclass(frozen=True)
class PackingLayout:
    """Slot geometry, fully derived from (n_bits, score_bound, blinding_bits)."""

    n_bits: int
    score_bound: int
    blinding_bits: int
    slot_bits: int
    slots: int
    offset: int

    @classmethod
    def derive(cls, n_bits: int, score_bound: int, blinding_bits: int) -> PackingLayout:
        if score_bound < 0 or blinding_bits < 0:
            raise PackingError("score_bound and blinding_bits must be non-negative.")
        offset = (score_bound + 1) << blinding_bits  # T: |t| < T
        slot_bits = int((2 * offset - 1).bit_length())
        slots = (n_bits - 2) // slot_bits
        if slots < 1:
            raise PackingError(
                f"A slot of {slot_bits} bits (score bound {score_bound.bit_length()} bits + "
                f"{blinding_bits} blinding bits) does not fit a {n_bits}-bit key."
            )
        return cls(n_bits, score_bound, blinding_bits, slot_bits, slots, offset)

    def packs_for(self, count: int) -> int:
        return -(-count // self.slots)

    def to_json(self) -> dict[str, Any]:
        return {
            "n_bits": self.n_bits,
            "score_bound": str(self.score_bound),
            "blinding_bits": self.blinding_bits,
            "slot_bits": self.slot_bits,
            "slots": self.slots,
            "offset": str(self.offset),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackingLayout:
        try:
            layout = cls.derive(int(data["n_bits"]), int(data["score_bound"]), int(data["blinding_bits"]))
        except (KeyError, TypeError, ValueError) as exc:
            raise CorruptDataError("Packing layout is missing n_bits/score_bound/blinding_bits.") from exc
        if layout.to_json() != {k: data.get(k) for k in layout.to_json()}:
            raise CorruptDataError("Packing layout fields are inconsistent with its bounds (tampered?).")
        return layout


def blinding_bits_for(score_bound: int, window_octaves: int = BLINDING_WINDOW_OCTAVES) -> int:
    """Bit length of the log-uniform blinding factor r for scores |s| <= score_bound.

    Mantissa bitlen(B) + KAPPA + 1 bits (so m > 2^KAPPA * |s|), plus U octaves of 2^u.
    """
    return int(mpz(max(score_bound, 1)).bit_length()) + BLINDING_MARGIN_BITS + 1 + window_octaves


@dataclass(frozen=True)
class BlindingFactor:
    """Sampler of the secret r = m * 2^u (and r' in [0, r)) for one packing layout.

    Invariants: 1 <= r < 2^(mantissa_bits + octaves) = 2^layout.blinding_bits, and r' < r, so
    the sign of r*s + r' is exactly the sign of s (with 0 counted as positive). The mantissa m
    has density proportional to 1/m on [2^(M-1), 2^M) (rejection sampling: accept m with
    probability 2^(M-1)/m), u is uniform in 0..octaves: log2 r is flat on [M-1, M+octaves).
    """

    mantissa_bits: int
    octaves: int

    @classmethod
    def for_layout(cls, layout: PackingLayout) -> BlindingFactor:
        """Mantissa of bitlen(B) + KAPPA + 1 bits, the rest of layout.blinding_bits as octaves.

        A layout with fewer blinding bits than that (explicit `blinding_bits`) gets a shorter
        mantissa and no octaves: still exact signs, weaker magnitude hiding.
        """
        total = layout.blinding_bits
        mantissa = min(total, int(mpz(max(layout.score_bound, 1)).bit_length()) + BLINDING_MARGIN_BITS + 1)
        return cls(mantissa, total - mantissa)

    def sample(self) -> tuple[int, int, int]:
        """(m, u, r') with r = m << u; r' uniform in [0, r)."""
        low = 1 << (self.mantissa_bits - 1)
        while True:
            m = low + secrets.randbits(self.mantissa_bits - 1)
            if secrets.randbelow(m) < low:  # accept with probability low/m: density ~ 1/m
                break
        u = secrets.randbelow(self.octaves + 1)
        return m, u, secrets.randbelow(m << u)


@dataclass(frozen=True)
class EncryptedVerdicts:
    """Packed, blinded, re-randomised scores of `count` inputs, in input order."""

    key_fingerprint: str
    mode: str
    count: int
    layout: PackingLayout
    ciphertexts: list

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise CorruptDataError(f"Unknown verdict mode {self.mode!r}; expected one of {MODES}.")
        if self.count < 0 or len(self.ciphertexts) != self.layout.packs_for(self.count):
            raise CorruptDataError(
                f"{len(self.ciphertexts)} packed ciphertexts cannot hold {self.count} verdicts "
                f"at {self.layout.slots} per ciphertext."
            )
        if self.mode == "score" and self.layout.blinding_bits != 0:
            raise CorruptDataError("Score mode must not carry blinding bits.")

    def _header(self) -> dict[str, Any]:
        return {
            "format": VERDICTS_FORMAT,
            "version": VERDICTS_VERSION,
            "key_fingerprint": self.key_fingerprint,
            "mode": self.mode,
            "count": self.count,
            "layout": self.layout.to_json(),
        }

    @property
    def _width(self) -> int:
        return width_for_modulus_bits(self.layout.n_bits)

    def to_json(self) -> dict[str, Any]:
        return {**self._header(), "ciphertexts": ciphertexts_to_json(self.ciphertexts, width=self._width)}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> EncryptedVerdicts:
        header = cls._check_header(data)
        layout = header["layout"]
        cts = ciphertexts_from_json(data.get("ciphertexts"), width=width_for_modulus_bits(layout.n_bits))  # type: ignore[arg-type]
        return cls(header["key_fingerprint"], header["mode"], header["count"], layout, cts)

    def to_bytes(self) -> bytes:
        head = canonical_json(self._header())
        body = encode_ciphertexts(self.ciphertexts, width=self._width)
        return _BYTES_MAGIC + struct.pack(">BI", VERDICTS_VERSION, len(head)) + head + body

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedVerdicts:
        if len(data) < 9 or data[:4] != _BYTES_MAGIC:
            raise CorruptDataError("Not Sealdog encrypted verdicts (bad magic or truncated).")
        version, head_len = struct.unpack_from(">BI", data, 4)
        if version != VERDICTS_VERSION:
            raise CorruptDataError(f"Unsupported encrypted-verdicts version {version}.")
        if len(data) < 9 + head_len:
            raise CorruptDataError("Encrypted verdicts are truncated (header).")
        try:
            raw_header = json.loads(data[9 : 9 + head_len])
        except ValueError as exc:
            raise CorruptDataError("Encrypted verdicts header is not valid JSON.") from exc
        header = cls._check_header(raw_header)
        layout = header["layout"]
        cts = decode_ciphertexts(data[9 + head_len :], width=width_for_modulus_bits(layout.n_bits))
        return cls(header["key_fingerprint"], header["mode"], header["count"], layout, cts)

    @staticmethod
    def _check_header(data: Any) -> dict[str, Any]:
        if not isinstance(data, dict) or data.get("format") != VERDICTS_FORMAT:
            raise CorruptDataError(f"Not Sealdog encrypted verdicts (expected format {VERDICTS_FORMAT!r}).")
        if data.get("version") != VERDICTS_VERSION:
            raise CorruptDataError(f"Unsupported encrypted-verdicts version {data.get('version')!r}.")
        fp, mode, count = data.get("key_fingerprint"), data.get("mode"), data.get("count")
        if not isinstance(fp, str) or not isinstance(count, int) or isinstance(count, bool):
            raise CorruptDataError("Encrypted verdicts need a string key_fingerprint and an integer count.")
        if not isinstance(data.get("layout"), dict):
            raise CorruptDataError("Encrypted verdicts have no packing layout.")
        return {"key_fingerprint": fp, "mode": mode, "count": count, "layout": PackingLayout.from_json(data["layout"])}


# --- server side: blinding + packing -------------------------------------------------------


def pack_scores(
    pk: PublicKey,
    layout: PackingLayout,
    scores: Sequence[mpz],
    *,
    blind: bool,
) -> mpz:
    """Enc(P) for up to `layout.slots` score ciphertexts (NOT yet re-randomised).

    With `blind`, slot k holds r_k*s_k + r'_k + T for fresh secret r_k = m_k*2^u_k, r'_k
    (`BlindingFactor.for_layout`); otherwise s_k + T. Each slot costs exactly slot_bits
    squarings of the accumulator (the shift; r_k's bits ride on them) plus m_k's nonzero
    3-bit windows and 6 products for their table.
    """
    m = len(scores)
    if not 0 < m <= layout.slots:
        raise PackingError(f"A pack holds 1..{layout.slots} scores, got {m}.")
    nsq, n = pk.nsquare, pk.n
    sb, offset = layout.slot_bits, layout.offset
    const = 0
    acc: mpz | None = None
    if not blind or layout.blinding_bits == 0:
        for k in range(m - 1, -1, -1):
            if acc is not None:
                acc = _square_times(acc, sb, nsq) * scores[k] % nsq
            else:
                acc = scores[k]
            const = (const << sb) + offset
    else:
        blinding = BlindingFactor.for_layout(layout)
        w = _WINDOW_BITS
        windows = -(-blinding.mantissa_bits // w)
        if sb < windows * w + blinding.octaves:
            raise PackingError("Slot narrower than the blinding factor; raise the score bound or lower rho.")
        mask = (1 << w) - 1
        sample = blinding.sample
        for k in range(m - 1, -1, -1):
            mant, u, r_prime = sample()
            c = scores[k]
            c2 = c * c % nsq
            powers = [None, c, c2, c2 * c % nsq]
            for _ in range(4, 1 << w):
                powers.append(powers[-1] * c % nsq)
            # acc^(2^sb) * c^(mant * 2^u): sb - u - windows*w squarings, mant's windows, u squarings
            if acc is not None:
                acc = _square_times(acc, sb - u - windows * w, nsq)
            for j in range(windows - 1, -1, -1):
                if acc is not None:
                    for _ in range(w):
                        acc = acc * acc % nsq
                d = (mant >> (w * j)) & mask
                if d:
                    acc = powers[d] if acc is None else acc * powers[d] % nsq
            assert acc is not None  # mant >= 1, so some window digit was non-zero
            acc = _square_times(acc, u, nsq)
            const = (const << sb) + r_prime + offset
    assert acc is not None
    # times (1 + const*n) = acc + n*(acc*const mod n)  (mod n^2)
    return (acc + n * (acc * const % n)) % nsq


def _square_times(x: mpz, times: int, nsq: mpz) -> mpz:
    for _ in range(times):
        x = x * x % nsq
    return x


# --- key holder side: decryption + unpacking -----------------------------------------------


def _check_key(sk: SecretKey, ev: EncryptedVerdicts) -> None:
    if ev.key_fingerprint != sk.public_key.fingerprint:
        raise KeyMismatchError(
            f"These verdicts are for key {ev.key_fingerprint[:16]}..., not for this secret key "
            f"({sk.public_key.fingerprint[:16]}...)."
        )
    if ev.layout.n_bits != sk.public_key.bits:
        raise KeyMismatchError("Verdict layout was made for a different key size.")


def _unpack_slot_values(sk: SecretKey, ev: EncryptedVerdicts) -> list[int]:
    """Decrypt every pack and return the centred slot values t (in input order), checked."""
    _check_key(sk, ev)
    layout = ev.layout
    sb, offset = layout.slot_bits, layout.offset
    mask = (mpz(1) << sb) - 1
    hi = 2 * offset - 1
    out: list[int] = []
    remaining = ev.count
    for i, c in enumerate(ev.ciphertexts):
        m = min(layout.slots, remaining)
        try:
            packed = sk.decrypt_raw(c)
        except CorruptDataError as exc:
            raise KeyMismatchError(
                f"Packed ciphertext #{i} is out of range for this key: wrong key or corrupt data."
            ) from exc
        if packed >> (sb * m):
            raise KeyMismatchError(
                f"Packed ciphertext #{i} decrypts to bits above its last slot: wrong key or corrupt data."
            )
        for _ in range(m):
            v = int(packed & mask)
            if not 1 <= v <= hi:
                raise KeyMismatchError(
                    f"Packed ciphertext #{i} holds a slot outside its range: wrong key or corrupt data."
                )
            out.append(v - offset)
            packed >>= sb
        remaining -= m
    return out


def decrypt_verdicts(sk: SecretKey, ev: EncryptedVerdicts) -> list[bool]:
    """One verdict per input, in order: True (positive, e.g. spam) iff the score s >= 0."""
    return [t >= 0 for t in _unpack_slot_values(sk, ev)]


def decrypt_scores(sk: SecretKey, ev: EncryptedVerdicts) -> list[int]:
    """Exact integer fixed-point scores (score mode only: verdict mode hides magnitudes)."""
    if ev.mode != "score":
        raise SealdogError(
            "These are verdict-only results: their scores are blinded; use decrypt_verdicts "
            "(exact scores need a model the server scores in score mode)."
        )
    return _unpack_slot_values(sk, ev)


def verdict_of_score(score: int) -> bool:
    """The plaintext rule the encrypted path reproduces exactly."""
    return score >= 0


__all__ = [
    "BlindingFactor",
    "EncryptedVerdicts",
    "PackingError",
    "PackingLayout",
    "blinding_bits_for",
    "decrypt_scores",
    "decrypt_verdicts",
    "pack_scores",
    "verdict_of_score",
]
