"""Issue 14 through the HTTP API: audited models and strict re-randomisation.

The lying-bound attack: a key holder seals honest-looking weights but declares a score bound
far below the real one, so the server sizes its blinding for scores that never occur and
the decrypted slot shows the score's magnitude. With SEALDOG_REQUIRE_ATTESTATION the server
scores only models a trusted auditor attested, and the auditor's bound check refuses to
sign this one: no verdict ever leaves the server for it (recovered words = 0).
"""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from server_testkit import (
    BIAS,
    HAM,
    SPAM,
    WEIGHTS,
    Keys,
    Server,
    decrypt,
    expected_score,
    featuriser_spec,
    make_server,
    make_settings,
    seal,
)

from sealdog.attestation import (
    Attestation,
    Statement,
    auditor_id,
    generate_auditor_key,
    public_key_b64,
    sign_statement,
)
from sealdog.client.attestation import attest, check_bounds
from sealdog.client.openings import expected_plaintexts, recover_openings, verify_exact
from sealdog.mail.featuriser import FeaturiserSpec
from sealdog.sealed_model import SealedModel
from sealdog.server.settings import StrictRerandomise
from sealdog.trainer.model import LinearModel

AUDITOR = generate_auditor_key()
STRANGER = generate_auditor_key()


def plain_model() -> LinearModel:
    return LinearModel(np.array(WEIGHTS), BIAS, FeaturiserSpec.from_dict(featuriser_spec()))


def lying(model: SealedModel, score_bound: int = 256) -> SealedModel:
    """The same ciphertexts with an under-declared score bound (a new digest)."""
    manifest = model.manifest_dict()
    manifest.pop("digest")
    manifest["score_bound"] = (
        str(score_bound) if isinstance(manifest["score_bound"], str) else score_bound
    )
    return SealedModel(manifest, model.payload)


def audited(keys: Keys, model: SealedModel, *, key=AUDITOR, max_weight: float = 4.0) -> Attestation:
    """The auditor's flow: openings from the key holder, exact re-encryption, bound checks,
    signature (raises if a bound check fails)."""
    plain = plain_model()
    openings = recover_openings(keys.secret, model, workers=1)
    expected = expected_plaintexts(model, plain.weights, plain.bias)
    assert verify_exact(model, openings, expected, workers=1) == []
    report = check_bounds(model, plain, max_weight=max_weight)
    return attest(model, report, key, ciphertext_check="exact re-encryption from openings")


def header(attestation: Attestation) -> dict[str, str]:
    return {"Sealdog-Attestation": base64.b64encode(attestation.to_bytes()).decode()}


def emails(*raws: bytes) -> dict:
    return {"emails": [{"base64": base64.b64encode(r).decode()} for r in raws]}


@pytest.fixture(scope="module")
def strict_server(tmp_path_factory):
    settings = make_settings(
        tmp_path_factory.mktemp("attested"),
        trusted_auditors=public_key_b64(AUDITOR.public_key()),
        require_attestation=True,
    )
    yield from make_server(settings)


@pytest.fixture(scope="module")
def honest(keys: Keys) -> tuple[SealedModel, Attestation]:
    model = seal(keys)
    return model, audited(keys, model)


def test_the_auditor_refuses_to_sign_a_lying_bound(keys: Keys, honest) -> None:
    model = lying(honest[0])
    report = check_bounds(model, plain_model(), max_weight=4.0)
    assert not report.passed
    assert any("declared score_bound" in f for f in report.failures)
    assert report.true_bound > report.score_bound == 256
    with pytest.raises(Exception, match="refusing to attest"):
        audited(keys, model)


def test_the_auditor_refuses_weights_over_the_declared_bound(keys: Keys, honest) -> None:
    report = check_bounds(honest[0], plain_model(), max_weight=2.0)  # |3.0|, |2.5| are over
    assert [f for f in report.failures if "per-weight bound" in f]
    assert check_bounds(honest[0], plain_model(), max_weight=3.0).passed


def test_the_auditor_refuses_another_featuriser(honest) -> None:
    other = dict(featuriser_spec(), vocabulary=["w:a", "w:b", "w:c", "w:d", "w:e", "w:f", "w:g"])
    report = check_bounds(honest[0], plain_model(), max_weight=4.0, declared_featuriser=other)
    assert "the sealed featuriser spec is not the declared one" in report.failures


def test_attested_model_is_accepted_and_scores(strict_server: Server, honest, keys: Keys) -> None:
    model, attestation = honest
    r = strict_server.upload(
        model.to_bytes(), headers={**strict_server.owner, **header(attestation)}
    )
    assert r.status_code == 201, r.text
    info = r.json()
    assert info["attestation"]["statement"]["auditor"] == auditor_id(AUDITOR.public_key())
    assert info["strict_rerandomise"] is False
    r = strict_server.client.post(
        f"/v1/models/{info['id']}/score", headers=strict_server.owner, json=emails(SPAM, HAM)
    )
    assert r.status_code == 200, r.text
    assert decrypt(keys, r.json()["verdicts"]) == [
        expected_score(SPAM) > 0,
        expected_score(HAM) > 0,
    ]


def test_lying_bound_model_never_scores_with_attestation_required(
    strict_server: Server, honest, keys: Keys
) -> None:
    model = lying(honest[0])
    # The honest model's attestation does not cover it (another digest): refused, not stored.
    before = len(strict_server.repo.list_models("alice"))
    r = strict_server.upload(model.to_bytes(), headers={**strict_server.owner, **header(honest[1])})
    assert r.status_code == 422 and r.json()["reason"] == "attestation", r.text
    assert "not this model" in r.json()["detail"]
    # A statement about this model signed by an auditor the server does not trust: refused.
    forged = sign_statement(
        Statement(
            **{
                **honest[1].statement.__dict__,
                "model_digest": model.digest,
                "auditor": auditor_id(STRANGER.public_key()),
            }
        ),
        STRANGER,
    )
    r = strict_server.upload(model.to_bytes(), headers={**strict_server.owner, **header(forged)})
    assert r.status_code == 422 and "does not trust" in r.json()["detail"]
    assert len(strict_server.repo.list_models("alice")) == before  # nothing partial stored
    # Without an attestation it is refused at upload (the server's own bound caps) or stored,
    # but then it never scores: either way there is no verdict to read.
    r = strict_server.upload(model.to_bytes())
    if r.status_code == 422:
        return
    assert r.status_code == 201, r.text
    mid = r.json()["id"]
    for who in (strict_server.owner, strict_server.submitter):
        if who is strict_server.submitter:
            strict_server.grant(mid)
        r = strict_server.client.post(f"/v1/models/{mid}/score", headers=who, json=emails(SPAM))
        assert r.status_code == 403, r.text
        assert r.json()["reason"] == "attestation_required"
        assert "no attestation" in r.json()["detail"]
        assert "verdicts" not in r.json()
    # Nor can a forged attestation be attached later.
    r = strict_server.client.put(
        f"/v1/models/{mid}/attestation", headers=strict_server.owner, json=forged.to_json()
    )
    assert r.status_code == 422


def test_tampered_or_malformed_attestations_are_refused(strict_server: Server, honest) -> None:
    model, attestation = honest
    doc = attestation.to_json()
    bigger = json.loads(json.dumps(doc))
    bigger["statement"]["score_bound"] = str(int(doc["statement"]["score_bound"]) * 2)
    cases = {
        "signature": bigger,
        "malformed": {"format": "x", "statement": {}, "signature": ""},
        "malformed attestation": {**doc, "statement": {**doc["statement"], "max_count": "1"}},
    }
    for expected, document in cases.items():
        r = strict_server.upload(
            model.to_bytes(),
            headers={
                **strict_server.owner,
                "Sealdog-Attestation": base64.b64encode(json.dumps(document).encode()).decode(),
            },
        )
        assert r.status_code == 422 and expected in r.json()["detail"], (expected, r.text)
    r = strict_server.upload(
        model.to_bytes(), headers={**strict_server.owner, "Sealdog-Attestation": "%%%"}
    )
    assert r.status_code == 422 and r.json()["reason"] == "attestation"


def test_attestation_attached_later_lets_the_model_score(strict_server: Server, keys: Keys) -> None:
    model = seal(keys, metadata={"name": "later"})
    r = strict_server.upload(model.to_bytes())
    assert r.status_code == 201 and r.json()["attestation"] is None
    mid = r.json()["id"]
    score = lambda: strict_server.client.post(  # noqa: E731
        f"/v1/models/{mid}/score", headers=strict_server.owner, json=emails(SPAM)
    )
    assert score().status_code == 403
    attestation = audited(keys, model)
    r = strict_server.client.put(
        f"/v1/models/{mid}/attestation",
        headers=strict_server.other_owner,
        json=attestation.to_json(),
    )
    assert r.status_code == 404  # only the owner attaches
    r = strict_server.client.put(
        f"/v1/models/{mid}/attestation", headers=strict_server.owner, json=attestation.to_json()
    )
    assert r.status_code == 200, r.text
    assert score().status_code == 200


def test_settings_refuse_bad_auditor_keys_and_require_without_auditors(tmp_path: Path) -> None:
    from pydantic import ValidationError

    from sealdog.server.settings import ServerSettings

    with pytest.raises(ValidationError, match="TRUSTED_AUDITORS"):
        ServerSettings(data_dir=tmp_path, trusted_auditors="not-a-key")
    with pytest.raises(ValidationError, match="REQUIRE_ATTESTATION"):
        ServerSettings(data_dir=tmp_path, require_attestation=True)
    pub = tmp_path / "a.pub"
    pub.write_text(public_key_b64(AUDITOR.public_key()) + "\n")
    both = ServerSettings(
        data_dir=tmp_path, trusted_auditors=f"{pub}, {public_key_b64(STRANGER.public_key())}"
    )
    assert set(both.auditors().keys) == {
        auditor_id(AUDITOR.public_key()),
        auditor_id(STRANGER.public_key()),
    }
    assert both.strict_rerandomise is StrictRerandomise.auto
