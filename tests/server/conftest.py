"""Fixtures for the server tests: small demo-mode keys, a sealed model with known weights,
an in-process app (httpx via Starlette's TestClient, lifespan included) and tokens.
Helpers live in `server_testkit` (a module name that no other test folder uses)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server_testkit import Keys, Server, make_server, make_settings, seal


@pytest.fixture(scope="session")
def keys() -> Keys:
    from sealdog.crypto.paillier import generate_keypair

    pk, sk = generate_keypair(1024, insecure=True)
    return Keys(pk, sk)


@pytest.fixture(scope="session")
def sealed(keys: Keys):
    return seal(keys)


@pytest.fixture(scope="session")
def sealed_bytes(sealed) -> bytes:
    return sealed.to_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> Iterator[Server]:
    yield from make_server(make_settings(tmp_path_factory.mktemp("server")))


@pytest.fixture(scope="module")
def model_id(server: Server, sealed_bytes: bytes) -> str:
    r = server.upload(sealed_bytes)
    assert r.status_code in (200, 201), r.text
    server.grant(r.json()["id"])
    return r.json()["id"]
