"""The encrypted parity cell against plaintext parity (integer-vector scheme, small sizes)."""

from __future__ import annotations

import dataclasses
import itertools

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

import sealdog.experiments.encrypted_parity as ep
from sealdog.experiments.encrypted_parity import (
    PARITY_CELL,
    CellCoefficients,
    EncryptedParityUnavailable,
    run_plain_cell,
)


def _xor(bits) -> int:
    return int(np.bitwise_xor.reduce(np.array(bits, dtype=np.uint8))) if bits else 0


@given(st.lists(st.integers(0, 1), max_size=60))
def test_folded_cell_is_the_parity_polynomial(bits: list[int]) -> None:
    a, b, c, d = ep.PARITY_POLYNOMIAL
    h = 0
    for x in bits:
        h = a * h + b * x + c * h * x + d  # h + x - 2 h x
    assert run_plain_cell(PARITY_CELL, bits) == h == _xor(bits)


@given(
    st.integers(-3, 3),
    st.integers(-3, 3),
    st.integers(-3, 3),
    st.integers(-3, 3),
    st.lists(st.integers(0, 1), max_size=8),
)
def test_folding_matches_any_polynomial(a: int, b: int, c: int, d: int, bits: list[int]) -> None:
    h = 0
    for x in bits:
        h = a * h + b * x + c * h * x + d
    assert run_plain_cell(CellCoefficients.from_polynomial(a, b, c, d), bits) == h


vhe = pytest.importorskip("sealdog.crypto.vhe")
try:
    ep.vhe_capabilities()
except EncryptedParityUnavailable as exc:  # pragma: no cover - depends on issue 6's progress
    pytest.skip(f"sealdog.crypto.vhe not complete: {exc}", allow_module_level=True)


@pytest.fixture(scope="module")
def sealed():
    params = ep.depth_sized_params(5)
    assert params.product_levels == 5
    sk = vhe.generate_secret_key(params, 1)
    return sk, ep.seal_cell(sk)


def test_sealed_cell_matches_parity_on_every_string_of_length_5(sealed) -> None:
    sk, cell = sealed
    for bits in itertools.product((0, 1), repeat=5):
        out = ep.run_sealed_cell(cell, bits)
        assert vhe.decrypt(sk, out) == [_xor(bits)], bits


def test_every_prefix_state_is_the_prefix_parity(sealed) -> None:
    sk, cell = sealed
    bits = [1, 0, 1, 1, 1]
    seen: list[int] = []
    ep.run_sealed_cell(cell, bits, on_step=lambda t, h: seen.append(vhe.decrypt(sk, h)[0]))
    assert seen == [1, 1, 0, 1, 0]


def test_server_side_holds_no_secret_key(sealed) -> None:
    _, cell = sealed
    for f in dataclasses.fields(cell):
        value = getattr(cell, f.name)
        for item in value if isinstance(value, tuple) else (value,):
            assert not isinstance(item, vhe.SecretKey)


def test_output_is_rerandomised(sealed) -> None:
    _, cell = sealed
    assert ep.run_sealed_cell(cell, [1, 0, 1]).c != ep.run_sealed_cell(cell, [1, 0, 1]).c


def test_too_deep_a_string_is_refused_not_wrong(sealed) -> None:
    _, cell = sealed
    with pytest.raises(vhe.NoiseBudgetExhausted):
        ep.run_sealed_cell(cell, [1] * 6)  # the chain was sized for 5 products


def test_non_bits_are_refused(sealed) -> None:
    _, cell = sealed
    with pytest.raises(EncryptedParityUnavailable):
        ep.run_sealed_cell(cell, [1, 2])


def test_run_encrypted_parity_report_shape() -> None:
    report = ep.run_encrypted_parity(strings=3, length=6, seed=1, presets=["test"])
    assert report["status"] == "ok"
    assert (report["strings"], report["correct"], report["length"]) == (3, 3, 6)
    test_levels = vhe.PRESETS["test"].product_levels
    assert report["max_length_by_preset"] == {"test": test_levels}
    assert len(report["presets"]["test"]["noise_bound_bits_by_step"]) == test_levels
    noise = report["noise_by_step"]
    assert len(noise["measured_max_abs"]) == len(noise["tracked_bound_bits"]) == 6
    # measured noise never exceeds what the scheme tracks
    assert all(
        np.log2(max(m, 1)) <= t + 0.01
        for m, t in zip(noise["measured_max_abs"], noise["tracked_bound_bits"])
    )
    assert noise["log_q"] == sorted(noise["log_q"], reverse=True)


def test_missing_operations_report_not_available(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(ep, "REQUIRED_VHE_NAMES", (*ep.REQUIRED_VHE_NAMES, "no_such_operation"))
    report = ep.run_encrypted_parity(strings=1, length=2)
    assert report["status"] == "not available"
    assert "no_such_operation" in report["reason"]
