"""Storage: Alembic migrations and the repository on SQLite and (marked `postgres`) on a
real PostgreSQL server from SEALDOG_TEST_POSTGRES_URL (set by .ci/postgres.sh in CI)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from pg_testkit import pg_schema_url
from server_testkit import SPAM, Keys, bearer, decrypt, make_server, make_settings
from sqlalchemy import text

from sealdog.server.auth import Role, hash_token, issue_token
from sealdog.server.storage.database import current_revision, head_revision, make_engine, migrate
from sealdog.server.storage.repository import DuplicateModelError, ModelRecord, Repository


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request, tmp_path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
    else:
        yield from pg_schema_url()


@pytest.fixture
def repo(database_url: str) -> Iterator[Repository]:
    engine = make_engine(database_url)
    migrate(engine)
    yield Repository(engine)
    engine.dispose()


def _model(model_id: str, owner: str = "alice", digest: str = "d1") -> ModelRecord:
    return ModelRecord(
        id=model_id,
        owner=owner,
        kind="linear",
        scheme="paillier",
        digest=digest,
        key_fingerprint="f" * 64,
        key_bits=3072,
        size_bytes=123,
        summary={"metadata": {"a": 1}},
        uploaded_at=datetime.now(UTC),
        score_mode_enabled=False,
    )


def test_migrations_reach_head_and_are_idempotent(database_url: str) -> None:
    engine = make_engine(database_url)
    assert current_revision(engine) is None
    migrate(engine)
    migrate(engine)
    assert current_revision(engine) == head_revision()
    engine.dispose()


def test_repository_round_trip(repo: Repository) -> None:
    repo.ping()
    m1, m2 = uuid.uuid4().hex, uuid.uuid4().hex
    repo.add_model(_model(m1))
    repo.add_model(_model(m2, owner="bob", digest="d1"))  # same digest, other owner: fine
    with pytest.raises(DuplicateModelError):
        repo.add_model(_model(uuid.uuid4().hex))
    got = repo.get_model(m1)
    assert got is not None and got.summary == {"metadata": {"a": 1}} and got.uploaded_at.tzinfo
    assert [m.id for m in repo.list_models("alice")] == [m1]
    assert repo.model_by_digest("bob", "d1").id == m2  # type: ignore[union-attr]
    assert repo.set_score_mode(m1, True) and repo.get_model(m1).score_mode_enabled  # type: ignore[union-attr]

    record, token = issue_token(repo, role=Role.submitter, model_ids=[m1])
    found = repo.token_by_hash(hash_token(token))
    assert found is not None and found.model_ids == (m1,) and found.active
    repo.grant(record.id, m2)
    repo.grant(record.id, m2)  # idempotent
    assert repo.get_token(record.id).model_ids == tuple(sorted([m1, m2]))  # type: ignore[union-attr]
    with pytest.raises(KeyError):
        issue_token(repo, role=Role.submitter, model_ids=["nope"])
    assert repo.revoke_token(record.id) and not repo.get_token(record.id).active  # type: ignore[union-attr]
    assert not repo.revoke_token("missing")

    ids = [
        repo.add_verdicts(
            model_id=m1, mode="verdict", count=1, message_ids=[f"<{i}>"], payload=f'{{"x": {i}}}'
        ).id
        for i in range(5)
    ]
    assert ids == sorted(ids)
    page = repo.list_verdicts(m1, after=0, limit=3)
    assert [v.message_ids for v in page] == [["<0>"], ["<1>"], ["<2>"]]
    rest = repo.list_verdicts(m1, after=page[-1].id, limit=10)
    assert [v.payload for v in rest] == ['{"x": 3}', '{"x": 4}']

    assert repo.delete_model(m1)
    assert not repo.delete_model(m1)
    assert repo.list_verdicts(m1, after=0, limit=10) == []
    assert repo.get_token(record.id).model_ids == (m2,)  # type: ignore[union-attr]


def test_api_on_this_database_survives_a_restart(
    database_url: str, tmp_path, sealed_bytes, keys: Keys
) -> None:
    settings = make_settings(tmp_path / "data", database_url=database_url)
    for server in make_server(settings):
        model_id = server.upload(sealed_bytes).json()["id"]
        r = server.client.post(
            f"/v1/models/{model_id}/score",
            headers=server.owner,
            json={"emails": [{"raw": SPAM.decode(), "message_id": "m1"}], "delivery": "inbox"},
        )
        assert r.status_code == 202
        _, owner_token = issue_token(server.repo, role=Role.owner, subject="alice")
    # A new app on the same database and data dir: everything acknowledged is served.
    for server in make_server(settings):
        owner = bearer(owner_token)
        assert server.client.get(f"/v1/models/{model_id}", headers=owner).status_code == 200
        page = server.client.get(f"/v1/models/{model_id}/verdicts", headers=owner).json()
        assert [e["message_ids"] for e in page["entries"]] == [["m1"]]
        assert decrypt(keys, page["entries"][0]["verdicts"]) == [True]
        r = server.client.post(
            f"/v1/models/{model_id}/score", headers=owner, json={"emails": [{"raw": SPAM.decode()}]}
        )
        assert decrypt(keys, r.json()["verdicts"]) == [True]


@pytest.mark.postgres
def test_inbox_inserts_for_one_model_commit_in_cursor_order() -> None:
    """An insert waits for the model's row lock, so no entry with a smaller id can commit
    after a reader has moved its cursor past a larger one."""
    import threading

    from sqlalchemy import select

    from sealdog.server.storage.tables import ModelRow

    for url in pg_schema_url():
        engine = make_engine(url)
        migrate(engine)
        repo = Repository(engine)
        model_id = uuid.uuid4().hex
        repo.add_model(_model(model_id))
        done = threading.Event()

        def insert() -> None:  # runs in this iteration's thread only
            repo.add_verdicts(  # noqa: B023
                model_id=model_id,  # noqa: B023
                mode="verdict",
                count=1,
                message_ids=["<m>"],
                payload="{}",
            )
            done.set()  # noqa: B023

        with engine.connect() as conn:
            holder = conn.begin()
            # FOR NO KEY UPDATE: it does not block the foreign-key check (FOR KEY SHARE) an
            # insert makes anyway, only an explicit FOR UPDATE of the model's row.
            conn.execute(
                select(ModelRow.id).where(ModelRow.id == model_id).with_for_update(key_share=True)
            )
            writer = threading.Thread(target=insert)
            writer.start()
            assert not done.wait(1.0), "the insert did not wait for the model's row lock"
            holder.commit()
        writer.join(10)
        assert done.is_set()
        assert [v.message_ids for v in repo.list_verdicts(model_id, after=0, limit=10)] == [["<m>"]]
        engine.dispose()


def test_migration_0002_keeps_models_and_adds_attestation_columns(tmp_path) -> None:
    """A database at 0001 with a model row: after the upgrade the model reads back with
    no attestation and strict re-randomisation off, and both can be set (never unset)."""
    from alembic import command

    from sealdog.server.storage.database import _alembic_config

    engine = make_engine(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = _alembic_config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
    with engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO sealed_models (id, owner, kind, scheme, digest, key_fingerprint, "
                "key_bits, size_bytes, summary, uploaded_at, score_mode_enabled) VALUES "
                "('m0', 'alice', 'linear', 'paillier', 'd0', 'f0', 1024, 1, '{}', "
                "'2026-01-01 00:00:00', 0)"
            )
        )
    assert current_revision(engine) == "0001"
    migrate(engine)
    assert current_revision(engine) == head_revision()
    repo = Repository(engine)
    old = repo.get_model("m0")
    assert old is not None and old.attestation is None and old.strict_rerandomise is False
    assert repo.attach("m0", attestation={"format": "x"}, strict_rerandomise=True)
    assert repo.attach("m0")  # nothing to change: True for an existing model
    assert not repo.attach("missing", strict_rerandomise=True)
    new = repo.get_model("m0")
    assert new is not None and new.attestation == {"format": "x"} and new.strict_rerandomise
