"""The integer-vector scheme against plaintext arithmetic, exactly."""

from __future__ import annotations

import dataclasses
import random
from fractions import Fraction

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealdog.crypto.vhe import fixed_point as fp
from sealdog.crypto.vhe import ops
from sealdog.crypto.vhe.errors import (
    NoiseBudgetExhausted,
    VheKeyMismatch,
    VheParameterError,
    VheShapeError,
)
from sealdog.crypto.vhe.keys import generate_secret_key
from sealdog.crypto.vhe.params import PRESETS, VheParams, preset

P = PRESETS["test"]
small = st.integers(min_value=-60, max_value=60)
vec3 = st.lists(small, min_size=3, max_size=3)


@pytest.fixture(scope="module")
def keys():
    rng = random.Random(6)
    sk3 = generate_secret_key(P, 3, rng)
    sk2 = generate_secret_key(P, 2, rng)
    sk1 = generate_secret_key(P, 1, rng)
    g = [[1, 2, -3], [0, 5, 7]]
    h = [[1, 0, 2], [0, -1, 0], [3, 0, 1]]
    return {
        "sk3": sk3,
        "sk2": sk2,
        "sk1": sk1,
        "g": g,
        "h": h,
        "pk3": ops.make_public_key(sk3, rng),
        "lt": ops.make_linear_transform_key(sk3, g, sk2, rng),
        "ip": ops.make_product_key(sk3, sk3, h, sk1, rng),
        "sq": ops.make_product_key(sk1, sk1, [[1]], sk1, rng),
    }


@settings(max_examples=25, deadline=None)
@given(x=vec3, y=vec3, a=st.integers(-50, 50))
def test_encrypt_add_scalar_against_plaintext(keys, x, y, a):
    sk, pk = keys["sk3"], keys["pk3"]
    cx, cy = ops.encrypt(sk, x), ops.encrypt_public(pk, y)
    assert ops.decrypt(sk, cx) == x
    assert ops.decrypt(sk, cy) == y
    assert ops.decrypt(sk, ops.add(cx, cy)) == [u + v for u, v in zip(x, y)]
    assert ops.decrypt(sk, ops.sub(cx, cy)) == [u - v for u, v in zip(x, y)]
    assert ops.decrypt(sk, ops.mul_int(cx, a)) == [a * u for u in x]
    assert ops.decrypt(sk, ops.rerandomise(cx, pk)) == x


def test_encryption_is_randomised(keys):
    sk, pk = keys["sk3"], keys["pk3"]
    assert ops.encrypt(sk, [1, 2, 3]).c != ops.encrypt(sk, [1, 2, 3]).c
    assert ops.encrypt_public(pk, [1, 2, 3]).c != ops.encrypt_public(pk, [1, 2, 3]).c
    ct = ops.encrypt(sk, [1, 2, 3])
    assert ops.rerandomise(ct, pk).c != ct.c


@settings(max_examples=15, deadline=None)
@given(x=vec3)
def test_linear_transform_against_plaintext(keys, x):
    ct = ops.linear_transform(ops.encrypt(keys["sk3"], x), keys["lt"])
    expected = [sum(g * v for g, v in zip(row, x)) for row in keys["g"]]
    assert ct.key_id == keys["sk2"].key_id
    assert ops.decrypt(keys["sk2"], ct) == expected


@settings(max_examples=15, deadline=None)
@given(x=vec3, y=vec3)
def test_weighted_inner_product_against_plaintext(keys, x, y):
    sk = keys["sk3"]
    ct = ops.inner_product(ops.encrypt(sk, x), ops.encrypt_public(keys["pk3"], y), keys["ip"])
    h = keys["h"]
    expected = sum(x[i] * h[i][j] * y[j] for i in range(3) for j in range(3))
    assert ops.decrypt(keys["sk1"], ct) == [expected]


def test_chained_products_exact_until_the_noise_budget_is_refused(keys):
    sk1, sq = keys["sk1"], keys["sq"]
    x, ct = 3, ops.encrypt(sk1, [3])
    depth = 0
    with pytest.raises(NoiseBudgetExhausted):
        while True:
            ct, x = ops.inner_product(ct, ct, sq), x * x
            result = ops.decrypt(sk1, ct)  # raises once exactness is no longer guaranteed
            assert result == [x]
            depth += 1
    assert depth >= 2  # 3 -> 9 -> 81 -> 6561 ... exact while the bound allows


def test_modulus_chain_exhaustion_is_a_clear_error(keys):
    sk1, sq = keys["sk1"], keys["sq"]
    ct = fp.encrypt_real(sk1, [0.5])
    with pytest.raises(NoiseBudgetExhausted, match="preset"):
        for _ in range(P.product_levels + 1):
            ct = fp.multiply(ct, ct, sq)


def test_fixed_point_products_track_error(keys):
    sk1, sq = keys["sk1"], keys["sq"]
    a, b = fp.encrypt_real(sk1, [1.25]), fp.encrypt_real(sk1, [-0.5])
    prod = fp.mul_const(fp.multiply(a, b, sq), 0.75)
    (value,), err = fp.decrypt_real(sk1, prod)
    exact = Fraction(1.25) * Fraction(-0.5) * Fraction(round(0.75 * 2**20), 2**20)
    assert abs(value - exact) <= err
    assert err < Fraction(1, 1000)
    summed = fp.add_const(prod, 2.0)
    (value2,), err2 = fp.decrypt_real(sk1, summed)
    assert abs(value2 - (exact + 2)) <= err2


def test_wrong_key_detected(keys):
    ct = ops.encrypt(keys["sk3"], [1, 2, 3])
    other = generate_secret_key(P, 3, random.Random(99))
    with pytest.raises(VheKeyMismatch):
        ops.decrypt(other, ct)
    with pytest.raises(VheKeyMismatch):
        ops.add(ct, ops.encrypt(other, [1, 2, 3]))
    with pytest.raises(VheKeyMismatch):
        ops.linear_transform(ops.encrypt(other, [1, 2, 3]), keys["lt"])
    with pytest.raises(VheKeyMismatch):
        ops.inner_product(ct, ops.encrypt(other, [1, 2, 3]), keys["ip"])


def test_bad_input_rejected(keys):
    with pytest.raises(VheShapeError):
        ops.encrypt(keys["sk3"], [1, 2])
    with pytest.raises(VheShapeError):
        ops.encrypt(keys["sk3"], [1.5, 2, 3])
    with pytest.raises(VheShapeError):
        ops.make_linear_transform_key(keys["sk3"], [[1, 2]], keys["sk2"])
    with pytest.raises(VheShapeError):
        fp.encrypt_real(keys["sk1"], [float("nan")])
    with pytest.raises(NoiseBudgetExhausted):
        ops.encrypt(keys["sk1"], [P.q])  # the message itself would wrap
    with pytest.raises(VheParameterError):
        dataclasses.replace(P, log_q=10)
    with pytest.raises(VheParameterError):
        preset("nope")
    with pytest.raises(VheParameterError):
        VheParams.from_dict({"name": "x"})


def test_presets_have_a_computed_security_estimate():
    for params in PRESETS.values():
        est = params.security
        assert est.bits == pytest.approx(
            min(0.292 * est.beta, params.lwe_dim * 1.5849625), rel=1e-6
        )
        assert "NOT confidential" in est.label
    # the same model gives a standard-sized instance a real security level (sanity of the formula)
    from sealdog.crypto.vhe.security import estimate_security

    assert 100 < estimate_security(1024, 27, 4).bits < 160
