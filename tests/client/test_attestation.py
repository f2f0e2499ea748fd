"""Attestation documents and auditor keys (`sealdog.attestation`), and the CLI flow
`auditor-keygen` -> `audit --attest` -> `deploy --attestation`.

The signature covers every field of the statement: changing any one of them (property-
based over fields and values) makes a trusted verifier refuse it.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from sealdog.attestation import (
    Attestation,
    AttestationError,
    AuditorKeyError,
    Statement,
    TrustedAuditors,
    auditor_id,
    generate_auditor_key,
    public_key_b64,
    read_private_key,
    sign_statement,
    write_keypair,
)
from sealdog.cli import app

KEY = generate_auditor_key()
OTHER = generate_auditor_key()
TRUSTED = TrustedAuditors.of([KEY.public_key()])


def statement(**changes: object) -> Statement:
    values: dict[str, object] = dict(
        model_digest="ab" * 32,
        key_fingerprint="cd" * 32,
        featuriser_sha256="ef" * 32,
        max_count=2,
        score_bound=12345678901234567890123,
        weight_bound=1 << 20,
        checked=("every weight re-encrypted", "score bound >= |b| + max_count * sum|w|"),
        auditor=auditor_id(KEY.public_key()),
        issued_at="2026-12-01T00:00:00+00:00",
    )
    values.update(changes)
    return Statement(**values)  # type: ignore[arg-type]


def test_a_signed_statement_verifies_and_round_trips() -> None:
    signed = sign_statement(statement(), KEY)
    again = Attestation.from_bytes(signed.to_bytes())
    assert again == signed
    again.verify(TRUSTED, model_digest="ab" * 32)


def test_refusals_say_why() -> None:
    signed = sign_statement(statement(), KEY)
    with pytest.raises(AttestationError, match="not this model"):
        signed.verify(TRUSTED, model_digest="00" * 32)
    with pytest.raises(AttestationError, match="does not trust"):
        signed.verify(TrustedAuditors.of([OTHER.public_key()]), model_digest="ab" * 32)
    with pytest.raises(AttestationError, match="trusts no auditor"):
        signed.verify(TrustedAuditors.of([]), model_digest="ab" * 32)
    # Another key claiming to be the trusted auditor: the signature does not verify.
    impostor = Attestation(signed.statement, OTHER.sign(signed.statement.message()))
    with pytest.raises(AttestationError, match="signature is not valid"):
        impostor.verify(TRUSTED, model_digest="ab" * 32)
    with pytest.raises(AttestationError, match="another auditor"):
        sign_statement(statement(), OTHER)


_CHANGES = {
    "model_digest": st.just("ac" * 32),
    "key_fingerprint": st.text(min_size=1, max_size=20),
    "featuriser_sha256": st.just("0f" * 32),
    "max_count": st.integers(3, 1000),
    "score_bound": st.integers(0, 1 << 3000).filter(lambda b: b != 12345678901234567890123),
    "weight_bound": st.integers(0, 1 << 64).filter(lambda b: b != 1 << 20),
    "checked": st.lists(st.text(max_size=10), max_size=3).map(tuple),
    "issued_at": st.text(min_size=1, max_size=30),
}


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(sorted(_CHANGES)).flatmap(lambda f: st.tuples(st.just(f), _CHANGES[f])))
def test_changing_any_signed_field_breaks_the_signature(change: tuple[str, object]) -> None:
    field, value = change
    signed = sign_statement(statement(), KEY)
    tampered = Attestation(statement(**{field: value}), signed.signature)
    if tampered.statement == signed.statement:
        return
    with pytest.raises(AttestationError):
        tampered.verify(TRUSTED, model_digest=tampered.statement.model_digest)


@pytest.mark.parametrize(
    "document",
    [
        b"",
        b"[]",
        b'{"format": "sealdog-attestation-v1"}',
        b'{"format": "other", "statement": {}, "signature": ""}',
        b'{"format": "sealdog-attestation-v1", "statement": {}, "signature": "AAAA"}',
        b"x" * (70 * 1024),
    ],
)
def test_malformed_documents_are_refused(document: bytes) -> None:
    with pytest.raises(AttestationError, match="malformed"):
        Attestation.from_bytes(document)


def test_statement_fields_are_typed() -> None:
    doc = sign_statement(statement(), KEY).to_json()
    for field, bad in [
        ("max_count", "2"),
        ("score_bound", "-1"),
        ("score_bound", "ten"),
        ("model_digest", "AB"),
        ("checked", "all"),
    ]:
        broken = json.loads(json.dumps(doc))
        broken["statement"][field] = bad
        with pytest.raises(AttestationError, match="malformed"):
            Attestation.from_json(broken)
    extra = json.loads(json.dumps(doc))
    extra["statement"]["note"] = "x"
    with pytest.raises(AttestationError, match="exactly the fields"):
        Attestation.from_json(extra)


def test_auditor_key_files(tmp_path: Path) -> None:
    path = tmp_path / "auditor.key"
    public_path = write_keypair(KEY, path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert public_path.read_text().strip() == public_key_b64(KEY.public_key())
    assert auditor_id(read_private_key(path).public_key()) == auditor_id(KEY.public_key())
    with pytest.raises(AuditorKeyError, match="refusing to overwrite"):
        write_keypair(OTHER, path)
    public_path.write_text("garbage\n")
    with pytest.raises(AuditorKeyError):
        read_private_key(public_path)
    with pytest.raises(AuditorKeyError, match="neither a readable file nor a key"):
        TrustedAuditors.parse("AAAA")
    with pytest.raises(AuditorKeyError):
        TrustedAuditors.parse(str(public_path))
    assert not TrustedAuditors.parse(" , ")


def test_cli_flow_attests_only_a_sound_model(tmp_path: Path, monkeypatch) -> None:
    """keygen -> seal -> export-openings -> audit --attest: a weight over --max-weight exits 6
    and signs nothing; a sound model gets an attestation a trusted verifier accepts, shown
    in the HTML report; deploy refuses an attestation for another model before uploading."""
    from sealdog.mail.featuriser import FeaturiserSpec
    from sealdog.sealed_model import SealedModel
    from sealdog.trainer.model import LinearModel

    monkeypatch.chdir(tmp_path)
    runner = CliRunner()

    def run(*args: str) -> object:
        return runner.invoke(app, list(args), catch_exceptions=False)

    assert run("keygen", "--bits", "1024", "--insecure").exit_code == 0
    spec = FeaturiserSpec(
        mode="vocabulary", vocabulary=("w:free", "w:money", "w:meeting"), ngram_max=1, max_count=1
    )
    LinearModel(np.array([3.0, 1.5, -2.0]), -1.0, spec).save("model.json")
    assert run("seal", "model.json", "-p", "sealdog.pub.json", "-o", "m.sealed").exit_code == 0
    assert run("auditor-keygen", "--out", "auditor.key").exit_code == 0
    opened = run("export-openings", "m.sealed", "-k", "sealdog.key.json", "-o", "m.openings")
    assert opened.exit_code == 0  # type: ignore[attr-defined]
    audit = ["audit", "m.sealed", "--model", "model.json", "--openings", "m.openings", "--attest"]
    audit += ["--auditor-key", "auditor.key", "--limit", "4"]
    refused = run(*audit, "--max-weight", "2.5", "--report", "bad.html")
    assert refused.exit_code == 6  # type: ignore[attr-defined]
    assert "refusing to attest" in refused.output  # type: ignore[attr-defined]
    assert not Path("m.sealed.attestation.json").exists()
    passed = run(*audit, "--max-weight", "3", "--report", "good.html")
    assert passed.exit_code == 0, passed.output  # type: ignore[attr-defined]
    attestation = Attestation.from_bytes(Path("m.sealed.attestation.json").read_bytes())
    model = SealedModel.read("m.sealed")
    trusted = TrustedAuditors.parse(str(tmp_path / "auditor.key.pub"))
    attestation.verify(trusted, model_digest=model.digest)
    assert attestation.statement.weight_bound == 3 << int(model.manifest["scale_bits"])
    report = Path("good.html").read_text()
    assert attestation.statement.auditor in report and "what the auditor checked" in report
    other = sign_statement(
        statement(auditor=attestation.statement.auditor), read_private_key("auditor.key")
    )
    Path("other.json").write_bytes(other.to_bytes())
    deploy = run("deploy", "m.sealed", "--attestation", "other.json", "--url", "http://127.0.0.1:9")
    assert deploy.exit_code == 2 and "attests model" in deploy.output  # type: ignore[attr-defined]


@pytest.fixture(scope="module")
def small_sealed():
    from sealdog.crypto.paillier import generate_keypair
    from sealdog.mail.featuriser import FeaturiserSpec
    from sealdog.sealed_model import seal_model

    pk, _ = generate_keypair(512, insecure=True)
    spec = FeaturiserSpec(mode="vocabulary", vocabulary=("w:a", "w:b", "w:c"), max_count=3)
    return seal_model(
        pk, [1.0, -2.0, 0.5], 0.25, featuriser=spec.to_dict(), scale_bits=8, max_count=3
    )


@settings(max_examples=80, deadline=None)
@given(
    weights=st.lists(st.integers(-(1 << 40), 1 << 40), min_size=3, max_size=3),
    bias=st.integers(-(1 << 20), 1 << 20),
    declared=st.integers(1, 1 << 48),
    max_weight=st.integers(1, 1 << 40),
)
def test_bound_checks_agree_with_plaintext_arithmetic(
    small_sealed, weights: list[int], bias: int, declared: int, max_weight: int
) -> None:
    """The auditor's verdict is exactly: every |w_i| * 2^8 <= max_weight * 2^8 and
    declared >= (|b| + 3 * sum |w_i|) * 2^8, computed here in plain integers (the weights
    are whole numbers, so the fixed-point encoding at scale 2^8 is exact)."""
    from sealdog.client.attestation import check_bounds
    from sealdog.mail.featuriser import FeaturiserSpec
    from sealdog.sealed_model import SealedModel
    from sealdog.trainer.model import LinearModel

    manifest = small_sealed.manifest_dict()
    manifest.pop("digest")
    manifest["score_bound"] = str(declared)
    model = SealedModel(manifest, small_sealed.payload)
    plain = LinearModel(
        np.array(weights, dtype=np.float64),
        float(bias),
        FeaturiserSpec.from_dict(small_sealed.featuriser),
    )
    report = check_bounds(model, plain, max_weight=float(max_weight))
    true_bound = (abs(bias) + 3 * sum(abs(w) for w in weights)) << 8
    assert report.true_bound == max(1, true_bound)
    weights_ok = all(abs(w) <= max_weight for w in weights)
    assert report.passed is (weights_ok and declared >= max(1, true_bound))
    assert any("per-weight bound" in f for f in report.failures) is (not weights_ok)
