"""`sealdog data fetch` against a local HTTP server, `sealdog data info` on a small corpus."""

from __future__ import annotations

import functools
import http.server
import json
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from sealdog.cli import app
from sealdog.cli_errors import ExitStatus

runner = CliRunner()


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    root = tmp_path / "www"
    root.mkdir()
    handler = functools.partial(http.server.SimpleHTTPRequestHandler, directory=str(root))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/", root
    finally:
        server.shutdown()
        server.server_close()


def test_fetch_refuses_a_tampered_archive(file_server: tuple[str, Path], tmp_path: Path) -> None:
    url, root = file_server
    (root / "enron1.tar.gz").write_bytes(b"not the real archive")
    dest = tmp_path / "dest"
    result = runner.invoke(
        app, ["data", "fetch", "--dest", str(dest), "--folders", "enron1", "--base-url", url]
    )
    assert result.exit_code == ExitStatus.BAD_INPUT
    assert "does not match" in result.output
    assert not any(dest.iterdir())


def test_fetch_reports_http_errors(file_server: tuple[str, Path], tmp_path: Path) -> None:
    url, _ = file_server
    result = runner.invoke(
        app,
        ["data", "fetch", "--dest", str(tmp_path / "d"), "--folders", "enron2", "--base-url", url],
    )
    assert result.exit_code == ExitStatus.BAD_INPUT and "HTTP 404" in result.output


def test_info_json(tmp_path: Path) -> None:
    for sub, n in (("ham", 3), ("spam", 2)):
        folder = tmp_path / "enron5" / sub
        folder.mkdir(parents=True)
        for i in range(n):
            (folder / f"{i}.txt").write_bytes(b"Subject: x\nbody")
    result = runner.invoke(app, ["data", "info", "--data", str(tmp_path), "--json"])
    assert result.exit_code == 0, result.output
    info = json.loads(result.output.strip().splitlines()[-1])
    assert info["folders"] == {"enron5": {"ham": 3, "spam": 2}}
