"""Liveness, readiness (database checked), Prometheus metrics, problem+json for 404/405."""

from __future__ import annotations

from fastapi.testclient import TestClient
from server_testkit import Server, make_settings

from sealdog.server.app import create_app


def test_healthz_and_readyz(server: Server) -> None:
    assert server.client.get("/healthz").json()["status"] == "ok"
    r = server.client.get("/readyz")
    assert r.status_code == 200 and r.json()["database"] == "ok"


def test_readyz_is_503_when_the_schema_is_not_migrated(tmp_path) -> None:
    app = create_app(make_settings(tmp_path, auto_migrate=False))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
        r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["database"] == "schema not migrated"


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path) -> None:
    settings = make_settings(
        tmp_path, auto_migrate=False, database_url="postgresql+psycopg://nobody@127.0.0.1:1/none"
    )
    with TestClient(create_app(settings)) as client:
        r = client.get("/readyz")
    assert r.status_code == 503 and r.json()["database"] == "unreachable"


def test_metrics_count_requests_by_route_and_status(server: Server) -> None:
    server.client.get("/healthz")
    server.client.get("/v1/models")  # 401
    text = server.client.get("/metrics").text
    assert 'sealdog_http_requests_total{method="GET",route="/healthz",status="200"}' in text
    assert 'sealdog_http_errors_total{route="/v1/models",status="401"}' in text
    assert "sealdog_http_request_duration_seconds_bucket" in text
    assert "sealdog_emails_scored_total" in text or "sealdog_emails_scored" in text


def test_unknown_route_and_method_are_problem_json(server: Server) -> None:
    r = server.client.get("/nope")
    assert r.status_code == 404 and r.headers["content-type"] == "application/problem+json"
    r = server.client.patch("/healthz")
    assert r.status_code == 405 and r.json()["status"] == 405
