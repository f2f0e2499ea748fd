"""docker-compose.yml, Dockerfile and the CLI agree with the server's settings."""

from __future__ import annotations

import re

import pytest
import typer.main
import yaml
from server_testkit import REPO_ROOT

from sealdog.server.cli import server_app
from sealdog.server.settings import ServerSettings


def _run_command_options() -> set[str]:
    group = typer.main.get_command(server_app)
    run = group.commands["run"]  # type: ignore[attr-defined]
    return {opt for param in run.params for opt in param.opts}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())


def test_compose_command_and_environment_match_the_settings(compose) -> None:
    service = compose["services"]["sealdog"]
    command = service["command"]
    assert command[:2] == ["server", "run"]
    options = [arg for arg in command[2:] if arg.startswith("--")]
    assert options and set(options) <= _run_command_options()

    fields = set(ServerSettings.model_fields)
    env = service["environment"]
    for name in env:
        assert name.startswith("SEALDOG_"), name
        assert name[len("SEALDOG_") :].lower() in fields, f"{name} is not a server setting"
    # The values parse as the settings would parse them.
    values = {k[len("SEALDOG_") :].lower(): v for k, v in env.items() if "${" not in str(v)}
    settings = ServerSettings(**values)
    assert str(settings.data_dir) == "/data"

    # The data dir is the named volume; the published port is the one the server binds.
    mounts = dict(v.split(":", 1) for v in service["volumes"])
    assert mounts["sealdog-data"] == env["SEALDOG_DATA_DIR"]
    assert "sealdog-data" in compose["volumes"]
    port = command[command.index("--port") + 1]
    assert any(p.endswith(f":{port}") for p in service["ports"])


def test_compose_has_a_postgres_profile(compose) -> None:
    pg = compose["services"]["postgres"]
    assert pg["profiles"] == ["postgres", "scale"]
    assert "sealdog-postgres" in compose["volumes"]
    assert "postgresql+psycopg://" in (REPO_ROOT / "docker-compose.yml").read_text()
    assert pg["image"].startswith("${POSTGRES_IMAGE:-")
    # The server starts once PostgreSQL is healthy, and without it when the profile is off.
    dep = compose["services"]["sealdog"]["depends_on"]["postgres"]
    assert dep == {"condition": "service_healthy", "required": False}
    assert "-h 127.0.0.1" in " ".join(pg["healthcheck"]["test"])


def test_compose_scale_profile_puts_replicas_behind_nginx(compose) -> None:
    services = compose["services"]
    replica, lb = services["replica"], services["lb"]
    assert replica["profiles"] == lb["profiles"] == ["scale"]
    assert replica["command"] == services["sealdog"]["command"]
    assert replica["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert "/readyz" in " ".join(replica["healthcheck"]["test"])
    assert lb["depends_on"]["replica"]["condition"] == "service_healthy"
    env = replica["environment"]
    assert env["SEALDOG_DATABASE_URL"].startswith("postgresql+psycopg://")
    # Every variable is a server setting (blob_store: the store chosen by issue 16).
    fields = set(ServerSettings.model_fields) | {"blob_store"}
    for name in env:
        assert name[len("SEALDOG_") :].lower() in fields, f"{name} is not a server setting"
    # nginx proxies to the replicas' port, under the path nginx's config directory includes.
    conf_host, conf_target = lb["volumes"][0].split(":")[:2]
    assert conf_target == "/etc/nginx/conf.d/default.conf"
    conf = (REPO_ROOT / conf_host).read_text()
    port = replica["command"][replica["command"].index("--port") + 1]
    assert re.search(rf"^\s*server replica:{port}\b", conf, flags=re.M)
    assert "proxy_pass http://sealdog_replicas;" in conf
    assert re.search(r"^\s*listen (\d+);", conf, flags=re.M).group(1) in lb["ports"][0]


def test_dockerfile_is_multistage_non_root_with_healthcheck() -> None:
    text = (REPO_ROOT / "Dockerfile").read_text()
    assert len(re.findall(r"^FROM ", text, flags=re.M)) >= 2
    user = re.findall(r"^USER (\S+)", text, flags=re.M)
    assert user and user[-1] not in ("root", "0")
    assert "HEALTHCHECK" in text and "/healthz" in text
    for name in re.findall(r"SEALDOG_([A-Z_]+)=", text):
        assert name.lower() in ServerSettings.model_fields
    assert 'ENTRYPOINT ["sealdog"]' in text and 'CMD ["server", "run"]' in text
    # Builds without Docker Hub: no BuildKit frontend to fetch, the base image an argument.
    assert "# syntax=" not in text
    assert re.search(r"^ARG PYTHON_IMAGE=", text, flags=re.M)
    assert re.findall(r"^FROM (\S+)", text, flags=re.M) == ["${PYTHON_IMAGE}"] * 2


def test_settings_from_environment(monkeypatch, tmp_path) -> None:
    monkeypatch.setenv("SEALDOG_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SEALDOG_MAX_EMAILS_PER_BATCH", "7")
    monkeypatch.setenv("DATABASE_URL", "postgres://u:p@db:5432/x")
    s = ServerSettings()
    assert s.data_dir == tmp_path and s.max_emails_per_batch == 7
    assert s.resolved_database_url() == "postgresql+psycopg://u:p@db:5432/x"
    monkeypatch.setenv("SEALDOG_DATABASE_URL", "sqlite:////tmp/x.db")
    assert ServerSettings().resolved_database_url() == "sqlite:////tmp/x.db"
    monkeypatch.delenv("SEALDOG_DATABASE_URL")
    monkeypatch.delenv("DATABASE_URL")
    assert ServerSettings().resolved_database_url().endswith("/sealdog.db")
    # to_environment round-trips.
    rebuilt = ServerSettings(**{k[8:].lower(): v for k, v in s.to_environment().items()})
    assert rebuilt == s
