"""Bearer tokens: 401 for missing/bad/revoked, 403 for wrong role, hashed storage, token API."""

from __future__ import annotations

import sqlite3

import pytest
from server_testkit import Server, bearer


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Bearer nope"},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer sdt_" + "A" * 43},
    ],
    ids=["missing", "garbage", "basic", "wrong-token"],
)
def test_unauthenticated_requests_get_401_problem(server: Server, headers) -> None:
    r = server.client.get("/v1/models", headers=headers)
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.headers["www-authenticate"].startswith("Bearer")
    body = r.json()
    assert body["status"] == 401 and "token" in body["detail"]
    assert "Traceback" not in r.text


def test_wrong_role_gets_403(server: Server) -> None:
    assert server.client.get("/v1/tokens", headers=server.owner).status_code == 403
    assert server.client.get("/v1/tokens", headers=server.submitter).status_code == 403
    r = server.upload(b"x", headers=server.submitter)
    assert r.status_code == 403 and "owner" in r.json()["detail"]
    assert server.upload(b"x", headers=server.admin).status_code == 403


def test_token_lifecycle_through_the_api(server: Server) -> None:
    c = server.client
    r = c.post(
        "/v1/tokens",
        json={"role": "owner", "subject": "carol", "label": "laptop"},
        headers=server.admin,
    )
    assert r.status_code == 201, r.text
    created = r.json()
    assert created["token"].startswith("sdt_") and created["subject"] == "carol"
    carol = bearer(created["token"])
    assert c.get("/v1/models", headers=carol).json() == {"models": []}

    listed = c.get("/v1/tokens", headers=server.admin).json()["tokens"]
    assert any(t["id"] == created["id"] for t in listed)
    assert all("token" not in t for t in listed)  # plaintext never listed

    assert c.delete(f"/v1/tokens/{created['id']}", headers=server.admin).status_code == 204
    assert c.get("/v1/models", headers=carol).status_code == 401
    assert c.delete("/v1/tokens/doesnotexist", headers=server.admin).status_code == 404


def test_token_create_validation(server: Server) -> None:
    c = server.client
    assert c.post("/v1/tokens", json={"role": "god"}, headers=server.admin).status_code == 422
    r = c.post("/v1/tokens", json={"role": "owner", "models": ["x"]}, headers=server.admin)
    assert r.status_code == 422 and "submitter" in r.json()["detail"]
    r = c.post("/v1/tokens", json={"role": "submitter", "models": ["0" * 32]}, headers=server.admin)
    assert r.status_code == 422 and "unknown model" in r.json()["detail"]
    r = c.post("/v1/tokens/nosuch/grants", json={"model_id": "0" * 32}, headers=server.admin)
    assert r.status_code == 404


def test_tokens_are_stored_only_as_hashes(server: Server) -> None:
    r = server.client.post("/v1/tokens", json={"role": "submitter"}, headers=server.admin)
    token = r.json()["token"]
    db = server.settings.data_dir / "sealdog.db"
    with sqlite3.connect(db) as conn:
        rows = conn.execute("SELECT token_hash FROM api_tokens").fetchall()
        dump = "\n".join(conn.iterdump())
    assert token not in dump
    assert all(len(h) == 64 for (h,) in rows)
