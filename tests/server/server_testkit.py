"""Helpers for the server tests (imported by name: a unique module, not `conftest`):
the toy model, sealing, decryption, app and uvicorn launchers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx

from sealdog.server.app import create_app
from sealdog.server.auth import Role, issue_token
from sealdog.server.settings import ServerSettings

# Starlette suggests httpx2 for its TestClient; httpx is what the project depends on.
warnings.filterwarnings("ignore", message=".*httpx.*starlette.testclient.*")
from fastapi.testclient import TestClient  # noqa: E402

REPO_ROOT = Path(__file__).resolve().parents[2]

# A vocabulary featuriser with a handful of words and hand-picked integer weights, so the
# expected scores can be computed exactly in plaintext.
VOCABULARY = ["w:viagra", "w:free", "w:money", "w:meeting", "w:report", "w:winner", "s:offer"]
WEIGHTS = [3.0, 1.5, 1.0, -2.0, -1.5, 2.5, 2.0]
BIAS = -1.0

SPAM = b"Subject: special offer\n\nviagra free money, you are a winner\n"
HAM = b"Subject: minutes\n\nthe meeting report is attached\n"
NEUTRAL = b"Subject: hello\n\nnothing to see\n"  # no known word: score = bias < 0


def featuriser_spec() -> dict:
    from sealdog.mail.featuriser import FeaturiserSpec

    return FeaturiserSpec(
        mode="vocabulary",
        vocabulary=tuple(VOCABULARY),
        ngram_max=1,
        length_terms=False,
        max_count=1,
    ).to_dict()


def expected_score(raw: bytes) -> float:
    from sealdog.mail.featuriser import Featuriser

    feats = Featuriser.from_spec(featuriser_spec()).featurise_email(raw)
    return BIAS + sum(WEIGHTS[int(i)] * int(c) for i, c in zip(feats.indices, feats.counts))


@dataclass(frozen=True)
class Keys:
    public: object
    secret: object


def seal(keys: Keys, *, weights=WEIGHTS, bias=BIAS, metadata=None):
    from sealdog.sealed_model import seal_model

    return seal_model(
        keys.public,
        list(weights),
        bias,
        featuriser=featuriser_spec(),
        scale_bits=16,
        max_count=1,
        metadata=metadata or {"name": "test-model"},
    )


def decrypt(keys: Keys, verdicts_json: dict) -> list[bool]:
    from sealdog.crypto.paillier import EncryptedVerdicts, decrypt_verdicts

    return list(decrypt_verdicts(keys.secret, EncryptedVerdicts.from_json(verdicts_json)))


def make_settings(data_dir: Path, **overrides) -> ServerSettings:
    values = dict(
        data_dir=data_dir,
        demo_mode=True,
        scoring_processes=1,
        max_body_bytes=256 * 1024,
        max_email_bytes=16 * 1024,
        max_emails_per_batch=8,
        max_model_bytes=4 * 1024 * 1024,
    )
    values.update(overrides)
    return ServerSettings(**values)


@dataclass
class Server:
    client: TestClient
    settings: ServerSettings
    admin: dict[str, str]
    owner: dict[str, str]
    other_owner: dict[str, str]
    submitter: dict[str, str]
    submitter_id: str

    @property
    def repo(self):
        return self.client.app.state.services.repo  # type: ignore[attr-defined]

    def upload(self, data: bytes, headers=None, **params) -> httpx.Response:
        return self.client.post(
            "/v1/models",
            content=data,
            headers={**(headers or self.owner), "Content-Type": "application/octet-stream"},
            params=params,
        )

    def grant(self, model_id: str) -> None:
        r = self.client.post(
            f"/v1/tokens/{self.submitter_id}/grants",
            json={"model_id": model_id},
            headers=self.admin,
        )
        assert r.status_code == 200, r.text


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def make_server(settings: ServerSettings) -> Iterator[Server]:
    app = create_app(settings)
    repo = app.state.services.repo
    _, admin = issue_token(repo, role=Role.admin, subject="ops")
    _, owner = issue_token(repo, role=Role.owner, subject="alice")
    _, other = issue_token(repo, role=Role.owner, subject="bob")
    sub_rec, sub = issue_token(repo, role=Role.submitter, subject="gateway")
    with TestClient(app, raise_server_exceptions=False) as client:
        yield Server(
            client, settings, bearer(admin), bearer(owner), bearer(other), bearer(sub), sub_rec.id
        )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class UvicornProcess:
    """`sealdog server run` in a subprocess on 127.0.0.1, torn down by its pid."""

    def __init__(self, data_dir: Path, *, workers: int = 1, extra_env=None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        env = {k: v for k, v in os.environ.items() if not k.startswith("SEALDOG_")}
        env.update(extra_env or {})
        self.log = data_dir.parent / f"uvicorn-{self.port}.log"
        self._log_handle = self.log.open("wb")
        self.proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "sealdog.cli",
                "server",
                "run",
                "--data-dir",
                str(data_dir),
                "--port",
                str(self.port),
                "--workers",
                str(workers),
                "--insecure-demo",
                "--scoring-processes",
                "1",
                "--log-level",
                "warning",
            ],
            stdout=self._log_handle,
            stderr=subprocess.STDOUT,
            env=env,
            cwd=str(data_dir.parent),
        )
        self.wait_ready()

    def wait_ready(self, timeout: float = 180) -> None:  # a deadline, not a speed check
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.log.read_text()}")
            try:
                if httpx.get(self.url + "/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"server not ready: {self.log.read_text()}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log_handle.close()


_PROBE = """
import select, sys, time, httpx
url, interval = sys.argv[1], float(sys.argv[2])
with httpx.Client(base_url=url, timeout=30) as client:
    client.get("/healthz")  # connected before the load starts
    print("ready", flush=True)
    while not select.select([sys.stdin], [], [], interval)[0]:  # stdin closed: stop
        started = time.perf_counter()
        status = client.get("/healthz").status_code
        print(status, time.perf_counter() - started, flush=True)
"""


class HealthProbe:
    """GET /healthz every `interval` seconds from a process of its own while the block runs;
    `latencies` (seconds) are then the server's alone. A probe thread in the test process
    would also time the test's own threads holding the GIL while they encode large bodies."""

    def __init__(self, url: str, *, interval: float = 0.05) -> None:
        self.url, self.interval = url, interval
        self.latencies: list[float] = []

    def __enter__(self) -> HealthProbe:
        command = [sys.executable, "-c", _PROBE, self.url, str(self.interval)]
        self.proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
        )
        assert self.proc.stdout is not None and self.proc.stdout.readline() == "ready\n"
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *rest: object) -> None:
        out, _ = self.proc.communicate(timeout=60)  # closes the probe's stdin: it stops
        if exc_type is not None:
            return  # the block's own error is the one to report
        assert self.proc.returncode == 0, f"the probe failed: exit {self.proc.returncode}"
        answers = [line.split() for line in out.splitlines()]
        assert all(status == "200" for status, _ in answers), answers
        self.latencies = [float(seconds) for _, seconds in answers]


def process_alive(pid: int) -> bool:
    """True while `pid` exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False
    return state != "Z"


def _parents() -> dict[int, int]:
    out: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except (FileNotFoundError, ProcessLookupError, IndexError):
                continue
            if fields[0] != "Z":
                out[int(entry.name)] = int(fields[1])
    return out


def children(pid: int) -> list[int]:
    """The live direct children of `pid`."""
    return sorted(p for p, parent in _parents().items() if parent == pid)


def descendants(pid: int) -> list[int]:
    """Every live process below `pid` (children, grandchildren, ...), from /proc."""
    parents = _parents()
    found: list[int] = []
    frontier = [pid]
    while frontier:
        parent = frontier.pop()
        kids = [p for p, pp in parents.items() if pp == parent]
        found.extend(kids)
        frontier.extend(kids)
    return sorted(found)


def wait_gone(pids: list[int], timeout: float = 10.0) -> list[int]:
    """Wait until none of `pids` is alive; returns those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not any(process_alive(p) for p in pids):
            return []
        time.sleep(0.05)
    return [p for p in pids if process_alive(p)]


def token_command(data_dir: Path, *args: str) -> list[str]:
    """The argv of `sealdog server token create` on `data_dir`, as its own process."""
    return [
        sys.executable,
        "-m",
        "sealdog.cli",
        "server",
        "token",
        "create",
        "--data-dir",
        str(data_dir),
        *args,
    ]


def cli_token(data_dir: Path, *args: str) -> str:
    """`sealdog server token create` as its own process; returns the token."""
    result = subprocess.run(
        token_command(data_dir, *args),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return result.stdout.strip().splitlines()[-1]


def cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
    except (FileNotFoundError, ProcessLookupError):
        return ""


def scoring_pids(root: int) -> list[int]:
    """The scoring processes below `root`."""
    return [p for p in descendants(root) if "sealdog.server.scoring_worker" in cmdline(p)]
