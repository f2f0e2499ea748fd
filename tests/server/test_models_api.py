"""The model registry: validated uploads, visibility, download, delete, atomic failure."""

from __future__ import annotations

import io
import json
import zipfile

import pytest
from server_testkit import Keys, Server, make_server, make_settings, seal


def _rewrite(data: bytes, *, manifest_edit=None, payload_edit=None, fix_digest=True) -> bytes:
    """A sealed file with its manifest or payload altered (digest recomputed if asked)."""
    from sealdog.sealed_model import compute_digest

    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        manifest = json.loads(zf.read("manifest.json"))
        payload = zf.read("weights.bin")
    if manifest_edit:
        manifest_edit(manifest)
    if payload_edit:
        payload = payload_edit(payload)
    if fix_digest:
        manifest["digest"] = compute_digest(manifest, payload)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as zf:
        zf.writestr("manifest.json", json.dumps(manifest))
        zf.writestr("weights.bin", payload)
    return buf.getvalue()


def _blob_dir_files(server: Server) -> list[str]:
    return sorted(p.name for p in server.settings.blob_dir.iterdir())


def test_upload_list_get_and_idempotence(server: Server, sealed, sealed_bytes: bytes) -> None:
    r = server.upload(sealed_bytes)
    assert r.status_code in (200, 201), r.text
    info = r.json()
    assert info["digest"] == sealed.digest
    assert info["key_fingerprint"] == sealed.key_fingerprint
    assert info["kind"] == "linear" and info["scheme"] == "paillier" and info["key_bits"] == 1024
    assert info["score_mode_enabled"] is False
    assert info["summary"]["featuriser"]["n_features"] == 7
    assert "vocabulary" not in info["summary"]["featuriser"]
    assert "w:viagra" not in r.text  # the term list is not shown, only its size
    assert "ciphertexts" not in r.text and "public_key" not in r.text

    again = server.upload(sealed_bytes)
    assert again.status_code == 200 and again.json()["id"] == info["id"]

    listed = server.client.get("/v1/models", headers=server.owner).json()["models"]
    assert [m["id"] for m in listed].count(info["id"]) == 1
    got = server.client.get(f"/v1/models/{info['id']}", headers=server.owner).json()
    assert got == info
    # Another owner neither lists nor sees it (404 hides existence).
    assert info["id"] not in {
        m["id"]
        for m in server.client.get("/v1/models", headers=server.other_owner).json()["models"]
    }
    assert (
        server.client.get(f"/v1/models/{info['id']}", headers=server.other_owner).status_code == 404
    )
    # The admin sees every model.
    assert server.client.get(f"/v1/models/{info['id']}", headers=server.admin).status_code == 200


def test_sealed_file_download_is_owner_only(
    server: Server, model_id: str, sealed_bytes: bytes
) -> None:
    r = server.client.get(f"/v1/models/{model_id}/sealed", headers=server.owner)
    assert r.status_code == 200 and r.content == sealed_bytes
    for who in (server.other_owner,):
        assert server.client.get(f"/v1/models/{model_id}/sealed", headers=who).status_code == 404
    for who in (server.submitter, server.admin):
        assert server.client.get(f"/v1/models/{model_id}/sealed", headers=who).status_code == 403


def test_submitter_sees_only_granted_models(server: Server, model_id: str) -> None:
    listed = server.client.get("/v1/models", headers=server.submitter).json()["models"]
    assert [m["id"] for m in listed] == [model_id]


def _bad_uploads(sealed_bytes: bytes, keys: Keys):
    from sealdog.crypto.paillier import ciphertext_width

    n2 = int(keys.public.nsquare)
    width = ciphertext_width(keys.public)

    def out_of_range(payload: bytes) -> bytes:
        # Replace the last ciphertext (after the vector header) by n^2 itself.
        return payload[:-width] + n2.to_bytes(width, "big")

    return {
        "garbage": (b"this is not a sealed model", "sealed model rejected"),
        "tampered-digest": (
            _rewrite(
                sealed_bytes, manifest_edit=lambda m: m["metadata"].update(x=1), fix_digest=False
            ),
            "digest",
        ),
        "wrong-scheme": (
            _rewrite(sealed_bytes, manifest_edit=lambda m: m.update(scheme="rsa")),
            "scheme",
        ),
        "unknown-kind": (
            _rewrite(sealed_bytes, manifest_edit=lambda m: m.update(kind="forest")),
            "kind",
        ),
        "ciphertext-out-of-range": (
            _rewrite(sealed_bytes, payload_edit=out_of_range),
            "ciphertexts",
        ),
        "truncated-payload": (_rewrite(sealed_bytes, payload_edit=lambda p: p[:-7]), "ciphertexts"),
        "bad-featuriser": (
            _rewrite(sealed_bytes, manifest_edit=lambda m: m["featuriser"].update(mode="magic")),
            "featuriser",
        ),
        "featuriser-size-mismatch": (
            _rewrite(
                sealed_bytes,
                manifest_edit=lambda m: m["featuriser"]["vocabulary"].append("w:extra"),
            ),
            "features",
        ),
        "bad-public-key": (
            _rewrite(sealed_bytes, manifest_edit=lambda m: m.update(public_key={"n": "zz"})),
            "public key",
        ),
        "manifest-not-json-object": (
            _rewrite(sealed_bytes, manifest_edit=lambda m: (m.clear(), m.update(format=[1]))),
            "sealed model rejected",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "garbage",
        "tampered-digest",
        "wrong-scheme",
        "unknown-kind",
        "ciphertext-out-of-range",
        "truncated-payload",
        "bad-featuriser",
        "featuriser-size-mismatch",
        "bad-public-key",
        "manifest-not-json-object",
    ],
)
def test_invalid_uploads_are_422_and_leave_nothing(
    server: Server, sealed_bytes, keys, case
) -> None:
    before_files = _blob_dir_files(server)
    before_models = len(server.repo.list_models())
    data, needle = _bad_uploads(sealed_bytes, keys)[case]
    r = server.upload(data)
    assert r.status_code == 422, r.text
    assert r.headers["content-type"] == "application/problem+json"
    assert needle in r.json()["detail"]
    assert "Traceback" not in r.text
    assert _blob_dir_files(server) == before_files
    assert len(server.repo.list_models()) == before_models


def test_upload_limits_and_digest_check(server: Server, sealed_bytes: bytes) -> None:
    r = server.upload(b"")
    assert r.status_code == 422 and "empty" in r.json()["detail"]
    r = server.upload(sealed_bytes, expected_digest="0" * 64)
    assert r.status_code == 422 and "digest mismatch" in r.json()["detail"]
    r = server.upload(b"x" * (server.settings.max_model_bytes + 1))
    assert r.status_code == 413 and "max_model_bytes" in r.json()["detail"]

    def chunks():  # no Content-Length: the cap is enforced while streaming
        for _ in range(5):
            yield b"y" * (server.settings.max_model_bytes // 4)

    r = server.client.post("/v1/models", content=chunks(), headers=server.owner)
    assert r.status_code == 413
    assert not [n for n in _blob_dir_files(server) if n.startswith(".upload-")]


def test_small_keys_are_refused_outside_demo_mode(tmp_path, sealed_bytes: bytes) -> None:
    for server in make_server(make_settings(tmp_path, demo_mode=False)):
        r = server.upload(sealed_bytes)
        assert r.status_code == 422
        assert "1024 bits" in r.json()["detail"] and "2048" in r.json()["detail"]
        assert _blob_dir_files(server) == []


def test_delete_removes_model_blob_and_inbox(server: Server, keys: Keys) -> None:
    data = seal(keys, metadata={"name": "to-delete"}).to_bytes()
    model = server.upload(data).json()
    path = server.settings.blob_dir / f"{model['id']}.sealed"
    assert path.is_file()
    r = server.client.post(
        f"/v1/models/{model['id']}/score",
        headers=server.owner,
        json={"emails": [{"raw": "hi"}], "delivery": "inbox"},
    )
    assert r.status_code == 202
    assert (
        server.client.delete(f"/v1/models/{model['id']}", headers=server.other_owner).status_code
        == 404
    )
    assert (
        server.client.delete(f"/v1/models/{model['id']}", headers=server.submitter).status_code
        == 403
    )
    assert (
        server.client.delete(f"/v1/models/{model['id']}", headers=server.owner).status_code == 204
    )
    assert not path.exists()
    assert server.client.get(f"/v1/models/{model['id']}", headers=server.owner).status_code == 404
    assert server.repo.list_verdicts(model["id"], after=0, limit=10) == []


def test_failed_database_insert_leaves_no_blob(server: Server, keys: Keys, monkeypatch) -> None:
    data = seal(keys, metadata={"name": "db-fails"}).to_bytes()
    before = _blob_dir_files(server)

    def boom(record):
        raise RuntimeError("database went away")

    monkeypatch.setattr(server.repo, "add_model", boom)
    r = server.upload(data)
    assert r.status_code == 500
    assert r.json()["detail"].startswith("internal server error")
    assert "database went away" not in r.text and "Traceback" not in r.text
    assert _blob_dir_files(server) == before


def test_a_2048_bit_model_outside_demo_mode(tmp_path) -> None:
    from server_testkit import SPAM, Keys, decrypt

    from sealdog.crypto.paillier import generate_keypair

    pk, sk = generate_keypair(2048)
    keys = Keys(pk, sk)
    for server in make_server(make_settings(tmp_path, demo_mode=False)):
        r = server.upload(seal(keys).to_bytes())
        assert r.status_code == 201, r.text
        assert r.json()["key_bits"] == 2048
        r = server.client.post(
            f"/v1/models/{r.json()['id']}/score",
            headers=server.owner,
            json={"emails": [{"raw": SPAM.decode()}]},
        )
        assert decrypt(keys, r.json()["verdicts"]) == [True]
