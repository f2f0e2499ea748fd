"""Benchmark: the key holder decrypting a verdict inbox (issue 5 target: 10,000 inbox
verdicts in under 5 s on one core).

The inbox is built the way the server fills it: one entry per 256-e-mail batch (the server's
default batch cap), each entry an EncryptedVerdicts JSON document with blinded verdicts packed
into as few ciphertexts as the slot layout allows. The slot layout follows from a realistic
score bound (a model at the default scale 2^20 whose |b| + sum|w_i| is about 2^14: 34-bit
bound) and the log-uniform blinding factor the scorer derives for that bound. Packs are
encryptions of uniformly drawn valid slot values, the same distribution the server's packing
produces (the key holder cannot tell them apart).

Timed, on one core (the process pins itself): parsing the inbox JSON and decrypting every
entry with `sealdog.client.decryption.decrypt_inbox`. Baseline in the same run: one phe
decryption per verdict (no packing), measured on a sample and scaled up.

    python bench/client_decrypt.py            # 2048- and 3072-bit keys, 10,000 verdicts
    python bench/client_decrypt.py --quick    # 2048 bits, 2,000 verdicts, < 30 s
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import time

import phe
from gmpy2 import mpz

from sealdog.client.decryption import decrypt_inbox
from sealdog.client.http import InboxPage
from sealdog.crypto.paillier import (
    DJNRandomiser,
    EncryptedVerdicts,
    Mode,
    PackingLayout,
    blinding_bits_for,
    generate_keypair,
)

BATCH = 256
SCORE_BOUND = (1 << 34) - 1
BLINDING_BITS = blinding_bits_for(SCORE_BOUND)


def build_inbox(pk, count: int) -> tuple[dict, list[bool]]:  # type: ignore[no-untyped-def]
    """An inbox page (server JSON) holding `count` verdicts, and the expected verdicts."""
    layout = PackingLayout.derive(pk.bits, SCORE_BOUND, BLINDING_BITS)
    djn = DJNRandomiser(pk)
    entries, expected = [], []
    for start in range(0, count, BATCH):
        m = min(BATCH, count - start)
        cts = []
        for first in range(0, m, layout.slots):
            k = min(layout.slots, m - first)
            packed = 0
            for slot in range(k):
                t = secrets.randbelow(2 * layout.offset - 1) - (layout.offset - 1)  # |t| < T
                expected.append(t >= 0)
                packed |= (t + layout.offset) << (layout.slot_bits * slot)
            cts.append(djn.encrypt_with(mpz(packed), djn.random_exponent()))
        ev = EncryptedVerdicts(pk.fingerprint, Mode.VERDICT, m, layout, cts)
        entries.append(
            {
                "cursor": str(len(entries) + 1),
                "model_id": "bench",
                "created_at": "2026-01-01T00:00:00Z",
                "mode": "verdict",
                "count": m,
                "message_ids": [f"m{start + i}" for i in range(m)],
                "verdicts": ev.to_json(),
            }
        )
    return {"entries": entries, "next_cursor": str(len(entries))}, expected


def run(bits: int, count: int, baseline_sample: int) -> dict:  # type: ignore[no-untyped-def]
    pk, sk = generate_keypair(bits)
    page, expected = build_inbox(pk, count)
    text = json.dumps(page)
    layout = PackingLayout.derive(bits, SCORE_BOUND, BLINDING_BITS)
    t0 = time.perf_counter()
    parsed = InboxPage.from_json(json.loads(text))
    verdicts = decrypt_inbox(sk, parsed.entries)
    seconds = time.perf_counter() - t0
    assert [v.positive for v in verdicts] == expected, (
        "decryption disagrees with the plaintext verdicts"
    )
    # Baseline: phe, one ciphertext and one decryption per verdict.
    ppk, psk = (
        phe.PaillierPublicKey(int(pk.n)),
        phe.PaillierPrivateKey(phe.PaillierPublicKey(int(pk.n)), int(sk.p), int(sk.q)),
    )
    cts = [ppk.encrypt(secrets.randbelow(1000) - 500) for _ in range(baseline_sample)]
    t0 = time.perf_counter()
    for c in cts:
        psk.decrypt(c)
    baseline = (time.perf_counter() - t0) / baseline_sample * count
    print(
        f"{bits}-bit key: {count:,} verdicts in {len(parsed.entries)} inbox entries, "
        f"{sum(len(e.verdicts.ciphertexts) for e in parsed.entries)} packed ciphertexts "
        f"({layout.slots} slots of {layout.slot_bits} bits)"
    )
    print(f"  sealdog decrypt_inbox: {seconds:.2f} s ({count / seconds:,.0f} verdicts/s)")
    print(
        f"  baseline phe, unpacked: {baseline:.2f} s (scaled from {baseline_sample}); "
        f"speed-up x{baseline / seconds:.1f}"
    )
    return {
        "bits": bits,
        "verdicts": count,
        "seconds": round(seconds, 3),
        "verdicts_per_s": round(count / seconds),
        "baseline_phe_seconds": round(baseline, 3),
        "speedup": round(baseline / seconds, 1),
        "slots": layout.slots,
        "target_met": seconds < 5.0,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2048 bits only, 2,000 verdicts")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core
    runs = [run(2048, 2000, 50)] if args.quick else [run(2048, 10_000, 200), run(3072, 10_000, 100)]
    print(json.dumps({"bench": "client_decrypt", "one_core": True, "runs": runs}))


if __name__ == "__main__":
    main()
