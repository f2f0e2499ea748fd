"""Issue 14, the server's side: the key holder's attacks run through the HTTP API of a real
server on loopback. Each works on the weak variant (legacy blinding sized from the model's
declared bound: SEALDOG_BLINDING=legacy, accepted in demo mode only) and gets nothing with
the default caps. Plus: caps and structure checks at upload, with the figures in the 422.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from gmpy2 import mpz
from pydantic import ValidationError

from sealdog.client.http import Email, SealdogClient
from sealdog.client.local_server import LocalServer
from sealdog.crypto.paillier import (
    EncryptedVerdicts,
    PublicKey,
    SealedLinear,
    SecretKey,
    decrypt_verdicts,
    generate_keypair,
    seal_linear,
)
from sealdog.crypto.paillier.randomiser import DJNRandomiser
from sealdog.crypto.paillier.verdicts import Blinding, BlindingFactor, slot_values
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.protocol import Role
from sealdog.sealed_model import SealedModel, model_from_linear
from sealdog.server.settings import ServerSettings

PK, SK = generate_keypair(512, insecure=True)
SPACING = 36  # issue 14: weights 2^(36(i+1)), declared bound 256
WORDS = 8


def word(i: int) -> str:
    return f"zqword{i}"


def spec(n_words: int) -> dict[str, object]:
    return FeaturiserSpec(
        mode="vocabulary",
        vocabulary=tuple(f"w:{word(i)}" for i in range(n_words)),
        ngram_max=1,
        length_terms=False,
        max_count=1,
    ).to_dict()


def email(words: list[int], k: int) -> Email:
    body = " ".join([word(i) for i in words] + ["nothing", "else"])
    return Email(f"Subject: note {k}\n\n{body}\n".encode(), f"m{k}")


def lying_model(pk: PublicKey) -> SealedModel:
    """The key holder's lie: weights 2^(36(i+1)) (true bound ~2^324), declared bound 256."""
    djn = DJNRandomiser(pk)
    weights = [
        djn.encrypt_with(1 << (SPACING * (i + 1)), djn.random_exponent()) for i in range(WORDS)
    ]
    bias = djn.encrypt_with(0, djn.random_exponent())
    sealed = SealedLinear(pk, weights, bias, 1, 1, 256)
    return model_from_linear(sealed, featuriser=spec(WORDS), metadata={"name": "liar"})


def read_words(sk: SecretKey, ev: EncryptedVerdicts) -> set[int]:
    """The attacker's decoder: the 36-bit blocks of the raw slot; the words are the non-zero
    blocks when they all hold one value (r, or 2r), else no claim at all."""
    n = int(sk.public_key.n)
    x = (int(sk.decrypt_raw(ev.ciphertexts[0])) - ev.layout.offset) % n
    mask = (1 << SPACING) - 1
    blocks = {i: (x >> (SPACING * (i + 1))) & mask for i in range(WORDS)}
    present = {i for i, b in blocks.items() if b}
    if len({blocks[i] for i in present}) != 1 or x >> (SPACING * (WORDS + 1)):
        return set()
    return present


def owner_client(server: LocalServer) -> SealdogClient:
    with SealdogClient(server.url, server.admin_token, timeout=120) as admin:
        token = admin.create_token(Role.owner, subject="key-holder")["token"]
    return SealdogClient(server.url, token, timeout=120)


def upload_raw(owner: SealdogClient, model: SealedModel) -> httpx.Response:
    """The raw answer to an upload (the client would raise): status and problem detail."""
    return owner._http.post(
        "/v1/models",
        content=model.to_bytes(),
        headers={"Content-Type": "application/octet-stream"},
    )


@pytest.fixture(scope="module", params=[Blinding.LEGACY, Blinding.STANDARD], ids=str)
def live(
    request: pytest.FixtureRequest, tmp_path_factory
) -> Iterator[tuple[Blinding, LocalServer]]:
    blinding: Blinding = request.param
    env = {} if blinding is Blinding.STANDARD else {"SEALDOG_BLINDING": blinding.value}
    server = LocalServer(
        tmp_path_factory.mktemp(f"srv-{blinding.value}"),
        insecure_demo=True,  # 512-bit keys; the weak variant needs demo mode anyway
        scoring_processes=1,
        extra_env=env,
    ).start()
    try:
        yield blinding, server
    finally:
        server.stop()


def test_lying_bound_attack_through_http(live: tuple[Blinding, LocalServer]) -> None:
    """Weak variant: every word of every e-mail read, no false ones. Default caps: the
    blinding is sized from the server's cap, the blocks overlap, the decoder gets nothing
    (chance: true - false positives = 0)."""
    blinding, server = live
    rng = random.Random(7)
    recovered, present = 0, 0
    with owner_client(server) as owner:
        info = owner.deploy(lying_model(PK))
        for k in range(12):
            truth = {i for i in range(WORDS) if rng.random() < 0.4} | {k % WORDS}
            (result,) = owner.score(info.id, [email(sorted(truth), k)])
            ev = result.verdicts  # type: ignore[union-attr]
            assert isinstance(ev, EncryptedVerdicts)
            guess = read_words(SK, ev)
            recovered += len(guess & truth) - len(guess - truth)
            present += len(truth)
    if blinding is Blinding.LEGACY:
        assert recovered == present  # the attack works on the weak variant
    else:
        assert recovered == 0


def test_zero_detection_attack_through_http(live: tuple[Blinding, LocalServer]) -> None:
    """Issue 14's zero test, t < min r: about 8% of s = 0 verdicts on the weak variant; never
    with odd scores (t >= r >= min r for every s >= 0). Verdicts stay exact."""
    blinding, server = live
    sealed = seal_linear(PK, np.array([1.0, -1.0]), 0.0, scale_bits=4)
    model = model_from_linear(sealed, featuriser=spec(2), metadata={"name": "zero"})
    emails = [email([], k) for k in range(240)]  # no vocabulary word: s = bias = 0
    with owner_client(server) as owner:
        info = owner.deploy(model)
        results = owner.score(info.id, emails)
    revealed, verdicts = 0, []
    for result in results:
        ev = result.verdicts  # type: ignore[union-attr]
        assert isinstance(ev, EncryptedVerdicts)
        assert ev.layout.odd_scores is (blinding is not Blinding.LEGACY)
        min_r = 1 << (BlindingFactor.for_layout(ev.layout).mantissa_bits - 1)
        revealed += sum(0 <= t < min_r for t in slot_values(SK, ev))
        verdicts += decrypt_verdicts(SK, ev)
    assert verdicts == [True] * len(emails)
    if blinding is Blinding.LEGACY:
        assert revealed >= 5  # binomial(240, ~0.083): mean 20, P(< 5) ~ 1e-5
    else:
        assert revealed == 0


def test_default_caps_size_the_layout_not_the_declaration(
    live: tuple[Blinding, LocalServer],
) -> None:
    """With caps the slot is sized for 2^64 whatever the model declares; legacy sizes it from
    the declared bound (which is what the lying-bound attack exploits)."""
    blinding, server = live
    sealed = seal_linear(PK, np.array([1.0, -1.0]), 0.0, scale_bits=4)
    model = model_from_linear(sealed, featuriser=spec(2), metadata={"name": "layout"})
    with owner_client(server) as owner:
        info = owner.deploy(model)
        (result,) = owner.score(info.id, [email([0], 0)])
    ev = result.verdicts  # type: ignore[union-attr]
    assert isinstance(ev, EncryptedVerdicts)
    expected = sealed.score_bound if blinding is Blinding.LEGACY else 2**64 - 1
    assert ev.layout.score_bound == expected
    assert decrypt_verdicts(SK, ev) == [True]


def test_packing_width_is_checked_at_upload_with_the_figures(tmp_path: Path) -> None:
    """Caps that cannot fit this key: refused at upload (not at the first score)."""
    env = {"SEALDOG_MAX_SCORE_BOUND_BITS": "200", "SEALDOG_BLINDING": "strongest"}
    sealed = seal_linear(PK, np.array([1.0, -1.0]), 0.0, scale_bits=4)
    model = model_from_linear(sealed, featuriser=spec(2), metadata={"name": "wide"})
    with (
        LocalServer(tmp_path, insecure_demo=True, scoring_processes=1, extra_env=env) as server,
        owner_client(server) as owner,
    ):
        r = upload_raw(owner, model)
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "does not fit verdict mode under this 512-bit key" in detail and "bits" in detail


def test_trivially_structured_weight_is_refused_naming_its_index(
    live: tuple[Blinding, LocalServer],
) -> None:
    sealed = seal_linear(PK, np.array([1.0, -1.0, 0.5]), 0.0, scale_bits=4)
    weights = list(sealed.weights)
    weights[2] = mpz(1)  # Enc(0; 1)
    bad = SealedLinear(PK, weights, sealed.bias, 4, 1, sealed.score_bound)
    model = model_from_linear(bad, featuriser=spec(3), metadata={"name": "trivial"})
    with owner_client(live[1]) as owner:
        r = upload_raw(owner, model)
    assert r.status_code == 422, r.text
    assert "weight #2 is trivially structured" in r.json()["detail"]


def test_legacy_blinding_is_refused_outside_demo_mode(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="legacy"):
        ServerSettings(data_dir=tmp_path, blinding=Blinding.LEGACY)
    assert ServerSettings(data_dir=tmp_path, blinding="legacy", demo_mode=True).blinding is (
        Blinding.LEGACY
    )
    assert ServerSettings(data_dir=tmp_path).blinding is Blinding.STANDARD
