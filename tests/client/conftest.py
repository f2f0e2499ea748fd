"""Fixtures for the client tests: 1024-bit insecure keys, a model trained on the built-in
sample corpus (small hashing space), its sealed file, and a real `sealdog server run`
subprocess on 127.0.0.1 in demo mode with a small batch cap (so chunking is exercised)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from client_support import BATCH_CAP, Artifacts, Live


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    from sealdog.client.demo_model import seal_spam_model, train_spam_model
    from sealdog.client.keyfiles import write_keypair
    from sealdog.data.sample_corpus import load_samples

    root = tmp_path_factory.mktemp("client")
    pk, _ = write_keypair(root / "k.pub.json", root / "k.key.json", bits=1024, insecure=True)
    write_keypair(root / "other.pub.json", root / "other.key.json", bits=1024, insecure=True)
    model = train_spam_model(load_samples(), workers=1, n_buckets=512)
    model.save(root / "plain.json")
    seal_spam_model(model, pk, metadata={"name": "client-tests"}).write(root / "spam.sealed")
    return Artifacts(
        root,
        root / "k.pub.json",
        root / "k.key.json",
        root / "other.key.json",
        root / "plain.json",
        root / "spam.sealed",
    )


@pytest.fixture(scope="session")
def live(artifacts: Artifacts) -> Iterator[Live]:
    from sealdog.client.http import SealdogClient
    from sealdog.client.local_server import LocalServer

    server = LocalServer(
        artifacts.root / "server",
        insecure_demo=True,
        scoring_processes=1,
        extra_env={"SEALDOG_MAX_EMAILS_PER_BATCH": str(BATCH_CAP)},
    )
    server.start()
    try:
        with SealdogClient(server.url, server.admin_token) as admin:
            owner = admin.create_token("owner", subject="alice")["token"]
            submitter = admin.create_token("submitter", subject="gateway")
            with SealdogClient(server.url, owner) as client:
                model_id = client.deploy(artifacts.sealed_model).id
            admin.grant(submitter["id"], model_id)
        yield Live(server.url, owner, submitter["token"], server.admin_token, model_id, server)
    finally:
        server.stop()
