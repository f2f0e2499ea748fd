"""nginx on 127.0.0.1 in front of local Sealdog replicas, for the tests and bench/scale_out.py.

`LocalNginx` writes a config into its own folder (pid, logs and temp paths there too, so it
needs no root and touches nothing of a system nginx), starts `nginx -g 'daemon off;'` as a
child process, waits until /readyz answers through it, and always stops it on exit.

The config is the one docs/scale.md recommends for replicas: `least_conn` over the
replicas, keep-alive upstream connections, request bodies streamed (uploads are large),
and passive health checks (open-source nginx has no active ones): a replica that refuses
connections is taken out for `fail_timeout`, and a request that could not reach it, or got
a 502/503 from it, is tried on the next replica. Retrying a POST is safe here because a
refused or unanswered connection, or a 503 (scoring unavailable), stored nothing.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
from pathlib import Path
from types import TracebackType

from sealdog.client.errors import ClientError
from sealdog.client.local_server import free_port, wait_until_ready

NGINX_CANDIDATES = ("nginx", "/usr/sbin/nginx", "/usr/local/sbin/nginx")


def find_nginx() -> str | None:
    """The nginx binary, or None when it is not installed."""
    for candidate in NGINX_CANDIDATES:
        found = shutil.which(candidate)
        if found:
            return found
    return None


def nginx_config(folder: Path, port: int, upstreams: list[str], *, max_body_bytes: int) -> str:
    """nginx.conf for a load balancer on 127.0.0.1:`port` over `upstreams` ("host:port")."""
    servers = "\n".join(f"        server {u} max_fails=1 fail_timeout=5s;" for u in upstreams)
    temp = "\n".join(
        f"    {name}_temp_path {folder / name};"
        for name in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
    )
    return f"""worker_processes 1;
pid {folder / "nginx.pid"};
error_log {folder / "error.log"} warn;
events {{ worker_connections 1024; }}
http {{
    access_log off;
{temp}
    client_max_body_size {max_body_bytes};
    upstream sealdog {{
        least_conn;
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_pass http://sealdog;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_request_buffering off;
            proxy_read_timeout 300s;
            proxy_next_upstream error http_502 http_503 non_idempotent;
            proxy_next_upstream_tries 3;
        }}
    }}
}}
"""


class LocalNginx:
    """Context manager: `with LocalNginx(folder, [a.url, b.url]) as lb: lb.url`."""

    def __init__(
        self,
        folder: Path,
        upstream_urls: list[str],
        *,
        max_body_bytes: int = 256 * 1024 * 1024,
        ready_timeout: float = 30.0,
        binary: str | None = None,
    ) -> None:
        self.folder = Path(folder)
        self.upstreams = [u.removeprefix("http://").rstrip("/") for u in upstream_urls]
        self.max_body_bytes = max_body_bytes
        self.ready_timeout = ready_timeout
        self.binary = binary or find_nginx()
        self.port = 0
        self.url = ""
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self) -> LocalNginx:
        if self.binary is None:
            raise ClientError("nginx is not installed (apt-get install nginx)")
        self.folder.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        conf = self.folder / "nginx.conf"
        conf.write_text(
            nginx_config(self.folder, self.port, self.upstreams, max_body_bytes=self.max_body_bytes)
        )
        log = (self.folder / "stderr.log").open("wb")
        with log:
            self._proc = subprocess.Popen(
                [
                    self.binary,
                    "-p",
                    str(self.folder),
                    "-e",
                    str(self.folder / "error.log"),
                    "-c",
                    str(conf),
                    "-g",
                    "daemon off;",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def _wait_ready(self) -> None:
        assert self._proc is not None
        wait_until_ready(self._proc, self.url, self.ready_timeout, "nginx", self.log_tail)

    @property
    def pid(self) -> int | None:
        """The nginx master's pid (its workers are its children), None when not running."""
        return self._proc.pid if self._proc is not None else None

    def log_tail(self, lines: int = 20) -> str:
        text = ""
        for name in ("stderr.log", "error.log"):
            with contextlib.suppress(OSError):
                text += (self.folder / name).read_text(errors="replace")
        return "\n".join(text.splitlines()[-lines:])

    def stop(self, timeout: float = 10.0) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.send_signal(signal.SIGQUIT)  # graceful: finish requests in flight
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        self._proc = None

    def __enter__(self) -> LocalNginx:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
