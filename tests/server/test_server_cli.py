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
    r = runner.invoke(app, ["server", "token", "create", "--role", "owner", "--subject", "alice",
                            "--data-dir", d])
    assert r.exit_code == 0, r.output
    token = r.stdout.strip().splitlines()[-1]
    repo, _ = prepare_storage(ServerSettings(data_dir=tmp_path))
    record = authenticate(repo, token)
    assert record is not None and record.role == "owner" and record.subject == "alice"

    listed = runner.invoke(app, ["server", "token", "list", "--data-dir", d])
    assert record.id in listed.stdout and token not in listed.stdout

    assert runner.invoke(app, ["server", "token", "revoke", record.id, "--data-dir", d]).exit_code == 0
    assert authenticate(repo, token) is None
    assert runner.invoke(app, ["server", "token", "revoke", "nope", "--data-dir", d]).exit_code == 2

    bad = runner.invoke(app, ["server", "token", "create", "--role", "root", "--data-dir", d])
    assert bad.exit_code != 0
    bad = runner.invoke(app, ["server", "token", "create", "--role", "submitter", "--model", "x" * 32,
                              "--data-dir", d])
    assert bad.exit_code == 2 and "unknown model" in bad.output


def test_score_mode_command(tmp_path, sealed_bytes) -> None:
    from server_testkit import make_server, make_settings

    for server in make_server(make_settings(tmp_path)):
        model_id = server.upload(sealed_bytes).json()["id"]
    runner = CliRunner()
    r = runner.invoke(app, ["server", "model", "score-mode", model_id, "--enable", "--data-dir", str(tmp_path)])
    assert r.exit_code == 0, r.output
    repo, _ = prepare_storage(ServerSettings(data_dir=tmp_path))
    assert repo.get_model(model_id).score_mode_enabled  # type: ignore[union-attr]
    listed = runner.invoke(app, ["server", "model", "list", "--data-dir", str(tmp_path)])
    assert model_id in listed.stdout and "score+verdict" in listed.stdout
    r = runner.invoke(app, ["server", "model", "score-mode", "0" * 32, "--disable", "--data-dir", str(tmp_path)])
    assert r.exit_code == 2
