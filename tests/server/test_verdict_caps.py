"""Issue 14, the server's side: the key holder's attacks run through the HTTP API of a real
server on loopback. Each works on the weak variant (legacy blinding sized from the model's
declared bound: SEALDOG_BLINDING=legacy, accepted in demo mode only) and gets nothing with
the default caps. Plus: caps and structure checks at upload, with the figures in the 422.

Issue 17: a model attested by a trusted auditor gets slots sized from min(cap, attested
bound); the lying-bound model cannot get there with another model's attestation, and a
server that sized slots from a bound nobody verified would hand the attack its words.
"""

from __future__ import annotations

import base64
import random
from collections.abc import Iterator
from pathlib import Path

import httpx
import numpy as np
import pytest
from gmpy2 import mpz
from lying_bound import SPACING, email_bytes, lying_sealed, read_blocks, vocabulary_spec
from pydantic import ValidationError

from sealdog.attestation import (
    Attestation,
    Statement,
    auditor_id,
    featuriser_digest,
    generate_auditor_key,
    public_key_b64,
    sign_statement,
)
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
from sealdog.crypto.paillier.verdicts import Blinding, BlindingFactor, slot_values
from sealdog.protocol import Mode, Role
from sealdog.sealed_model import SealedModel, model_from_linear
from sealdog.server.kinds.base import EmailBatch, ScoringOptions
from sealdog.server.kinds.linear import LinearModel, ScoringCaps
from sealdog.server.settings import ServerSettings

PK, SK = generate_keypair(512, insecure=True)
AUDITOR = generate_auditor_key()
CAP_BOUND = 2**64 - 1
WORDS = 8


def spec(n_words: int) -> dict[str, object]:
    return vocabulary_spec(n_words)


def email(words: list[int], k: int) -> Email:
    return Email(email_bytes(words, k), f"m{k}")


def lying_model(pk: PublicKey) -> SealedModel:
    """The key holder's lie: weights 2^(36(i+1)) (true bound ~2^324), declared bound 256."""
    return model_from_linear(
        lying_sealed(pk, SPACING, WORDS), featuriser=spec(WORDS), metadata={"name": "liar"}
    )


def read_words(sk: SecretKey, ev: EncryptedVerdicts) -> set[int]:
    """The attacker's decoder (lying_bound.read_blocks) for this module's model."""
    return read_blocks(sk, ev, SPACING, WORDS)


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


# --- issue 17: slots sized from a verified (attested) bound ---------------------------------


def attestation_for(model: SealedModel, score_bound: int) -> Attestation:
    """What the trusted auditor signs after its bound checks (client/attestation.py)."""
    statement = Statement(
        model_digest=model.digest,
        key_fingerprint=model.key_fingerprint,
        featuriser_sha256=featuriser_digest(model.featuriser),
        max_count=int(model.manifest["max_count"]),
        score_bound=score_bound,
        weight_bound=score_bound,
        checked=("test: bound checked on the plaintext weights",),
        auditor=auditor_id(AUDITOR.public_key()),
        issued_at="2026-12-01T00:00:00+00:00",
    )
    return sign_statement(statement, AUDITOR)


@pytest.fixture(scope="module")
def audited_server(tmp_path_factory) -> Iterator[LocalServer]:
    env = {"SEALDOG_TRUSTED_AUDITORS": public_key_b64(AUDITOR.public_key())}
    server = LocalServer(
        tmp_path_factory.mktemp("srv-audited"),
        insecure_demo=True,  # 512-bit keys
        scoring_processes=1,
        extra_env=env,
    ).start()
    try:
        yield server
    finally:
        server.stop()


def test_attested_bound_sizes_the_slots_and_verdicts_stay_exact(
    audited_server: LocalServer,
) -> None:
    """The same weights twice (two digests): attested, the layout is sized for the attested
    bound (more slots per ciphertext); unattested, for the cap. Both decrypt to the signs of
    the plaintext scores."""
    weights = np.array([1.5, -2.0, 0.75, -0.5, 3.0, -1.25, 0.25, -3.5])
    sealed = seal_linear(PK, weights, -0.125, scale_bits=8)
    attested = model_from_linear(sealed, featuriser=spec(WORDS), metadata={"name": "attested"})
    plain = model_from_linear(sealed, featuriser=spec(WORDS), metadata={"name": "plain"})
    rng = random.Random(3)
    subsets = [sorted(i for i in range(WORDS) if rng.random() < 0.5) for _ in range(16)]
    mails = [email(words, k) for k, words in enumerate(subsets)]
    expected = [-0.125 + sum(weights[i] for i in words) >= 0 for words in subsets]
    with owner_client(audited_server) as owner:
        info = owner.deploy(
            attested, attestation=attestation_for(attested, sealed.score_bound).to_bytes()
        )
        other = owner.deploy(plain)
        layouts = {}
        for name, mid in (("attested", info.id), ("plain", other.id)):
            results = owner.score(mid, mails)
            verdicts: list[bool] = []
            for result in results:
                ev = result.verdicts  # type: ignore[union-attr]
                assert isinstance(ev, EncryptedVerdicts)
                verdicts += decrypt_verdicts(SK, ev)
                layouts[name] = ev.layout
            assert verdicts == expected, name
    assert layouts["attested"].score_bound == sealed.score_bound
    assert layouts["plain"].score_bound == CAP_BOUND
    assert layouts["attested"].slots > layouts["plain"].slots


def test_another_models_attestation_cannot_shrink_the_lying_models_slots(
    audited_server: LocalServer,
) -> None:
    """The lying-bound model with an honest model's attestation (or one signed for another
    bound) is refused at upload and on attach; stored without one it gets cap-sized slots
    and the attack reads nothing."""
    honest_sealed = seal_linear(PK, np.array([1.0] * WORDS), 0.0, scale_bits=4)
    honest = model_from_linear(honest_sealed, featuriser=spec(WORDS), metadata={"name": "h"})
    liar = lying_model(PK)
    foreign = attestation_for(honest, honest_sealed.score_bound).to_bytes()
    with owner_client(audited_server) as owner:
        r = owner._http.post(
            "/v1/models",
            content=liar.to_bytes(),
            headers={
                "Content-Type": "application/octet-stream",
                "Sealdog-Attestation": base64.b64encode(foreign).decode(),
            },
        )
        assert r.status_code == 422 and "not this model" in r.json()["detail"], r.text
        info = owner.deploy(liar)
        for doc in (
            attestation_for(honest, honest_sealed.score_bound),  # another model
            attestation_for(liar, 2**40),  # another bound than the manifest's (256)
        ):
            r = owner._http.put(f"/v1/models/{info.id}/attestation", json=doc.to_json())
            assert r.status_code == 422, r.text
        rng = random.Random(11)
        recovered = 0
        for k in range(8):
            truth = {i for i in range(WORDS) if rng.random() < 0.4} | {k % WORDS}
            (result,) = owner.score(info.id, [email(sorted(truth), k)])
            ev = result.verdicts  # type: ignore[union-attr]
            assert isinstance(ev, EncryptedVerdicts)
            assert ev.layout.score_bound == CAP_BOUND
            guess = read_words(SK, ev)
            recovered += len(guess & truth) - len(guess - truth)
    assert recovered == 0


def test_an_unverified_bound_would_hand_the_attack_its_words() -> None:
    """Why only a VERIFIED bound may size the slots: the scoring process told the declared
    256 as if attested (the weak variant) lets the decoder read every word; told nothing, or
    a bound below the declared one, it sizes from the cap and the decoder reads nothing."""
    caps = ScoringCaps(64, Blinding.STANDARD)
    model = LinearModel(lying_model(PK), caps)
    rng = random.Random(5)
    outcome: dict[int | None, int] = {}
    present = 0
    for attested in (256, None, 255):
        outcome[attested] = 0
        for k in range(6):
            truth = {i for i in range(WORDS) if rng.random() < 0.4} | {k % WORDS}
            present += len(truth) if attested == 256 else 0
            raw = email(sorted(truth), k).raw
            out = model.score(
                EmailBatch((raw,), max_email_bytes=1 << 20),
                ScoringOptions(Mode.VERDICT, attested_score_bound=attested),
            )
            ev = EncryptedVerdicts.from_json(out)
            assert ev.layout.score_bound == (256 if attested == 256 else CAP_BOUND)
            guess = read_words(SK, ev)
            outcome[attested] += len(guess & truth) - len(guess - truth)
    assert outcome[256] == present > 0
    assert outcome[None] == 0 and outcome[255] == 0
