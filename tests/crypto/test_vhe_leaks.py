"""The two known leaks of the modulus-free implementations, run against Sealdog and against a
deliberately leaky no-modulus variant built here (so that these tests can fail)."""

from __future__ import annotations

import random

from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS

P = PRESETS["test"]
TRIALS = 200
VALUES = range(-20, 21)  # 41 possible plaintexts: chance is about 1/41


def attack_top_rounding(c_top: int, w: int, modulus: int | None) -> int:
    """Leak 1: round(c_top / w), with c_top read symmetrically when there is a modulus."""
    if modulus is not None and c_top >= modulus // 2:
        c_top -= modulus
    return round(c_top / w)


def leaky_encrypt(t_row: list[int], x: int, w: int, rng: random.Random) -> list[int]:
    """The public code's scheme: no modulus, small a: c = [w x + e - t.a ; a] over Z."""
    a = [rng.randint(-3, 3) for _ in t_row]
    return [w * x + rng.randint(-4, 4) - sum(t * v for t, v in zip(t_row, a)), *a]


def test_leak1_round_ctop_fails_on_sealdog_and_works_on_the_leaky_variant():
    rng = random.Random(61)
    sk = generate_secret_key(P, 1, rng)
    pk = ops.make_public_key(sk, rng)
    hits_sealdog = hits_leaky = 0
    for _ in range(TRIALS):
        x = rng.choice(VALUES)
        ct = ops.encrypt_public(pk, [x], rng) if rng.random() < 0.5 else ops.encrypt(sk, [x], rng)
        hits_sealdog += attack_top_rounding(ct.c[0], P.w, 1 << ct.log_q) == x
        hits_leaky += (
            attack_top_rounding(leaky_encrypt(list(sk.t[0]), x, P.w, rng)[0], P.w, None) == x
        )
    assert hits_leaky == TRIALS  # the attack works where there is no modulus
    assert hits_sealdog <= 0.1 * TRIALS  # and is no better than guessing on Sealdog (~5/200)


def leaky_switch_top_power_column(
    gs_entry: int, t_row: list[int], ell: int, rng: random.Random
) -> int:
    """Column for 2**(ell-1) of a no-modulus switch matrix with small A:
    gs * 2**(ell-1) - t.a + e."""
    a = [rng.randint(-3, 3) for _ in t_row]
    return gs_entry * (1 << (ell - 1)) - sum(t * v for t, v in zip(t_row, a)) + rng.randint(-4, 4)


def test_leak2_top_power_column_does_not_reveal_g():
    rng = random.Random(62)
    sk_in = generate_secret_key(P, 3, rng)
    sk_out = generate_secret_key(P, 2, rng)
    g = [[rng.randint(-9, 9) for _ in range(3)] for _ in range(2)]
    key = ops.make_linear_transform_key(sk_in, g, sk_out, rng)
    m = key.switch.matrix
    ell = m.shape[2]
    top = 1 << (ell - 1)
    recovered = []
    for i in range(2):
        for j in range(3):  # the first m columns of G S_in = [G, G T] are G itself
            entry = int(m[i, j, ell - 1])
            entry = entry - P.q if entry >= P.q // 2 else entry
            recovered.append(round(entry / top))
    truth = [g[i][j] for i in range(2) for j in range(3)]
    sealdog_hits = sum(r == t for r, t in zip(recovered, truth))
    leaky = [
        round(leaky_switch_top_power_column(g[i][j], list(sk_out.t[i]), ell, rng) / top)
        for i in range(2)
        for j in range(3)
    ]
    assert leaky == truth  # the leak is real on the modulus-free variant
    assert sealdog_hits <= 2  # with uniform A mod q the column is uniform: G stays hidden
    # and with every bit of the column's digits, over many keys, no better than chance:
    hits = 0
    for _ in range(30):
        g1 = [[rng.randint(-9, 9) for _ in range(3)]]
        k1 = ops.make_linear_transform_key(sk_in, g1, generate_secret_key(P, 1, rng), rng)
        col = int(k1.switch.matrix[0, 0, ell - 1])
        col = col - P.q if col >= P.q // 2 else col
        hits += round(col / top) == g1[0][0]
    assert hits <= 8  # chance is 1/19 per entry; rounding gives only -1, 0 or 1
