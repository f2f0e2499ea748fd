"""A throw-away Sealdog server in a subprocess on 127.0.0.1, for the demo and the tests.

`LocalServer` runs the real `sealdog server run` (uvicorn) on a free loopback port with its
own data folder, issues an admin token the way an operator does (directly in the server's
database, before the start), waits for /readyz, and always stops the process (and its
process group) on exit, also after an error or Ctrl-C.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

import httpx

from sealdog.client.errors import ClientError


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def issue_admin_token(data_dir: Path, database_url: str | None = None) -> str:
    """The operator's first token (`sealdog server token create --role admin`), in-process,
    in the SQLite file of `data_dir` or the database at `database_url`."""
    from sealdog.protocol import Role
    from sealdog.server.app import prepare_storage
    from sealdog.server.auth import issue_token
    from sealdog.server.settings import ServerSettings

    repo, _ = prepare_storage(ServerSettings(data_dir=data_dir, database_url=database_url))
    try:
        _, token = issue_token(repo, role=Role.admin, subject="operator", label="local server")
    finally:
        repo.engine.dispose()
    return token


def wait_until_ready(
    proc: subprocess.Popen[bytes],
    url: str,
    timeout: float,
    what: str,
    log_tail: Callable[[], str],
) -> None:
    """Poll `url`/readyz until it answers 200; ClientError with the log's tail if `proc`
    exits first or `timeout` seconds pass (a deadline, not a speed check)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise ClientError(f"{what} exited at start (status {proc.returncode}):\n{log_tail()}")
        try:
            if httpx.get(url + "/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.15)
    raise ClientError(f"{what} did not become ready within {timeout:.0f} s:\n{log_tail()}")


class LocalServer:
    """Context manager: `with LocalServer(dir) as srv: srv.url, srv.admin_token`.

    Replicas: give each its own `data_dir` and the same `database_url` (and
    `blob_store="postgres"` unless the data folders share one blob folder); the first issues
    the admin token, the others get it as `admin_token` (nothing is issued then).

    `cpus` pins the server's whole process tree (its workers and scoring processes inherit
    the affinity) to those cores, e.g. one core per replica in a scaling benchmark."""

    def __init__(
        self,
        data_dir: Path,
        *,
        insecure_demo: bool = False,
        workers: int = 1,
        scoring_processes: int = 0,
        ready_timeout: float = 60.0,
        extra_env: dict[str, str] | None = None,
        database_url: str | None = None,
        blob_store: str | None = None,
        admin_token: str | None = None,
        cpus: frozenset[int] | None = None,
    ) -> None:
        self.data_dir = Path(data_dir)
        self.cpus = cpus
        self.database_url = database_url
        self.blob_store = blob_store
        self.insecure_demo = insecure_demo
        self.workers = workers
        self.scoring_processes = scoring_processes
        self.ready_timeout = ready_timeout
        self.extra_env = dict(extra_env or {})
        self.port = 0
        self.url = ""
        self.admin_token = admin_token or ""
        self.log_path = self.data_dir / "server.log"
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalServer:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        if not self.admin_token:
            self.admin_token = issue_admin_token(self.data_dir, self.database_url)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        cmd = [
            sys.executable,
            "-m",
            "sealdog.cli",
            "server",
            "run",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--data-dir",
            str(self.data_dir),
            "--workers",
            str(self.workers),
            "--scoring-processes",
            str(self.scoring_processes),
            "--log-level",
            "warning",
        ]
        if self.insecure_demo:
            cmd.append("--insecure-demo")
        env = {
            k: v
            for k, v in os.environ.items()
            if not k.startswith("SEALDOG_") and k != "DATABASE_URL"
        }
        if self.database_url:
            env["SEALDOG_DATABASE_URL"] = self.database_url
        if self.blob_store:
            env["SEALDOG_BLOB_STORE"] = self.blob_store
        env.update(self.extra_env)
        with self.log_path.open("wb") as log:
            # Own session: a Ctrl-C in the terminal reaches us, and we stop the server ourselves.
            self._proc = subprocess.Popen(
                cmd,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                start_new_session=True,
                preexec_fn=self._pin if self.cpus else None,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _pin(self) -> None:
        """In the child before exec: pin to `cpus` (inherited by every process it starts)."""
        assert self.cpus
        os.sched_setaffinity(0, self.cpus)

    def _wait_ready(self) -> None:
        assert self._proc is not None
        wait_until_ready(
            self._proc, self.url, self.ready_timeout, "The local server", self.log_tail
        )

    def log_tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no server log)"

    @property
    def running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def kill(self) -> None:
        """SIGKILL the server's whole process group at once (a crash, for durability tests);
        `stop` afterwards reaps it."""
        proc = self._proc
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=15)

    def stop(self, timeout: float = 15.0) -> None:
        """SIGTERM the server's process group, SIGKILL it if it lingers."""
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=5)
        else:
            # The leader is gone; make sure no worker of its group outlives it.
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(proc.pid, signal.SIGKILL)
        self._proc = None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
