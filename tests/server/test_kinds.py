"""The model-kind registry: one module per kind, dispatch on the manifest's `kind`, each
upload parsed once, one `score(batch)` per loaded model, one shape for model info."""

from __future__ import annotations

import ast
import dataclasses
import json
import random

import pytest
from server_testkit import REPO_ROOT, Keys

from sealdog.protocol import Mode
from sealdog.sealed_model import SealedModel
from sealdog.server import scoring_worker
from sealdog.server.kinds.base import (
    EmailBatch,
    InputBatch,
    ModelRejectedError,
    ScoringInputError,
    ScoringOptions,
    ValidatedModel,
)
from sealdog.server.kinds.registry import KINDS, kind_for

KINDS_DIR = REPO_ROOT / "src" / "sealdog" / "server" / "kinds"


@pytest.fixture(scope="module")
def xor_model() -> SealedModel:
    from sealdog.crypto.vhe.keys import generate_secret_key
    from sealdog.crypto.vhe.params import PRESETS
    from sealdog.xor.keyholder import seal_xor_network
    from sealdog.xor.plaintext import TrainingConfig, train_plaintext

    net, _ = train_plaintext(TrainingConfig())
    rng = random.Random(21)
    return seal_xor_network(net, generate_secret_key(PRESETS["test"], 1, rng), rng).to_model()


def _sealdog_imports(path) -> set[str]:
    out = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("sealdog"):
            out.add(node.module)
        elif isinstance(node, ast.Import):
            out |= {a.name for a in node.names if a.name.startswith("sealdog")}
    return out


def test_registry_names_every_kind_and_refuses_others() -> None:
    assert sorted(KINDS) == ["linear", "xor", "xor-ckks"]
    for name, kind in KINDS.items():
        assert kind.name == name and kind_for(name) is kind
    with pytest.raises(
        ModelRejectedError,
        match=r"unknown model kind 'forest' \(this server hosts: linear, xor, xor-ckks\)",
    ):
        kind_for("forest")


def test_imports_run_one_way_base_kinds_registry() -> None:
    """base imports no kind; a kind module imports only base of the kinds package (never the
    registry or another kind); only the registry imports the kind modules."""
    server_imports = {
        path.stem: {m for m in _sealdog_imports(path) if m.startswith("sealdog.server")}
        for path in KINDS_DIR.glob("*.py")
    }
    assert server_imports["base"] == set()
    assert server_imports["__init__"] == set()
    kind_modules = set(server_imports) - {"base", "registry", "__init__"}
    assert kind_modules == {"linear", "xor", "xor_ckks"}
    for name in kind_modules:
        assert server_imports[name] == {"sealdog.server.kinds.base"}, name
    assert server_imports["registry"] == {"sealdog.server.kinds.base"} | {
        f"sealdog.server.kinds.{name}" for name in kind_modules
    }


def test_dispatch_follows_the_manifest_and_parses_once(
    tmp_path, monkeypatch, keys: Keys, sealed: SealedModel, xor_model: SealedModel
) -> None:
    parses = []
    real = SealedModel.from_bytes.__func__
    monkeypatch.setattr(
        SealedModel,
        "from_bytes",
        classmethod(lambda cls, data: parses.append(1) or real(cls, data)),
    )
    for model, kind in ((sealed, "linear"), (xor_model, "xor")):
        path = tmp_path / f"{kind}.sealed"
        model.write(path)
        parses.clear()
        validated = scoring_worker.validate_file(str(path), True, False)
        assert isinstance(validated, ValidatedModel)
        assert (validated.kind, validated.digest) == (kind, model.digest)
        assert len(parses) == 1, kind
    # A linear payload under a manifest that says "xor" goes to the xor kind, whatever the
    # bytes look like; and an unknown kind is refused by name.
    relabelled = {k: v for k, v in sealed.manifest.items() if k != "digest"}
    relabelled.update(kind="xor", scheme="vhe")
    path = tmp_path / "relabelled.sealed"
    SealedModel(relabelled, sealed.payload).write(path)
    with pytest.raises(ModelRejectedError, match="unknown VHE preset"):
        scoring_worker.validate_file(str(path), True, False)
    with pytest.raises(ModelRejectedError, match="research grade"):
        scoring_worker.validate_file(str(path), False, False)
    relabelled.update(kind="ckks-net")
    SealedModel(relabelled, sealed.payload).write(path)
    with pytest.raises(ModelRejectedError, match="unknown model kind 'ckks-net'"):
        scoring_worker.validate_file(str(path), True, False)


def test_each_kind_scores_its_batch_and_names_the_other(sealed, xor_model) -> None:
    linear = KINDS["linear"].load(sealed)
    xor = KINDS["xor"].load(xor_model)
    emails = EmailBatch((b"Subject: offer\n\nfree money",), max_email_bytes=4096)
    bits = InputBatch(((0, 1), (1, 1)))
    assert linear.score(emails, ScoringOptions(Mode.VERDICT))["count"] == 1
    assert xor.score(bits, ScoringOptions(Mode.VERDICT))["count"] == 2
    with pytest.raises(ScoringInputError, match='scores e-mails, send "emails"'):
        linear.score(bits, ScoringOptions(Mode.VERDICT))
    with pytest.raises(ScoringInputError, match="scores bit pairs"):
        xor.score(emails, ScoringOptions(Mode.VERDICT))


def test_model_info_has_one_shape() -> None:
    """ModelRecord = ValidatedModel + registry fields; the table's columns and the HTTP
    ModelInfo carry exactly the record's fields (so a new field cannot be half-added)."""
    from sealdog.server.schemas import ModelInfo
    from sealdog.server.storage.repository import ModelRecord
    from sealdog.server.storage.tables import ModelRow

    record = {f.name for f in dataclasses.fields(ModelRecord)}
    assert {f.name for f in dataclasses.fields(ValidatedModel)} < record
    assert set(ModelInfo.model_fields) == record
    assert set(ModelRow.__table__.columns.keys()) == record


def test_model_info_json_is_unchanged(sealed) -> None:
    """The HTTP shape the client and schemathesis rely on: same keys, same order."""
    from datetime import UTC, datetime

    from sealdog.server.schemas import ModelInfo
    from sealdog.server.storage.repository import ModelRecord

    validated = ValidatedModel(
        kind="linear",
        scheme="paillier",
        digest="d",
        key_fingerprint="f",
        key_bits=1024,
        summary={"dim": 7},
    )
    when = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    record = ModelRecord.register(validated, id="m1", owner="alice", size_bytes=9, uploaded_at=when)
    assert record.score_mode_enabled is False
    info = json.loads(ModelInfo.of(record).model_dump_json())
    assert list(info) == [
        "id",
        "kind",
        "scheme",
        "digest",
        "key_fingerprint",
        "key_bits",
        "size_bytes",
        "uploaded_at",
        "score_mode_enabled",
        "owner",
        "summary",
        "strict_rerandomise",
        "attestation",
    ]
    assert info["uploaded_at"] == "2026-01-02T03:04:05Z" and info["summary"] == {"dim": 7}
