"""Wire bytes and fixed-randomness ciphertexts are exactly those of the code before issue 11.

tests/crypto/data/ was written ONCE by the code of commit c01cb52 (before the encryption
primitive, the frame module and the `Mode` enum): a 512-bit test key, a sealed model, the
encrypted verdicts of three `LinearScorer.score_batch` calls and a verdicts frame file, each
made with `secrets` replaced by seeded `random.Random` streams. Replaying the same streams
through today's code must give the same integers and the same bytes; an old file must read.
(The openings-file fixture is checked in tests/client/test_openings.py.)
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from gmpy2 import mpz

from sealdog.crypto.paillier import (
    DJNRandomiser,
    EncryptedVerdicts,
    LinearScorer,
    Mode,
    PublicKey,
    SecretKey,
    decrypt_scores,
    decrypt_verdicts,
    seal_linear,
    seal_linear_with_openings,
)
from sealdog.crypto.paillier import randomiser as randomiser_module
from sealdog.crypto.paillier import verdicts as verdicts_module
from sealdog.crypto.paillier.verdicts import Blinding

DATA = Path(__file__).parent / "data"
FIXTURE: dict[str, Any] = json.loads((DATA / "pre_shape_paillier.json").read_text())
PK = PublicKey(mpz(FIXTURE["n"], 16), insecure=True)
SK = SecretKey(PK, mpz(FIXTURE["p"], 16), mpz(FIXTURE["q"], 16))
WEIGHTS = np.array(FIXTURE["weights"])
BIAS = float(FIXTURE["bias"])
VECTORS = [
    (np.array(i, dtype=np.int64), np.array(c, dtype=np.int64)) for i, c in FIXTURE["vectors"]
]


class SeededSecrets:
    """Stands in for the `secrets` module: the same draws as the fixture's writer."""

    def __init__(self, seed: int) -> None:
        self._rng = random.Random(seed)

    def randbits(self, k: int) -> int:
        return self._rng.getrandbits(k)

    def randbelow(self, n: int) -> int:
        return self._rng.randrange(n)


@pytest.fixture
def seeded(monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    def apply(randomiser_seed: int, verdicts_seed: int) -> None:
        monkeypatch.setattr(randomiser_module, "secrets", SeededSecrets(randomiser_seed))
        monkeypatch.setattr(verdicts_module, "secrets", SeededSecrets(verdicts_seed))

    return apply


def _hex(values: list[mpz]) -> list[str]:
    return [format(v, "x") for v in values]


def _sealed_with_openings(seeded):  # type: ignore[no-untyped-def]
    seeded(*FIXTURE["seal_seeds"])
    return seal_linear_with_openings(
        PK, WEIGHTS, BIAS, scale_bits=FIXTURE["scale_bits"], max_count=FIXTURE["max_count"]
    )


def test_sealing_gives_the_same_ciphertexts_and_openings(seeded) -> None:  # type: ignore[no-untyped-def]
    sealed, openings = _sealed_with_openings(seeded)
    assert _hex(sealed.weights) == FIXTURE["sealed_weights"]
    assert format(sealed.bias, "x") == FIXTURE["sealed_bias"]
    pinned = FIXTURE["openings"]
    assert format(openings.base, "x") == pinned["base"] and openings.exp_bits == pinned["exp_bits"]
    assert [format(a, "x") for a in openings.weight_exponents] == pinned["weight_exponents"]
    assert format(openings.bias_exponent, "x") == pinned["bias_exponent"]
    assert openings.verify(sealed, WEIGHTS, BIAS)
    # seal_linear is the same sealing without the openings
    seeded(*FIXTURE["seal_seeds"])
    plain = seal_linear(PK, WEIGHTS, BIAS, scale_bits=FIXTURE["scale_bits"], max_count=2)
    assert plain == sealed


@pytest.mark.parametrize("case", ["verdict", "score", "verdict40"])
def test_scoring_gives_the_same_bytes(seeded, case: str) -> None:  # type: ignore[no-untyped-def]
    sealed, _ = _sealed_with_openings(seeded)
    pinned = FIXTURE["score_batch"][case]
    seeded(*pinned["seeds"])
    mode = Mode.SCORE if case == "score" else Mode.VERDICT
    # the fixture predates odd-score blinding (issue 14): its form is Blinding.LEGACY
    ev = LinearScorer(
        sealed, mode=mode, blinding_bits=pinned["blinding_bits"], blinding=Blinding.LEGACY
    ).score_batch(VECTORS)
    assert ev.to_bytes().hex() == pinned["bytes"]
    assert json.dumps(ev.to_json(), sort_keys=True) == json.dumps(pinned["json"], sort_keys=True)
    fp_scores = [
        round(BIAS * 2**16) + sum(round(WEIGHTS[i] * 2**16) * c for i, c in zip(idx, cnt))
        for idx, cnt in FIXTURE["vectors"]
    ]
    assert decrypt_verdicts(SK, ev) == [s >= 0 for s in fp_scores]
    if mode is Mode.SCORE:
        assert decrypt_scores(SK, ev) == fp_scores


def test_djn_encrypt_with_gives_the_same_ciphertexts() -> None:
    djn = DJNRandomiser(
        PK, mpz(FIXTURE["openings"]["base"], 16), exp_bits=FIXTURE["openings"]["exp_bits"]
    )
    for m, a, c in FIXTURE["djn_encrypt_with"]:
        assert str(djn.encrypt_with(m, a)) == c
        assert str(djn.encrypt_with(m - int(PK.n), a)) == c  # only m mod n matters


def test_a_verdicts_file_written_before_still_reads_and_rewrites_identically() -> None:
    old = (DATA / "verdicts_v1.sdev").read_bytes()
    ev = EncryptedVerdicts.from_bytes(old)
    assert ev == EncryptedVerdicts.from_json(FIXTURE["score_batch"]["verdict"]["json"])
    assert ev.mode is Mode.VERDICT and ev.key_fingerprint == PK.fingerprint
    assert ev.to_bytes() == old
    assert len(decrypt_verdicts(SK, ev)) == len(VECTORS)
