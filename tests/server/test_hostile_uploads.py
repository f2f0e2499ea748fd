"""Hostile and careless input on the server side: manifests whose fields are the wrong type
or out of range, deeply nested JSON, score bounds that cannot be packed, malformed request
bodies, per-owner quotas, a model whose blob went missing, and the orphan sweep that must
never delete an upload in flight."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from server_testkit import SPAM, Keys, Server, make_server, make_settings, seal
from typer.testing import CliRunner

from sealdog.cli import app as cli_app
from sealdog.sealed_model import SealedModel
from sealdog.server.app import prepare_storage, sweep_orphans
from sealdog.server.settings import (
    DEFAULT_MAX_MODEL_BYTES,
    MODEL_3072_2POW18_BYTES,
    ServerSettings,
)


def tampered(sealed: SealedModel, **fields: object) -> bytes:
    """The model with manifest fields replaced, re-digested (a well-formed hostile file)."""
    manifest = sealed.manifest_dict()
    manifest.pop("digest")
    manifest.update(fields)
    return SealedModel(manifest, sealed.payload).to_bytes()


def nested(depth: int) -> object:
    value: object = 1
    for _ in range(depth):
        value = {"a": value}
    return value


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"score_bound": 950272.0}, "'score_bound' must be a non-negative integer"),
        ({"score_bound": "1e6"}, "'score_bound' must be a non-negative integer"),
        ({"score_bound": -5}, "'score_bound' must be a non-negative integer"),
        ({"scale_bits": 10**9}, "'scale_bits' is 1000000000, outside 1..64"),
        ({"scale_bits": 16.0}, "'scale_bits' must be an integer in 1..64"),
        ({"scale_bits": True}, "'scale_bits' must be an integer in 1..64"),
        ({"dim": "7"}, "'dim' must be an integer"),
        ({"max_count": 0}, "'max_count' is 0, outside 1..65536"),
        ({"metadata": nested(40)}, "nested deeper than 16 levels"),
        ({"metadata": {"x": "y" * 70_000}}, "metadata is 70,008 bytes, above the cap"),
        ({"metadata": []}, "'metadata' must be a JSON object"),
        ({"created_at": 5}, "'created_at' must be a string"),
    ],
)
def test_manifest_fields_are_typed_and_bounded(
    server: Server, sealed: SealedModel, fields: dict, message: str
) -> None:
    before = sorted(p.name for p in server.settings.blob_dir.iterdir())
    r = server.upload(tampered(sealed, **fields))
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert message in r.json()["detail"]
    assert sorted(p.name for p in server.settings.blob_dir.iterdir()) == before


def test_json_nested_beyond_the_parser_is_a_422(server: Server, sealed: SealedModel) -> None:
    """A manifest nested 100,000 deep makes json.loads raise RecursionError: a 422."""
    import io
    import zipfile

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("manifest.json", "[" * 100_000 + "]" * 100_000)
        zf.writestr("weights.bin", sealed.payload)
    r = server.upload(buf.getvalue())
    assert r.status_code == 422, r.text
    assert "nested too deeply" in r.json()["detail"]


def test_score_bound_over_the_cap_is_refused_at_upload(server: Server, sealed: SealedModel) -> None:
    """The slot width is the server's (issue 14): a declared bound above its cap is refused
    with both figures; a tiny declared bound no longer shrinks anything, so it is accepted
    (packing failures under the caps are tested in tests/server/test_verdict_caps.py)."""
    too_big = str(1 << 100)  # fits the 1024-bit key, not the cap
    r = server.upload(tampered(sealed, score_bound=too_big))
    assert r.status_code == 422, r.text
    detail = r.json()["detail"]
    assert "score bound of 101 bits" in detail and "cap of 64 bits" in detail
    for declared in ("0", "1"):
        r = server.upload(tampered(sealed, score_bound=declared))
        assert r.status_code == 201, r.text


@pytest.mark.parametrize(
    "body",
    [b'{"emails": [{"raw": "\xff\xfe"}]}', b'{"emails": [', b"\xff" * 10, b'{"emails": 1}'],
)
def test_malformed_json_bodies_are_422(server: Server, model_id: str, body: bytes) -> None:
    r = server.client.post(
        f"/v1/models/{model_id}/score",
        content=body,
        headers={**server.submitter, "Content-Type": "application/json"},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"


def test_per_owner_quotas(tmp_path, keys: Keys) -> None:
    one = seal(keys, metadata={"name": "one"}).to_bytes()
    two = seal(keys, metadata={"name": "two"}).to_bytes()
    settings = make_settings(tmp_path / "a", max_models_per_owner=1)
    for server in make_server(settings):
        assert server.upload(one).status_code == 201
        r = server.upload(two)
        assert r.status_code == 403 and r.json()["reason"] == "quota_models", r.text
        assert "SEALDOG_MAX_MODELS_PER_OWNER" in r.json()["detail"]
        assert server.upload(two, headers=server.other_owner).status_code == 201  # per owner
        assert len(list(settings.blob_dir.glob("*.sealed"))) == 2
    settings = make_settings(tmp_path / "b", max_bytes_per_owner=len(one) + len(two) // 2)
    for server in make_server(settings):
        assert server.upload(one).status_code == 201
        r = server.upload(two)
        assert r.status_code == 403 and r.json()["reason"] == "quota_bytes", r.text
        assert "SEALDOG_MAX_BYTES_PER_OWNER" in r.json()["detail"]
        assert [p.name for p in settings.blob_dir.iterdir() if p.name.startswith(".")] == []


def test_missing_blob_is_409_and_readyz_says_so(tmp_path, sealed_bytes: bytes) -> None:
    for server in make_server(make_settings(tmp_path)):
        model_id = server.upload(sealed_bytes).json()["id"]
        server.grant(model_id)
        assert server.client.get("/readyz").status_code == 200
        (server.settings.blob_dir / f"{model_id}.sealed").unlink()
        r = server.client.post(
            f"/v1/models/{model_id}/score",
            json={"emails": [{"raw": SPAM.decode()}]},
            headers=server.submitter,
        )
        assert r.status_code == 409 and r.json()["reason"] == "blob_missing", r.text
        r = server.client.get(f"/v1/models/{model_id}/sealed", headers=server.owner)
        assert r.status_code == 409, r.text
        r = server.client.get("/readyz")
        assert r.status_code == 503
        assert r.json()["missing_models"] == [model_id]
        assert r.json()["storage"] == "1 model file(s) missing"
        # the owner can clean up: delete works, and readiness comes back
        assert (
            server.client.delete(f"/v1/models/{model_id}", headers=server.owner).status_code == 204
        )
        assert server.client.get("/readyz").status_code == 200


def _age(path: Path, seconds: float) -> None:
    past = time.time() - seconds
    os.utime(path, (past, past))


def test_operator_commands_never_sweep_and_the_sweep_spares_young_files(tmp_path) -> None:
    settings = ServerSettings(data_dir=tmp_path)
    repo, blobs = prepare_storage(settings)
    in_flight = blobs.root / ".upload-inflight.tmp"
    renamed = blobs.root / ("a" * 32 + ".sealed")  # renamed, row not yet committed
    old_tmp = blobs.root / ".upload-crashed.tmp"
    old_orphan = blobs.root / ("b" * 32 + ".sealed")
    for path in (in_flight, renamed, old_tmp, old_orphan):
        path.write_bytes(b"x")
    _age(old_tmp, 7200)
    _age(old_orphan, 7200)
    runner = CliRunner()
    for args in (
        ["server", "token", "create", "--role", "owner", "--data-dir", str(tmp_path)],
        ["server", "token", "list", "--data-dir", str(tmp_path)],
        ["server", "migrate", "--data-dir", str(tmp_path)],
    ):
        result = runner.invoke(cli_app, args)
        assert result.exit_code == 0, result.output
        assert all(p.exists() for p in (in_flight, renamed, old_tmp, old_orphan)), args
    removed = sweep_orphans(repo, blobs, min_age_seconds=settings.orphan_min_age_seconds)
    assert removed == 2
    assert in_flight.exists() and renamed.exists()
    assert not old_tmp.exists() and not old_orphan.exists()


def test_default_upload_cap_fits_a_2pow18_bucket_model_at_3072_bits() -> None:
    from sealdog.crypto.paillier.codec import encode_ciphertexts

    # the codec's real size for 2^18 weights + bias of 768 bytes each (n^2 of a 3072-bit n)
    width = 2 * 3072 // 8
    header = len(encode_ciphertexts([1], width=width)) - width
    payload = MODEL_3072_2POW18_BYTES + header
    assert MODEL_3072_2POW18_BYTES == 201_327_360
    assert payload < DEFAULT_MAX_MODEL_BYTES == ServerSettings().max_model_bytes
    assert DEFAULT_MAX_MODEL_BYTES - payload > 4 * 1024 * 1024  # room for the manifest
    assert DEFAULT_MAX_MODEL_BYTES < 512 * 1024 * 1024
