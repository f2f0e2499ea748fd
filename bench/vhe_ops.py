"""Per-preset timing and noise growth of the integer-vector HE operations.

Prints a table per preset (ms per op, ratio to one ciphertext addition measured in the same
run, tracked noise bits after the op) and ends with one JSON line:
{"bench": "vhe_ops", "presets": {name: {"security_bits_est", "ops_ms", "max_mult_depth"}}}.
Usage: python bench/vhe_ops.py [--quick]
"""

from __future__ import annotations

import argparse
import json
import random
import time

from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS


def timed(fn, reps):
    best = float("inf")
    out = None
    for _ in range(reps):
        t = time.perf_counter()
        out = fn()
        best = min(best, time.perf_counter() - t)
    return best * 1000, out


def bench_preset(name: str, reps: int) -> dict:
    p = PRESETS[name]
    rng = random.Random(1)
    t = time.perf_counter()
    sk = generate_secret_key(p, 1, rng)
    pk = ops.make_public_key(sk, rng)
    prod_key = ops.make_product_key(sk, sk, [[1]], sk, rng)
    lt_key = ops.make_linear_transform_key(sk, [[3]], sk, rng)
    keygen_ms = (time.perf_counter() - t) * 1000
    a = ops.encrypt(sk, [7], rng)
    b = ops.encrypt(sk, [-5], rng)
    fa = fp.encrypt_real(sk, [1.5], rng)
    rows = {}
    rows["encrypt_secret"] = timed(lambda: ops.encrypt(sk, [7], rng), reps)
    rows["encrypt_public"] = timed(lambda: ops.encrypt_public(pk, [7], rng), reps)
    rows["add"] = timed(lambda: ops.add(a, b), reps * 5)
    rows["mul_int"] = timed(lambda: ops.mul_int(a, 3), reps * 5)
    rows["mul_const_rescale"] = timed(lambda: fp.mul_const(fa, 0.3), reps * 5)
    rows["linear_transform"] = timed(lambda: ops.linear_transform(a, lt_key), reps)
    rows["product"] = timed(lambda: ops.inner_product(a, b, prod_key), reps)
    rows["rerandomise"] = timed(lambda: ops.rerandomise(a, pk, rng), reps)
    rows["decrypt"] = timed(lambda: ops.decrypt(sk, a), reps * 5)
    base = rows["add"][0]
    print(
        f"\npreset {name}: k={p.lwe_dim} log2 q={p.log_q} log2 w={p.log_w} "
        f"gadget 2^{p.decomposition_bits}"
        f" keygen {keygen_ms:.0f} ms; security {p.security.label}"
    )
    print(f"{'op':<20}{'ms':>10}{'x add':>10}{'noise bits':>12}{'level':>8}")
    for op, (ms, out) in rows.items():
        if isinstance(out, ops.Ciphertext):
            noise, level = f"{out.noise.bit_length():>12}", f"{out.log_q:>8}"
        else:
            noise, level = f"{'-':>12}", f"{'-':>8}"
        print(f"{op:<20}{ms:>10.3f}{ms / base:>10.1f}{noise}{level}")
    print(f"fresh noise {a.noise.bit_length()} bits; max chained products {p.product_levels}")
    return {
        "security_bits_est": round(p.security.bits, 2),
        "ops_ms": {op: round(ms, 4) for op, (ms, _) in rows.items()},
        "max_mult_depth": p.product_levels,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions, no 'large' preset")
    args = parser.parse_args()
    names = ["test", "demo"] if args.quick else ["test", "demo", "large"]
    reps = 2 if args.quick else 5
    results = {name: bench_preset(name, reps) for name in names}
    print(json.dumps({"bench": "vhe_ops", "presets": results}))


if __name__ == "__main__":
    main()
