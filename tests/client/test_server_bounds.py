"""Every value a (malicious) server sends back is bounded before the client uses it.

The attack: a server answers with a packing layout whose `blinding_bits` is 4e9. Computing
the slot offset (score_bound + 1) << blinding_bits first would allocate 500 MB (1.5 GB with
the layout's other derived values) before any consistency check; the client must refuse it
at once, using almost no memory.

The bound is on work, not wall time: peak traced memory stays within a small constant of the
input's own size (any arithmetic on a hostile value would allocate in proportion to it), and
CPU time (process time, which other load on the machine does not inflate) stays far below
what such arithmetic costs."""

from __future__ import annotations

import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from sealdog.client.errors import ClientError
from sealdog.client.http import RetryPolicy, SealdogClient
from sealdog.crypto.paillier import (
    EncryptedVerdicts,
    PackingLayout,
    blinding_bits_for,
    generate_keypair,
)
from sealdog.crypto.paillier.verdicts import MAX_LAYOUT_N_BITS
from sealdog.errors import CorruptDataError

PK, _ = generate_keypair(512, insecure=True)
BOUND = 10**6
LAYOUT = PackingLayout.derive(512, BOUND, blinding_bits_for(BOUND))


def _measure(action: Callable[[], object]) -> tuple[float, int]:
    """(CPU seconds, peak traced bytes) of `action`, which must raise."""
    tracemalloc.start()
    start = time.process_time()
    try:
        with pytest.raises((CorruptDataError, ClientError)):
            action()
        return time.process_time() - start, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _weak_derive(n_bits: int, score_bound: int, blinding_bits: int) -> int:
    """The order the layout used before issue 13: compute the offset, check the fit after."""
    offset = (score_bound + 1) << blinding_bits
    slot_bits = (2 * offset - 1).bit_length()
    return (n_bits - 2) // slot_bits


def test_the_weak_order_allocates_before_it_can_refuse() -> None:
    # The same attack against the weak order, at 2^26 blinding bits (8 MiB) to keep the test
    # light: the allocation happens (4e9 bits would be 500 MB) and only then is the slot
    # found not to fit.
    tracemalloc.start()
    try:
        slots = _weak_derive(512, BOUND, 2**26)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert slots == 0 and peak > 8 * 2**20


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("blinding_bits", 4_000_000_000),
        ("blinding_bits", 4e9),
        ("blinding_bits", 2**26),
        ("blinding_bits", -1),
        ("blinding_bits", True),
        ("n_bits", 10**9),
        ("n_bits", MAX_LAYOUT_N_BITS + 2),
        ("n_bits", "512"),
        ("score_bound", "9" * 100_000),
        ("score_bound", str(2**600)),
        ("score_bound", "-5"),
        ("score_bound", 1.5),
        ("score_bound", "1_000_000"),
    ],
)
def test_a_hostile_layout_is_refused_fast_and_small(field: str, value: Any) -> None:
    data = LAYOUT.to_json()
    data[field] = value
    seconds, peak = _measure(lambda: PackingLayout.from_json(data))
    assert peak < 256 * 1024 + len(str(value)), peak
    assert seconds < 0.5, seconds  # CPU, not wall: microseconds in practice


def test_honest_layouts_still_parse() -> None:
    for bits in (512, 2048, 3072):
        for bound in (0, 1, 10**6, 2**60):
            layout = PackingLayout.derive(bits, bound, blinding_bits_for(bound))
            assert PackingLayout.from_json(layout.to_json()) == layout
    assert PackingLayout.from_json(PackingLayout.derive(512, 5, 0).to_json()).slots > 1


def _answered_by(handler: Callable[[httpx.Request], httpx.Response]) -> SealdogClient:
    """A client whose every request `handler` answers (a hostile server), with no retry."""
    return SealdogClient(
        "http://sealdog.test", "t", transport=httpx.MockTransport(handler), retry=RetryPolicy(1)
    )


def _verdicts_json(**changes: Any) -> dict[str, Any]:
    ev = EncryptedVerdicts(PK.fingerprint, "verdict", 1, LAYOUT, [PK.n + 1])
    data = ev.to_json()
    layout = changes.pop("layout", {})
    data["layout"] = {**data["layout"], **layout}
    data.update(changes)
    return data


@pytest.mark.parametrize(
    "changes",
    [
        {"layout": {"blinding_bits": 4_000_000_000}},
        {"layout": {"n_bits": 2**40}},
        {"count": 2**80},
        {"count": -1},
        {"key_fingerprint": "f" * 10_000},
    ],
)
def test_a_hostile_direct_answer_is_a_client_error_not_an_allocation(
    changes: dict[str, Any],
) -> None:
    """End to end through the HTTP client: the server's answer carries the hostile value."""
    verdicts = _verdicts_json(**changes)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200,
            json={
                "model_id": "m",
                "count": 1,
                "delivery": "direct",
                "message_ids": ["a"],
                "verdicts": verdicts,
            },
        )

    with _answered_by(handler) as client:
        seconds, peak = _measure(lambda: client.score("m", [b"Subject: hi\n\nhello"]))
    assert seconds < 0.5 and peak < 4 * 2**20, (seconds, peak)


def test_the_honest_answer_parses() -> None:
    assert EncryptedVerdicts.from_json(_verdicts_json()).layout == LAYOUT


def test_an_endless_answer_is_cut_off_at_the_cap(monkeypatch: pytest.MonkeyPatch) -> None:
    """The attack: a server that streams without end. The client stops reading at its cap
    (64 MiB for a JSON answer, lowered here to 1 MiB to keep the test light)."""
    from sealdog.client.http import transport

    monkeypatch.setattr(transport, "MAX_JSON_ANSWER_BYTES", 1 << 20)
    sent = 0

    def endless() -> Any:
        nonlocal sent
        while sent < 1 << 30:
            sent += 1 << 16
            yield b" " * (1 << 16)

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=endless(), headers={"content-type": "application/json"})

    with (
        _answered_by(handler) as client,
        pytest.raises(ClientError, match="larger than 1,048,576 bytes"),
    ):
        client.list_models()
    assert sent <= (1 << 20) + (1 << 16)


def test_an_absurdly_nested_answer_is_a_client_error() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(
            200, content=b"[" * 200_000, headers={"content-type": "application/json"}
        )

    with (
        _answered_by(handler) as client,
        pytest.raises(ClientError, match="did not answer with JSON"),
    ):
        client.list_models()
