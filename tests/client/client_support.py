"""Shared helpers of the client tests (kept out of conftest.py so test modules can import
them by a unique name)."""

from __future__ import annotations

import os
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

BATCH_CAP = 8
SAMPLES = Path(__file__).resolve().parents[2] / "src" / "sealdog" / "data" / "samples"


@dataclass(frozen=True)
class Artifacts:
    root: Path
    public_key: Path
    secret_key: Path
    other_secret_key: Path
    plain_model: Path
    sealed_model: Path


@dataclass(frozen=True)
class Live:
    url: str
    owner_token: str
    submitter_token: str
    admin_token: str
    model_id: str
    server: object


def run_cli(
    *args: str,
    env: dict[str, str] | None = None,
    input: bytes | None = None,
    cwd: Path | None = None,
    timeout: float = 120,
) -> subprocess.CompletedProcess:
    """`sealdog ...` in a subprocess; SEALDOG_* variables come only from `env`."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("SEALDOG_")}
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "sealdog.cli", *args],
        capture_output=True,
        env=full_env,
        input=input,
        cwd=cwd,
        timeout=timeout,
    )


def sample_paths(kind: str, count: int) -> list[Path]:
    return sorted((SAMPLES / kind).glob("*.eml"))[:count]
