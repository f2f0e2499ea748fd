"""SEALDOG_STRICT_RERANDOMISE reaches the scorer: for each server setting, model request and
attestation, the number of full r^n randomisers the Paillier scorer draws is counted (a test
double wraps `full_randomiser`) while the router's real job runs through the worker's real
`score_job`, and the verdicts still decrypt to the plaintext model's decisions."""

from __future__ import annotations

import base64
import itertools

import pytest
from server_testkit import SPAM, Keys, decrypt, expected_score, make_server, make_settings, seal
from test_attestation_api import audited, header

import sealdog.crypto.paillier.linear as paillier_linear
from sealdog.attestation import generate_auditor_key, public_key_b64
from sealdog.crypto.paillier import EncryptedVerdicts
from sealdog.server import scoring_worker
from sealdog.server.attestations import strict_for
from sealdog.server.kinds.base import ScoreJob
from sealdog.server.settings import StrictRerandomise

AUDITOR = generate_auditor_key()


@pytest.mark.parametrize(
    ("setting", "asks", "attested", "strict"),
    [
        (StrictRerandomise.on, False, True, True),
        (StrictRerandomise.on, False, False, True),
        (StrictRerandomise.off, False, False, False),
        (StrictRerandomise.off, True, True, True),  # a model can ask for strict
        (StrictRerandomise.auto, False, False, True),
        (StrictRerandomise.auto, False, True, False),
        (StrictRerandomise.auto, True, True, True),  # ...and never loses it
    ],
)
def test_strict_for(setting: StrictRerandomise, asks: bool, attested: bool, strict: bool) -> None:
    assert strict_for(setting, model_asks=asks, attested=attested) is strict


def test_every_combination_is_covered() -> None:
    for setting, asks, attested in itertools.product(
        StrictRerandomise, (False, True), (False, True)
    ):
        expected = (
            setting is StrictRerandomise.on
            or asks
            or (setting is StrictRerandomise.auto and not attested)
        )
        assert strict_for(setting, model_asks=asks, attested=attested) is expected


@pytest.mark.parametrize("setting", list(StrictRerandomise))
def test_the_setting_reaches_the_scorer(
    setting: StrictRerandomise, keys: Keys, tmp_path, monkeypatch
) -> None:
    draws: list[int] = []
    real = paillier_linear.full_randomiser

    def counting(pk):  # the test double: the real randomiser, counted
        draws.append(1)
        return real(pk)

    monkeypatch.setattr(paillier_linear, "full_randomiser", counting)
    jobs: list[ScoreJob] = []

    async def in_process(job: ScoreJob):
        jobs.append(job)
        return scoring_worker.score_job(job)

    settings = make_settings(
        tmp_path, strict_rerandomise=setting, trusted_auditors=public_key_b64(AUDITOR.public_key())
    )
    running = make_server(settings)
    server = next(running)
    try:
        monkeypatch.setattr(server.client.app.state.services.scoring, "score", in_process)
        plain_model = seal(keys, metadata={"name": "plain"})
        attested_model = seal(keys, metadata={"name": "attested"})
        asking_model = seal(keys, metadata={"name": "asks"})
        ids = {
            "plain": server.upload(plain_model.to_bytes()).json()["id"],
            "attested": server.upload(
                attested_model.to_bytes(),
                headers={**server.owner, **header(audited(keys, attested_model, key=AUDITOR))},
            ).json()["id"],
            "asks": server.upload(asking_model.to_bytes(), strict_rerandomise="true").json()["id"],
        }
        # A model cannot turn strict off again by re-uploading without the flag.
        assert server.upload(asking_model.to_bytes()).json()["strict_rerandomise"] is True
        body = {"emails": [{"base64": base64.b64encode(SPAM).decode()}] * 3}
        seen = {}
        for name, mid in ids.items():
            draws.clear()
            r = server.client.post(f"/v1/models/{mid}/score", headers=server.owner, json=body)
            assert r.status_code == 200, r.text
            assert decrypt(keys, r.json()["verdicts"]) == [expected_score(SPAM) > 0] * 3
            packs = len(EncryptedVerdicts.from_json(r.json()["verdicts"]).ciphertexts)
            assert jobs[-1].options.strict_rerandomise is bool(draws)
            seen[name] = len(draws)
            assert len(draws) in (0, packs)  # one full r^n per output pack, or none
    finally:
        running.close()
    strict = {
        name: strict_for(setting, model_asks=name == "asks", attested=name == "attested")
        for name in ids
    }
    assert {name: n > 0 for name, n in seen.items()} == strict
