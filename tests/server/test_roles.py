"""Every role x every route, table-driven from the app's own route list (its OpenAPI paths):
a route added without a row here fails `test_every_route_has_a_rule`.

Roles: no token, admin, the model's owner, another owner, a submitter granted the model,
a submitter not granted it. Each cell is the status the server must answer with a
well-formed request; 404 (not 403) where a model is not the caller's, so ids cannot be
probed.

The admin/owner boundary (issue 14, item 4) is documented, not cryptographic: an admin who
mints an owner token with an owner's subject acts as that owner (last test). What it gets
is what the owner stores: ciphertexts under the key holder's public key.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
from server_testkit import SPAM, Keys, Server, bearer, make_server, make_settings, seal
from test_attestation_api import audited

from sealdog.attestation import generate_auditor_key, public_key_b64
from sealdog.protocol import Role
from sealdog.server.auth import issue_token

AUDITOR = generate_auditor_key()
ROLES = ("anonymous", "admin", "owner", "other_owner", "submitter", "stranger")

PUBLIC = dict.fromkeys(ROLES, 200)
ADMIN_ONLY: Callable[[int], dict[str, int]] = lambda ok: {  # noqa: E731
    "anonymous": 401,
    "admin": ok,
    "owner": 403,
    "other_owner": 403,
    "submitter": 403,
    "stranger": 403,
}
OWNER_ONLY: Callable[[int], dict[str, int]] = lambda ok: {  # noqa: E731
    "anonymous": 401,
    "admin": 403,
    "owner": ok,
    "other_owner": 404,
    "submitter": 403,
    "stranger": 403,
}

RULES: dict[tuple[str, str], dict[str, int]] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/readyz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("POST", "/v1/models"): {
        "anonymous": 401,
        "admin": 403,
        "owner": 200,  # already uploaded: the same model back
        "other_owner": 201,  # a model of its own (content-addressed per owner)
        "submitter": 403,
        "stranger": 403,
    },
    ("GET", "/v1/models"): {**dict.fromkeys(ROLES, 200), "anonymous": 401},
    ("GET", "/v1/models/{model_id}"): {
        "anonymous": 401,
        "admin": 200,
        "owner": 200,
        "other_owner": 404,
        "submitter": 200,
        "stranger": 404,
    },
    ("DELETE", "/v1/models/{model_id}"): OWNER_ONLY(204),
    ("GET", "/v1/models/{model_id}/sealed"): OWNER_ONLY(200),
    ("PUT", "/v1/models/{model_id}/policy"): ADMIN_ONLY(200),
    ("PUT", "/v1/models/{model_id}/attestation"): OWNER_ONLY(200),
    ("POST", "/v1/models/{model_id}/score"): {
        "anonymous": 401,
        "admin": 403,
        "owner": 200,
        "other_owner": 404,
        "submitter": 200,
        "stranger": 404,
    },
    ("GET", "/v1/models/{model_id}/verdicts"): OWNER_ONLY(200),
    ("GET", "/v1/tokens"): ADMIN_ONLY(200),
    ("POST", "/v1/tokens"): ADMIN_ONLY(201),
    ("DELETE", "/v1/tokens/{token_id}"): ADMIN_ONLY(204),
    ("POST", "/v1/tokens/{token_id}/grants"): ADMIN_ONLY(200),
}


class World:
    """A server with one model of alice's, granted to the submitter (not the stranger)."""

    def __init__(self, server: Server, keys: Keys) -> None:
        self.server, self.keys = server, keys
        self.model = seal(keys, metadata={"name": "roles"})
        self.doomed = seal(keys, metadata={"name": "to delete"})
        self.attestation = audited(keys, self.model, key=AUDITOR).to_json()
        _, stranger = issue_token(server.repo, role=Role.submitter, subject="stranger")
        self.headers = {
            "anonymous": {},
            "admin": server.admin,
            "owner": server.owner,
            "other_owner": server.other_owner,
            "submitter": server.submitter,
            "stranger": bearer(stranger),
        }
        self.model_id = self.fresh_model()

    def fresh_model(self, model: Any = None) -> str:
        r = self.server.upload((model or self.model).to_bytes())
        assert r.status_code in (200, 201), r.text
        model_id: str = r.json()["id"]
        self.server.grant(model_id)
        return model_id

    def request(self, method: str, path: str, role: str) -> Any:
        server, body = self.server, self.model.to_bytes()
        headers = dict(self.headers[role])
        model_id = self.model_id
        if method == "DELETE" and "{model_id}" in path:
            model_id = self.fresh_model(self.doomed)  # a model of its own to delete
        token_id = server.submitter_id
        if method == "DELETE" and "{token_id}" in path:
            token_id, _ = issue_token(server.repo, role=Role.submitter, subject="victim")
            token_id = token_id.id
        url = path.format(model_id=model_id, token_id=token_id)
        kwargs: dict[str, Any] = {}
        if (method, path) == ("POST", "/v1/models"):
            kwargs = {"content": body}
            headers["Content-Type"] = "application/octet-stream"
        elif path.endswith("/score"):
            kwargs = {"json": {"emails": [{"base64": base64.b64encode(SPAM).decode()}]}}
        elif path.endswith("/policy"):
            kwargs = {"json": {"score_mode_enabled": False}}
        elif path.endswith("/attestation"):
            kwargs = {"json": self.attestation}
        elif (method, path) == ("POST", "/v1/tokens"):
            kwargs = {"json": {"role": "submitter"}}
        elif path.endswith("/grants"):
            kwargs = {"json": {"model_id": self.model_id}}
        return server.client.request(method, url, headers=headers, **kwargs)


@pytest.fixture(scope="module")
def world(tmp_path_factory, keys: Keys):
    settings = make_settings(
        tmp_path_factory.mktemp("roles"), trusted_auditors=public_key_b64(AUDITOR.public_key())
    )
    for server in make_server(settings):
        yield World(server, keys)


def _app_routes(world: World) -> set[tuple[str, str]]:
    paths = world.server.client.app.openapi()["paths"]  # type: ignore[attr-defined]
    return {(method.upper(), path) for path, ops in paths.items() for method in ops}


def test_every_route_has_a_rule(world: World) -> None:
    routes = _app_routes(world)
    assert routes, "no routes read"
    assert routes - set(RULES) == set(), "a route without a role rule: add it to RULES"
    assert set(RULES) - routes == set(), "a rule for a route that no longer exists"


@pytest.mark.parametrize("route", sorted(RULES), ids=lambda r: f"{r[0]} {r[1]}")
def test_role_x_route(world: World, route: tuple[str, str]) -> None:
    method, path = route
    answers = {role: world.request(method, path, role) for role in ROLES}
    got = {role: r.status_code for role, r in answers.items()}
    assert got == RULES[route], {r: a.text[:200] for r, a in answers.items()}
    for role, r in answers.items():
        if r.status_code >= 400:
            assert r.headers["content-type"].startswith("application/problem+json"), role


def test_model_lists_show_only_what_each_role_may_see(world: World) -> None:
    def ids(role: str) -> set[str]:
        r = world.request("GET", "/v1/models", role)
        return {m["id"] for m in r.json()["models"]}

    assert world.model_id in ids("owner") and world.model_id in ids("submitter")
    assert world.model_id not in ids("other_owner") | ids("stranger")
    assert world.model_id in ids("admin")  # admins see metadata of every model


def test_an_admin_can_act_as_an_owner_by_minting_its_subject(world: World) -> None:
    """Documented in docs/server.md ("Roles"): tokens are the identity, so an admin who
    issues an owner token with alice's subject reads alice's models and verdicts. What that
    yields is ciphertext under alice's key: the sealed weights and the encrypted verdicts."""
    server = world.server
    r = server.client.post(
        "/v1/tokens", json={"role": "owner", "subject": "alice"}, headers=server.admin
    )
    assert r.status_code == 201
    as_alice = bearer(r.json()["token"])
    r = server.client.get(f"/v1/models/{world.model_id}/sealed", headers=as_alice)
    assert r.status_code == 200
    from sealdog.sealed_model import SealedModel

    downloaded = SealedModel.from_bytes(r.content)
    assert downloaded.key_fingerprint == world.keys.public.fingerprint  # type: ignore[attr-defined]
