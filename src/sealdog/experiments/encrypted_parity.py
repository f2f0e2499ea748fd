"""Parity on an encrypted recurrent cell (issue 8, section 2), over `sealdog.crypto.vhe`.

With plaintext bits the parity state follows the exact polynomial recurrence

    h_t = a h + b x + c h x + d,   (a, b, c, d) = (1, 1, -2, 0),   i.e. h + x - 2 h x.

The key holder seals the cell's coefficients with the integer-vector scheme; the server
knows the bits (they are its plaintext data) but not the coefficients. Because x is a
known 0/1, the server folds the polynomial into one affine map per bit value,

    x = 0:  h' = alpha0 h + gamma0   (alpha0 = a,     gamma0 = d)
    x = 1:  h' = alpha1 h + gamma1   (alpha1 = a + c, gamma1 = b + d),

and the key holder seals (alpha0, gamma0, alpha1, gamma1, h0) directly: the same
polynomial, but every coefficient is a value in {-1, 0, 1}, so the scheme's worst-case
bound on the state grows by w per step instead of tripling (Enc(a) + x Enc(c) would be
tracked as |3| although it is -1). Each step is one ciphertext product (the deepest chain
Sealdog runs: 50 products for 50 bits) plus one addition; the final state is
re-randomised with the public key before it leaves the server.

Everything here needs `sealdog.crypto.vhe` (issue 6). If it lacks an operation, the
experiment reports ``{"status": "not available", "reason": ...}`` instead of a result.
"""

from __future__ import annotations

import dataclasses
import importlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from sealdog.errors import SealdogError

PARITY_POLYNOMIAL = (1, 1, -2, 0)  # (a, b, c, d) in h' = a h + b x + c h x + d

# What the cell needs from the scheme; checked before anything runs.
REQUIRED_VHE_NAMES: tuple[str, ...] = (
    "VheParams",
    "PRESETS",
    "NoiseBudgetExhausted",
    "generate_secret_key",
    "encrypt",
    "decrypt",
    "add",
    "inner_product",
    "make_product_key",
    "make_public_key",
    "rerandomise",
)

# Presets whose product key would exceed this many big integers are not scanned.
MAX_PRODUCT_KEY_ENTRIES = 2_000_000

LogFn = Callable[[str], None]


class EncryptedParityUnavailable(SealdogError):
    """`sealdog.crypto.vhe` lacks an operation the encrypted recurrent cell needs."""


@dataclass(frozen=True)
class CellCoefficients:
    """The cell in the per-bit ("selector") basis: h' = alpha_x h + gamma_x; h starts at h0."""

    alpha0: int
    gamma0: int
    alpha1: int
    gamma1: int
    h0: int = 0

    @classmethod
    def from_polynomial(cls, a: int, b: int, c: int, d: int, h0: int = 0) -> CellCoefficients:
        """Fold h' = a h + b x + c h x + d for x in {0, 1}."""
        return cls(alpha0=a, gamma0=d, alpha1=a + c, gamma1=b + d, h0=h0)

    def as_dict(self) -> dict[str, int]:
        return dataclasses.asdict(self)


PARITY_CELL = CellCoefficients.from_polynomial(*PARITY_POLYNOMIAL)


def run_plain_cell(cell: CellCoefficients, bits: Sequence[int]) -> int:
    """The cell on plaintext integers: the reference the encrypted run must match."""
    h = cell.h0
    for x in bits:
        h = cell.alpha1 * h + cell.gamma1 if x else cell.alpha0 * h + cell.gamma0
    return h


def vhe_capabilities() -> Any:
    """The `sealdog.crypto.vhe` module if it offers every operation the cell needs."""
    try:
        vhe = importlib.import_module("sealdog.crypto.vhe")
    except ImportError as exc:  # pragma: no cover - the package ships with Sealdog
        raise EncryptedParityUnavailable(f"sealdog.crypto.vhe cannot be imported: {exc}") from exc
    missing = [name for name in REQUIRED_VHE_NAMES if not hasattr(vhe, name)]
    if missing:
        raise EncryptedParityUnavailable(
            "sealdog.crypto.vhe does not provide " + ", ".join(missing) + " yet (issue 6)"
        )
    return vhe


@dataclass(frozen=True)
class SealedParityCell:
    """What the server holds: encrypted coefficients and evaluation keys, no secret key."""

    alpha: tuple[Any, Any]  # Enc(alpha0), Enc(alpha1)
    gamma: tuple[Any, Any]  # Enc(gamma0), Enc(gamma1)
    h0: Any
    product_key: Any  # evaluation key for Enc(u), Enc(v) -> Enc(u v)
    public_key: Any  # for re-randomising the state that leaves the server


def seal_cell(sk: Any, cell: CellCoefficients = PARITY_CELL, rng: Any = None) -> SealedParityCell:
    """Key holder: encrypt the coefficients and make the product and public keys."""
    vhe = vhe_capabilities()
    if sk.dim != 1:
        raise EncryptedParityUnavailable(
            "the parity cell has a scalar state: use a key of dimension 1"
        )

    def enc(value: int) -> Any:
        return vhe.encrypt(sk, [value], rng)

    return SealedParityCell(
        alpha=(enc(cell.alpha0), enc(cell.alpha1)),
        gamma=(enc(cell.gamma0), enc(cell.gamma1)),
        h0=enc(cell.h0),
        product_key=vhe.make_product_key(sk, sk, [[1]], sk, rng),
        public_key=vhe.make_public_key(sk, rng),
    )


def run_sealed_cell(
    cell: SealedParityCell,
    bits: Sequence[int],
    *,
    on_step: Callable[[int, Any], None] | None = None,
    rng: Any = None,
) -> Any:
    """Server: h <- Enc(alpha_x) * h + Enc(gamma_x) for each plaintext bit; re-randomised result.

    `on_step(t, h)` sees the state after bit t (1-based) before re-randomisation: a hook for
    the experiment's noise measurements, not part of the server's protocol.
    """
    vhe = vhe_capabilities()
    h = cell.h0
    for t, x in enumerate(bits, start=1):
        if x not in (0, 1):
            raise EncryptedParityUnavailable(f"bit {t} is {x!r}: the cell reads 0/1 bits only")
        h = vhe.add(vhe.inner_product(cell.alpha[x], h, cell.product_key), cell.gamma[x])
        if on_step is not None:
            on_step(t, h)
    return vhe.rerandomise(h, cell.public_key, rng)


def depth_sized_params(length: int) -> Any:
    """The demo preset with a modulus chain of exactly `length` products (one per bit)."""
    vhe = vhe_capabilities()
    demo = vhe.PRESETS["demo"]
    return dataclasses.replace(
        demo, name=f"demo-depth{length}", log_q=demo.min_log_q + length * demo.log_w
    )


def main_run_params(length: int) -> Any:
    """The demo preset if its chain is deep enough for `length` bits, else a depth-sized variant."""
    vhe = vhe_capabilities()
    demo = vhe.PRESETS["demo"]
    return demo if demo.product_levels >= length else depth_sized_params(length)


def product_key_entries(params: Any) -> int:
    """Big integers in a dimension-1 product key: (1 + k) rows x (1 + k)^2 x l columns."""
    n = 1 + int(params.lwe_dim)
    return n * n * n * int(params.digits(params.log_q))


def max_decryptable_length(
    params: Any, rng_bits: np.random.Generator, limit: int = 10_000
) -> dict[str, Any]:
    """Run one random string until the re-randomised state stops decrypting to its parity.

    Returns the longest correct length, why it stopped and the noise bound per step.
    """
    vhe = vhe_capabilities()
    entries = product_key_entries(params)
    base = {
        "security_bits_est": round(float(params.security.bits), 2),
        "product_levels": params.product_levels,
    }
    if entries > MAX_PRODUCT_KEY_ENTRIES:
        return {
            **base,
            "max_length": None,
            "limit": f"not run: its product key holds {entries:,} integers of {params.log_q} bits "
            f"(~{entries * params.log_q / 8 / 2**30:.1f} GiB)",
        }
    sk = vhe.generate_secret_key(params, 1)
    cell = seal_cell(sk)
    h = cell.h0
    parity = 0
    noise_bits: list[float] = []
    longest, reason = 0, f"stopped at the scan limit {limit}"
    for t in range(1, limit + 1):
        x = int(rng_bits.integers(0, 2))
        try:
            h = vhe.add(vhe.inner_product(cell.alpha[x], h, cell.product_key), cell.gamma[x])
            out = vhe.rerandomise(h, cell.public_key)
            value = vhe.decrypt(sk, out)[0]
        except vhe.NoiseBudgetExhausted as exc:
            reason = f"step {t}: {exc}"
            break
        parity ^= x
        if value != parity:
            reason = f"step {t}: decrypted {value}, parity is {parity}"
            break
        longest = t
        noise_bits.append(round(float(np.log2(max(out.noise, 1))), 2))
    return {**base, "max_length": longest, "limit": reason, "noise_bound_bits_by_step": noise_bits}


def run_encrypted_parity(
    strings: int = 1000,
    length: int = 50,
    seed: int = 0,
    *,
    presets: Sequence[str] | None = None,
    log: LogFn | None = None,
) -> dict[str, Any]:
    """Evaluate the sealed parity cell on `strings` random bit strings of `length` bits.

    Also scans each preset in `presets` (default: all of `vhe.PRESETS`) for the longest
    string whose re-randomised state still decrypts correctly. Returns a JSON-ready dict,
    or `{"status": "not available", "reason": ...}` when the scheme lacks an operation.
    """
    try:
        vhe = vhe_capabilities()
        from sealdog.crypto.vhe.ops import decrypt_numerators
    except (EncryptedParityUnavailable, ImportError) as exc:
        return {"status": "not available", "reason": str(exc)}
    if strings < 1 or length < 1:
        raise EncryptedParityUnavailable("need at least one string of at least one bit")

    rng_bits = np.random.default_rng([seed, 8])
    params = main_run_params(length)
    started = time.perf_counter()
    sk = vhe.generate_secret_key(params, 1)  # experiment: we play key holder and server
    cell = seal_cell(sk)
    setup_seconds = time.perf_counter() - started

    measured = np.zeros(length, dtype=np.int64)  # max |e| over strings after each step
    tracked = np.zeros(length, dtype=object)  # max noise bound the scheme tracks
    levels = [0] * length
    correct = 0
    final_noise_bound = 0
    eval_started = time.perf_counter()
    for index in range(strings):
        bits = [int(b) for b in rng_bits.integers(0, 2, size=length)]
        prefix = np.bitwise_xor.accumulate(bits)

        def record(t: int, h: Any, prefix: np.ndarray = prefix) -> None:
            error = decrypt_numerators(sk, h)[0] - params.w * int(prefix[t - 1])
            measured[t - 1] = max(measured[t - 1], abs(error))
            tracked[t - 1] = max(tracked[t - 1], h.noise)
            levels[t - 1] = h.log_q

        out = run_sealed_cell(cell, bits, on_step=record)
        final_noise_bound = max(final_noise_bound, out.noise)
        correct += int(vhe.decrypt(sk, out)[0] == run_plain_cell(PARITY_CELL, bits) == prefix[-1])
        if log is not None and (index + 1) % max(1, strings // 10) == 0:
            log(f"  encrypted cell: {index + 1}/{strings} strings, {correct} correct")
    eval_seconds = time.perf_counter() - eval_started

    scan: dict[str, Any] = {}
    for name in presets if presets is not None else list(vhe.PRESETS):
        if log is not None:
            log(f"  encrypted cell: longest decryptable length for preset {name} ...")
        scan[name] = max_decryptable_length(vhe.PRESETS[name], rng_bits)

    return {
        "status": "ok",
        "scheme": "integer-vector HE (Zhou & Wornell), research grade: not secure at these sizes",
        "strings": strings,
        "correct": correct,
        "length": length,
        "cell": PARITY_CELL.as_dict(),
        "params": {
            "name": params.name,
            "lwe_dim": params.lwe_dim,
            "log_q": params.log_q,
            "log_w": params.log_w,
            "decomposition_bits": params.decomposition_bits,
            "security_bits_est": round(float(params.security.bits), 2),
        },
        "seconds": round(setup_seconds + eval_seconds, 2),
        "ms_per_step": round(1000 * eval_seconds / (strings * length), 3),
        "noise_by_step": {
            "log_q": levels,
            "tracked_bound_bits": [round(float(np.log2(max(int(v), 1))), 2) for v in tracked],
            "measured_max_abs": [int(v) for v in measured],
            "decrypt_limit_bits": params.log_w - 1,
            "final_rerandomised_bound_bits": round(float(np.log2(max(final_noise_bound, 1))), 2),
        },
        "max_length_by_preset": {name: entry["max_length"] for name, entry in scan.items()},
        "presets": scan,
    }
