"""`sealdog server token ...` and `sealdog server model score-mode` against a data dir."""

from __future__ import annotations

from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.server.app import prepare_storage
from sealdog.server.auth import authenticate
from sealdog.server.settings import ServerSettings


def test_token_create_list_revoke(tmp_path) -> None:
    runner = CliRunner()
    d = str(tmp_path)
    r = runner.invoke(
        app, ["server", "token", "create", "--role", "owner", "--subject", "alice", "--data-dir", d]
    )
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    repo, _ = prepare_storage(ServerSettings(data_dir=tmp_path))
    record = authenticate(repo, token)
    assert record is not None and record.role == "owner" and record.subject == "alice"

    listed = runner.invoke(app, ["server", "token", "list", "--data-dir", d])
    assert record.id in listed.stdout and token not in listed.stdout

    assert (
        runner.invoke(app, ["server", "token", "revoke", record.id, "--data-dir", d]).exit_code == 0
    )
    assert authenticate(repo, token) is None
    assert runner.invoke(app, ["server", "token", "revoke", "nope", "--data-dir", d]).exit_code == 2

    bad = runner.invoke(app, ["server", "token", "create", "--role", "root", "--data-dir", d])
    assert bad.exit_code != 0
    bad = runner.invoke(
        app,
        ["server", "token", "create", "--role", "submitter", "--model", "x" * 32, "--data-dir", d],
    )
    assert bad.exit_code == 2 and "unknown model" in bad.output


def test_score_mode_command(tmp_path, sealed_bytes) -> None:
    from server_testkit import make_server, make_settings

    for server in make_server(make_settings(tmp_path)):
        model_id = server.upload(sealed_bytes).json()["id"]
    runner = CliRunner()
    r = runner.invoke(
        app, ["server", "model", "score-mode", model_id, "--enable", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 0, r.output
    repo, _ = prepare_storage(ServerSettings(data_dir=tmp_path))
    assert repo.get_model(model_id).score_mode_enabled  # type: ignore[union-attr]
    listed = runner.invoke(app, ["server", "model", "list", "--data-dir", str(tmp_path)])
    assert model_id in listed.stdout and "score+verdict" in listed.stdout
    r = runner.invoke(
        app, ["server", "model", "score-mode", "0" * 32, "--disable", "--data-dir", str(tmp_path)]
    )
    assert r.exit_code == 2


def test_run_logs_ready_once_and_one_line_per_request(tmp_path) -> None:
    """Two workers, default log level: one "ready on" line, then method, path, status and
    milliseconds per request, never the token or the query string."""
    import os
    import subprocess
    import sys
    import time

    import httpx

    from sealdog.client.local_server import free_port

    port = free_port()
    log_path = tmp_path / "server.log"
    env = {k: v for k, v in os.environ.items() if not k.startswith("SEALDOG_")}
    with log_path.open("wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealdog.cli",
                "server",
                "run",
                "--data-dir",
                str(tmp_path / "data"),
                "--port",
                str(port),
                "--workers",
                "2",
                "--scoring-processes",
                "1",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        deadline = time.monotonic() + 90
        while "ready on" not in log_path.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        r = httpx.get(
            f"http://127.0.0.1:{port}/v1/models?secret=query",
            headers={"Authorization": "Bearer sdt_not_a_real_token"},
            timeout=10,
        )
        assert r.status_code == 401
        deadline = time.monotonic() + 10
        while "GET /v1/models 401" not in log_path.read_text():
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.1)
        time.sleep(1)  # the other worker's start-up, if it was slower
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    text = log_path.read_text()
    assert text.count("ready on ") == 1
    assert f"ready on http://127.0.0.1:{port} (workers 2)" in text
    access = [line for line in text.splitlines() if "GET /v1/models 401" in line]
    assert len(access) == 1 and access[0].rstrip().endswith(" ms")
    assert "sdt_not_a_real_token" not in text and "secret=query" not in text


def test_help_shows_bracketed_text() -> None:
    result = CliRunner().invoke(app, ["server", "run", "--help"], terminal_width=80)
    assert result.exit_code == 0
    assert "[env SEALDOG_PORT" in result.output and "default 8000]" in result.output
