"""Verdict-only blinding, packing of many scores into one ciphertext, and their decryption.

Blinding (verdict mode): for an integer score s the server returns Enc(t) with
t = r*(2s + 1) + r', r >= 1 and r' uniform in [0, r), both secret and fresh per score. Then
t >= 0 iff s >= 0, exactly (s >= 0 gives t >= r > 0; s <= -1 gives 2s + 1 <= -1 and
t <= -r + r' < 0). Scoring the odd value 2s + 1 (issue 14) means no score is zero: the form
before it, t = r*s + r' (`Blinding.LEGACY`, still decoded and kept as a weak variant for the
attack tests), gave s = 0 the slot t = r' < min r, which no other score can produce: the key
holder read "s = 0" with certainty in 8.4% of verdicts. Score mode uses t = s.

Blinding settings (`Blinding`): the log-uniform window of r spans U octaves: 16 (STANDARD,
the default), 40 (WIDE), or bitlen(2B + 1) + 1 (STRONGEST: the whole magnitude range of
the bound, so the key holder's view of log2|2s + 1| is a uniform-noise channel of width at
least the range of its input: at most 1 bit per verdict beyond the sign). Wider windows make
wider slots, hence fewer verdicts per ciphertext. What remains at the window's edges (e.g.
the smallest |2s + 1| = 1 is the only one reaching t < 3 * min r) is measured by
bench/verdict_leak.py and stated in docs/paillier.md.

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

Packing: with |s| <= B (the layout's score_bound), |t| < T = (B + 1) * 2^(rho + 1) for odd
scores (|r*(2s + 1) + r'| < 2^rho * (2B + 2)), T = (B + 1) * 2^rho for the legacy form. Each
slot holds v = t + T in [1, 2T - 1] (a public offset makes it non-negative),
slot_bits = bitlen(2T - 1), and K = floor((bitlen(n) - 2) / slot_bits) slots fit below n:
P = sum_k v_k * 2^(slot_bits * k) < 2^(bitlen(n) - 2) < n. The server computes Enc(P) as one
Horner chain prod_k Enc(s_k)^(r_k * 2^(slot_bits*k)) with r_k's bits riding on the shift
squarings (one more for the factor 2 of odd scores), times the public constant (1 + M*n)
with M = sum_k (r_k + r'_k + T) * 2^(slot_bits*k) (r_k is not added in the legacy form),
then re-randomises once per packed ciphertext.

Unpacking checks that every slot is in [1, 2T - 1] and the bits above the last slot are zero,
so a ciphertext decrypted with the wrong key (a uniform P) is rejected except with
probability about 2^-(slots + 1); the key fingerprint is checked before that.

A layout read from the wire comes from a server the key holder does not trust: every value
is type-checked and bounded (`MAX_LAYOUT_N_BITS`, a slot that fits the key) before anything
is computed from it, so a `blinding_bits` of 4e9 is refused in microseconds instead of
allocating a 500 MB offset first.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum
from itertools import pairwise
from typing import Any, TypeGuard, TypeVar

from gmpy2 import mpz

from sealdog.crypto.frame import Frame, check_format
from sealdog.crypto.paillier.codec import (
    ciphertexts_from_json,
    ciphertexts_to_json,
    decode_ciphertexts,
    encode_ciphertexts,
    width_for_modulus_bits,
)
from sealdog.crypto.paillier.encryption import Ciphertexts, encrypt
from sealdog.crypto.paillier.horner import shift_and_raise, square_times
from sealdog.crypto.paillier.keys import PublicKey, SecretKey
from sealdog.errors import CorruptDataError, KeyMismatchError, SealdogError

_E = TypeVar("_E", bound=StrEnum)


def _member(enum: type[_E], value: object, what: str) -> _E:
    """The member of `enum` whose wire string is `value` (a member is its own string);
    SealdogError naming the choices for anything else, a non-string included."""
    if isinstance(value, str):
        try:
            return enum(value)
        except ValueError:
            pass
    choices = ", ".join(m.value for m in enum)
    raise SealdogError(f"Unknown {what} {value!r}; expected one of {choices}.")


class Mode(StrEnum):
    """What a scored ciphertext holds: a blinded verdict (the default) or the exact score.

    A member is its wire string (`Mode.SCORE == "score"`), so JSON and stored rows are unchanged.
    """

    VERDICT = "verdict"
    SCORE = "score"

    @classmethod
    def parse(cls, value: object) -> Mode:
        """The member named by `value` (a Mode or its string); SealdogError for anything else."""
        return _member(cls, value, "mode")


VERDICTS_FORMAT = "sealdog-paillier-verdicts"
VERDICTS_VERSION = 1
VERDICTS_FRAME = Frame(b"SDEV", VERDICTS_VERSION, VERDICTS_FORMAT, "Sealdog encrypted verdicts")
_WINDOW_BITS = 3  # the mantissa's window in the Horner chain: 2^w - 2 precomputed powers per slot
BLINDING_WINDOW_OCTAVES = 16  # U: |s| is hidden within 2^U (distance ~delta/(U+1) per 2^delta)
BLINDING_MARGIN_BITS = 8  # KAPPA: mantissa > 2^KAPPA * |s|; discreteness adds ~2^-KAPPA distance
WIDE_WINDOW_OCTAVES = 40  # Blinding.WIDE
MIN_LAYOUT_N_BITS = 128  # the smallest key `generate_keypair` makes (insecure=True)
MAX_LAYOUT_N_BITS = 16384  # far above any key Sealdog makes (3072 default); bounds a wire layout
MAX_FINGERPRINT_CHARS = 128  # a SHA-256 hex digest is 64


class Blinding(StrEnum):
    """How a verdict is blinded: the width U of r's log-uniform window, and the score form.

    STANDARD (default), WIDE and STRONGEST blind the odd value 2s + 1 with U = 16, 40 and
    bitlen(2B + 1) + 1 octaves. LEGACY is the form before issue 14 (r*s + r', U = 16): it
    reveals s = 0; only a library/test knob (and a demo-mode server) can select it.
    """

    LEGACY = "legacy"
    STANDARD = "standard"
    WIDE = "wide"
    STRONGEST = "strongest"

    @property
    def odd_scores(self) -> bool:
        return self is not Blinding.LEGACY

    def octaves(self, score_bound: int) -> int:
        """U for scores |s| <= score_bound under this setting."""
        if self is Blinding.STRONGEST:
            return int((2 * max(score_bound, 1) + 1).bit_length()) + 1
        return WIDE_WINDOW_OCTAVES if self is Blinding.WIDE else BLINDING_WINDOW_OCTAVES

    @classmethod
    def parse(cls, value: object) -> Blinding:
        """The member named by `value` (a Blinding or its string); SealdogError otherwise."""
        return _member(cls, value, "blinding")


class PackingError(SealdogError):
    """Scores of this size (with this blinding) cannot be packed under this key."""


@dataclass(frozen=True)
class PackingLayout:
    """Slot geometry, fully derived from (n_bits, score_bound, blinding_bits, odd_scores).

    `odd_scores`: slots hold r*(2s + 1) + r' (T doubles); False is the legacy form r*s + r'
    (and score mode). On the wire the field appears only when true, so a legacy layout is
    byte-for-byte what it always was, and a client that predates it refuses an odd layout
    (its offset is inconsistent for it) instead of misreading it.
    """

    n_bits: int
    score_bound: int
    blinding_bits: int
    slot_bits: int
    slots: int
    offset: int
    odd_scores: bool = False

    @classmethod
    def derive(
        cls, n_bits: int, score_bound: int, blinding_bits: int, *, odd_scores: bool = False
    ) -> PackingLayout:
        if score_bound < 0 or blinding_bits < 0:
            raise PackingError("score_bound and blinding_bits must be non-negative.")
        if odd_scores and blinding_bits == 0:
            raise PackingError("Odd-score blinding needs blinding bits.")
        shift = blinding_bits + int(odd_scores)
        # slot_bits = bitlen(2T - 1) = bitlen(B + 1) + shift + 1; refuse a slot wider than the
        # key BEFORE computing T = (B + 1) << shift, whose size a hostile rho would inflate.
        if (score_bound + 1).bit_length() + shift + 1 > n_bits - 2:
            raise PackingError(
                f"A slot of {(score_bound + 1).bit_length() + shift + 1} bits (score "
                f"bound {score_bound.bit_length()} bits + {blinding_bits} blinding bits) does "
                f"not fit a {n_bits}-bit key."
            )
        offset = (score_bound + 1) << shift  # T: |t| < T
        slot_bits = int((2 * offset - 1).bit_length())
        slots = (n_bits - 2) // slot_bits
        if slots < 1:
            raise PackingError(
                f"A slot of {slot_bits} bits (score bound {score_bound.bit_length()} bits + "
                f"{blinding_bits} blinding bits) does not fit a {n_bits}-bit key."
            )
        return cls(n_bits, score_bound, blinding_bits, slot_bits, slots, offset, odd_scores)

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
            **({"odd_scores": True} if self.odd_scores else {}),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> PackingLayout:
        """A layout from untrusted JSON: types and bounds checked before `derive` runs.

        n_bits: an int in [MIN_LAYOUT_N_BITS, MAX_LAYOUT_N_BITS]; blinding_bits: an int in
        [0, n_bits]; score_bound: a decimal string (or int) of at most n_bits bits. Every
        failure is a `CorruptDataError`.
        """
        n_bits = data.get("n_bits")
        rho = data.get("blinding_bits")
        odd = data.get("odd_scores", False)
        if odd is not True and odd is not False:
            raise CorruptDataError(f"Packing layout odd_scores must be true, got {odd!r:.40}.")
        bound = data.get("score_bound")
        if not _plain_int(n_bits) or not MIN_LAYOUT_N_BITS <= n_bits <= MAX_LAYOUT_N_BITS:
            raise CorruptDataError(
                f"Packing layout n_bits must be an integer in [{MIN_LAYOUT_N_BITS}, "
                f"{MAX_LAYOUT_N_BITS}], got {n_bits!r:.40}."
            )
        if not _plain_int(rho) or not 0 <= rho <= n_bits:
            raise CorruptDataError(
                f"Packing layout blinding_bits must be an integer in [0, {n_bits}], "
                f"got {rho!r:.40}."
            )
        if (
            isinstance(bound, str)
            and 0 < len(bound) <= n_bits // 3 + 2
            and bound.isascii()
            and bound.isdigit()
        ):
            bound = int(bound)  # at most n_bits // 3 + 2 decimal digits: cheap
        if not _plain_int(bound) or not 0 <= bound < (1 << n_bits):
            raise CorruptDataError(
                f"Packing layout score_bound must be a non-negative integer of at most {n_bits} "
                f"bits, got {str(bound)!r:.40}."
            )
        try:
            layout = cls.derive(n_bits, bound, rho, odd_scores=odd)
        except PackingError as exc:
            raise CorruptDataError(f"Packing layout cannot be used: {exc}") from None
        if layout.to_json() != {k: data.get(k) for k in layout.to_json()}:
            raise CorruptDataError(
                "Packing layout fields are inconsistent with its bounds (tampered?)."
            )
        return layout


def _plain_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def blinding_bits_for(
    score_bound: int,
    window_octaves: int = BLINDING_WINDOW_OCTAVES,
    *,
    blinding: Blinding = Blinding.LEGACY,
) -> int:
    """Bit length of the log-uniform blinding factor r for scores |s| <= score_bound.

    Mantissa `mantissa_bits_for` (m > 2^KAPPA * the largest blinded magnitude), plus U
    octaves of 2^u: `window_octaves` for LEGACY (the historic signature), the setting's own
    for the others.
    """
    octaves = window_octaves if blinding is Blinding.LEGACY else blinding.octaves(score_bound)
    return mantissa_bits_for(score_bound, odd_scores=blinding.odd_scores) + octaves


def mantissa_bits_for(score_bound: int, *, odd_scores: bool) -> int:
    """bitlen(M) + KAPPA + 1 where M = 2B + 1 (odd scores) or B (legacy) is the largest
    magnitude the factor multiplies."""
    magnitude = 2 * max(score_bound, 1) + 1 if odd_scores else max(score_bound, 1)
    return int(mpz(magnitude).bit_length()) + BLINDING_MARGIN_BITS + 1


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
        mantissa = min(total, mantissa_bits_for(layout.score_bound, odd_scores=layout.odd_scores))
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
    """Packed, blinded, re-randomised scores of `count` inputs, in input order.

    `mode` is a `Mode` (a plain "verdict"/"score" string is converted on construction).
    `truncated`: the sorted positions of inputs the server parsed only in part (an e-mail
    over one of its parsing caps: its verdict covers what was read); in the header only
    when non-empty, so every other document is byte-for-byte what version 1 always was.
    """

    key_fingerprint: str
    mode: Mode
    count: int
    layout: PackingLayout
    ciphertexts: Ciphertexts
    truncated: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        try:
            object.__setattr__(self, "mode", Mode.parse(self.mode))
        except SealdogError as exc:
            raise CorruptDataError(f"Encrypted verdicts: {exc}") from None
        if self.count < 0 or len(self.ciphertexts) != self.layout.packs_for(self.count):
            raise CorruptDataError(
                f"{len(self.ciphertexts)} packed ciphertexts cannot hold {self.count} verdicts "
                f"at {self.layout.slots} per ciphertext."
            )
        if self.mode is Mode.SCORE and self.layout.blinding_bits != 0:
            raise CorruptDataError("Score mode must not carry blinding bits.")
        _check_truncated(self.truncated, self.count)

    def _header(self) -> dict[str, Any]:
        return {
            "format": VERDICTS_FORMAT,
            "version": VERDICTS_VERSION,
            "key_fingerprint": self.key_fingerprint,
            "mode": self.mode.value,
            "count": self.count,
            "layout": self.layout.to_json(),
            **({"truncated": list(self.truncated)} if self.truncated else {}),
        }

    @property
    def _width(self) -> int:
        return width_for_modulus_bits(self.layout.n_bits)

    def to_json(self) -> dict[str, Any]:
        cts = ciphertexts_to_json(self.ciphertexts, width=self._width)
        return {**self._header(), "ciphertexts": cts}

    @classmethod
    def from_json(cls, data: object) -> EncryptedVerdicts:
        head = _check_header(data)
        width = width_for_modulus_bits(head.layout.n_bits)
        cts = ciphertexts_from_json(head.ciphertexts, width=width)
        return cls(head.key_fingerprint, head.mode, head.count, head.layout, cts, head.truncated)

    def to_bytes(self) -> bytes:
        body = encode_ciphertexts(self.ciphertexts, width=self._width)
        return VERDICTS_FRAME.write(self._header(), body)

    @classmethod
    def from_bytes(cls, data: bytes) -> EncryptedVerdicts:
        header, body = VERDICTS_FRAME.read(data)
        head = _check_header(header)
        cts = decode_ciphertexts(body, width=width_for_modulus_bits(head.layout.n_bits))
        return cls(head.key_fingerprint, head.mode, head.count, head.layout, cts, head.truncated)


@dataclass(frozen=True)
class _Header:
    key_fingerprint: str
    mode: Mode
    count: int
    layout: PackingLayout
    ciphertexts: object  # the JSON form's "ciphertexts" document, unchecked here
    truncated: tuple[int, ...]


def _check_header(data: object) -> _Header:
    """The header of encrypted verdicts (JSON form or frame header), every field checked."""
    data = check_format(
        data, format=VERDICTS_FORMAT, version=VERDICTS_VERSION, what=VERDICTS_FRAME.what
    )
    fp, count = data.get("key_fingerprint"), data.get("count")
    if (
        not isinstance(fp, str)
        or len(fp) > MAX_FINGERPRINT_CHARS
        or not _plain_int(count)
        or not 0 <= count < 2**63
    ):
        raise CorruptDataError(
            "Encrypted verdicts need a key_fingerprint of at most "
            f"{MAX_FINGERPRINT_CHARS} characters and an integer count in [0, 2^63)."
        )
    try:
        mode = Mode.parse(data.get("mode"))
    except SealdogError as exc:
        raise CorruptDataError(f"Encrypted verdicts: {exc}") from None
    layout = data.get("layout")
    if not isinstance(layout, dict):
        raise CorruptDataError("Encrypted verdicts have no packing layout.")
    truncated = data.get("truncated", [])
    if not isinstance(truncated, list) or len(truncated) > count:
        raise CorruptDataError("Encrypted verdicts' truncated must be a list of input positions.")
    positions = tuple(truncated)
    _check_truncated(positions, count)
    return _Header(
        fp, mode, count, PackingLayout.from_json(layout), data.get("ciphertexts"), positions
    )


def _check_truncated(positions: tuple[int, ...], count: int) -> None:
    """Strictly increasing input positions in [0, count) (so at most `count` of them)."""
    if not all(_plain_int(p) and 0 <= p < count for p in positions) or any(
        a >= b for a, b in pairwise(positions)
    ):
        raise CorruptDataError(
            "Encrypted verdicts' truncated must list increasing input positions below count."
        )


# --- server side: blinding + packing -------------------------------------------------------


def pack_scores(
    pk: PublicKey,
    layout: PackingLayout,
    scores: Sequence[mpz],
    *,
    blind: bool,
) -> mpz:
    """Enc(P) for up to `layout.slots` score ciphertexts (NOT yet re-randomised).

    With `blind`, slot k holds r_k*(2s_k + 1) + r'_k + T (`layout.odd_scores`; the legacy
    form r_k*s_k + r'_k + T otherwise) for fresh secret r_k = m_k*2^u_k, r'_k
    (`BlindingFactor.for_layout`); without, s_k + T. Each slot costs exactly slot_bits
    squarings of the accumulator (the shift; r_k's bits ride on them, and the factor 2 of
    odd scores is one of them) plus m_k's sliding 3-bit windows and 4 products for their odd
    powers (`horner.shift_and_raise`).
    """
    m = len(scores)
    if not 0 < m <= layout.slots:
        raise PackingError(f"A pack holds 1..{layout.slots} scores, got {m}.")
    nsq = pk.nsquare
    sb, offset = layout.slot_bits, layout.offset
    const = 0
    acc: mpz | None = None
    if not blind or layout.blinding_bits == 0:
        for k in range(m - 1, -1, -1):
            if acc is not None:
                acc = square_times(acc, sb, nsq) * scores[k] % nsq
            else:
                acc = scores[k]
            const = (const << sb) + offset
    else:
        blinding = BlindingFactor.for_layout(layout)
        windows = -(-blinding.mantissa_bits // _WINDOW_BITS)  # the slot check as it always was
        odd = int(layout.odd_scores)  # 2s + 1: the exponent gains a factor 2, r joins the constant
        if sb < windows * _WINDOW_BITS + blinding.octaves + odd:
            raise PackingError(
                "Slot narrower than the blinding factor; raise the score bound or lower rho."
            )
        sample = blinding.sample
        for k in range(m - 1, -1, -1):
            mant, u, r_prime = sample()
            # acc^(2^sb) * c^(mant * 2^(u + odd)): mant's bits ride on the shift squarings
            acc = shift_and_raise(acc, scores[k], mant, u + odd, sb, nsq)
            const = (const << sb) + r_prime + offset + ((mant << u) if odd else 0)
    assert acc is not None
    # times (1 + const*n): Enc(x) * g^M = Enc(x + M) adds the public offsets T and r'_k
    return encrypt(pk, const, acc)


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
                f"Packed ciphertext #{i} decrypts to bits above its last slot: wrong key or "
                "corrupt data."
            )
        for _ in range(m):
            v = int(packed & mask)
            if not 1 <= v <= hi:
                raise KeyMismatchError(
                    f"Packed ciphertext #{i} holds a slot outside its range: wrong key or "
                    "corrupt data."
                )
            out.append(v - offset)
            packed >>= sb
        remaining -= m
    return out


def slot_values(sk: SecretKey, ev: EncryptedVerdicts) -> list[int]:
    """Each blinded slot value t, in input order: everything the key holder sees of a verdict
    (bench/verdict_leak.py measures what it reveals beyond the sign)."""
    return _unpack_slot_values(sk, ev)


def decrypt_verdicts(sk: SecretKey, ev: EncryptedVerdicts) -> list[bool]:
    """One verdict per input, in order: True (positive, e.g. spam) iff the score s >= 0."""
    return [t >= 0 for t in _unpack_slot_values(sk, ev)]


def decrypt_scores(sk: SecretKey, ev: EncryptedVerdicts) -> list[int]:
    """Exact integer fixed-point scores (score mode only: verdict mode hides magnitudes)."""
    if ev.mode is not Mode.SCORE:
        raise SealdogError(
            "These are verdict-only results: their scores are blinded; use decrypt_verdicts "
            "(exact scores need a model the server scores in score mode)."
        )
    return _unpack_slot_values(sk, ev)


def verdict_of_score(score: int) -> bool:
    """The plaintext rule the encrypted path reproduces exactly."""
    return score >= 0


__all__ = [
    "VERDICTS_FRAME",
    "Blinding",
    "BlindingFactor",
    "EncryptedVerdicts",
    "Mode",
    "PackingError",
    "PackingLayout",
    "blinding_bits_for",
    "decrypt_scores",
    "decrypt_verdicts",
    "mantissa_bits_for",
    "pack_scores",
    "slot_values",
    "verdict_of_score",
]
