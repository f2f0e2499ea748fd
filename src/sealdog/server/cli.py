"""`sealdog server ...`: run the service, issue tokens, set per-model policy, migrate.

Options override the SEALDOG_* environment variables; the settings are then exported to
the environment so every uvicorn worker process builds the same configuration.

`server run` logs through the standard `logging` module with uvicorn's handlers: the
`sealdog` loggers at the chosen level, one "ready on http://HOST:PORT (workers N)" line
once the server answers, and one access line per request (`sealdog.server.access`).
"""

from __future__ import annotations

import copy
import logging
import os
import shutil
import threading
import time
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from sealdog.cli_errors import handles_errors
from sealdog.errors import SealdogError

if TYPE_CHECKING:
    from sealdog.server.settings import ServerSettings
    from sealdog.server.storage.repository import Repository

log = logging.getLogger("sealdog.server")

server_app = typer.Typer(
    help="The Sealdog server (the deploying party's service).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
token_app = typer.Typer(
    help="API tokens (stored hashed; shown once).", no_args_is_help=True, rich_markup_mode=None
)
model_app = typer.Typer(
    help="Operator actions on hosted models.", no_args_is_help=True, rich_markup_mode=None
)


class TokenRole(StrEnum):
    """`sealdog.protocol.Role` as an option choice (that module loads the crypto package,
    too slow for `--help`; a test keeps the two equal)."""

    owner = "owner"
    submitter = "submitter"
    admin = "admin"


class LogLevel(StrEnum):
    """uvicorn's log levels (`trace` is below `debug`)."""

    critical = "critical"
    error = "error"
    warning = "warning"
    info = "info"
    debug = "debug"
    trace = "trace"


server_app.add_typer(token_app, name="token")
server_app.add_typer(model_app, name="model")

DataDir = typer.Option(None, "--data-dir", help="Data folder [env SEALDOG_DATA_DIR].")
DatabaseUrl = typer.Option(
    None, "--database-url", help="SQLAlchemy URL [env SEALDOG_DATABASE_URL or DATABASE_URL]."
)


def register(app: typer.Typer) -> None:
    """Add this package's commands to the root app."""
    app.add_typer(server_app, name="server")


def _settings(**overrides: Any) -> ServerSettings:
    from sealdog.server.settings import ServerSettings

    return ServerSettings(**{k: v for k, v in overrides.items() if v is not None})


def _repository(data_dir: Path | None, database_url: str | None) -> Repository:
    from sealdog.server.app import prepare_storage

    settings = _settings(data_dir=data_dir, database_url=database_url)
    repo, _ = prepare_storage(settings)
    return repo


@server_app.command("run")
@handles_errors
def run(
    host: str = typer.Option(None, help="Bind address [env SEALDOG_HOST, default 127.0.0.1]."),
    port: int = typer.Option(None, help="Port [env SEALDOG_PORT, default 8000]."),
    workers: int = typer.Option(None, help="uvicorn worker processes [env SEALDOG_WORKERS]."),
    scoring_processes: int = typer.Option(
        None,
        help="Scoring processes per worker; 0 = CPUs / workers [env SEALDOG_SCORING_PROCESSES].",
    ),
    data_dir: Path = DataDir,
    database_url: str = DatabaseUrl,
    insecure_demo: bool = typer.Option(
        False,
        "--insecure-demo",
        help="Accept keys under 2048 bits (demos/tests only) [env SEALDOG_DEMO_MODE].",
    ),
    allow_research_schemes: bool = typer.Option(
        False,
        "--allow-research-schemes",
        help="Host research-grade xor networks (integer-vector scheme, NOT confidential) "
        "[env SEALDOG_ALLOW_RESEARCH_SCHEMES].",
    ),
    log_level: LogLevel | None = typer.Option(
        None, help="Log level [env SEALDOG_LOG_LEVEL, default info]."
    ),
) -> None:
    """Start the HTTP server (uvicorn)."""
    import uvicorn

    from sealdog.server.app import (
        DEMO_MODE_WARNING,
        RESEARCH_SCHEMES_WARNING,
        SUPERVISOR_PID_ENV,
        prepare_storage,
        sweep_orphans,
    )
    from sealdog.server.connections import HeaderTimeoutH11Protocol

    settings = _settings(
        host=host,
        port=port,
        workers=workers,
        scoring_processes=scoring_processes,
        data_dir=data_dir,
        database_url=database_url,
        demo_mode=True if insecure_demo else None,
        allow_research_schemes=True if allow_research_schemes else None,
        log_level=log_level.value if log_level else None,
    )
    # Migrate and sweep once, here, before any worker starts: no upload is in flight, and
    # only files older than orphan_min_age_seconds go (never from the operator commands).
    repo, blobs = prepare_storage(settings)
    removed = sweep_orphans(repo, blobs, min_age_seconds=settings.orphan_min_age_seconds)
    if removed:
        log.warning("removed %d leftover upload file(s) from an earlier crash", removed)
    repo.engine.dispose()
    env = settings.to_environment()
    env["SEALDOG_AUTO_MIGRATE"] = "false"
    env[SUPERVISOR_PID_ENV] = str(os.getpid())
    os.environ.update(env)
    if settings.workers > 1:
        # Metrics shared across worker processes (prometheus_client multiprocess mode).
        metrics_dir = settings.data_dir / "prometheus"
        shutil.rmtree(metrics_dir, ignore_errors=True)
        metrics_dir.mkdir(parents=True)
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(metrics_dir)
    if settings.demo_mode:
        typer.secho(DEMO_MODE_WARNING, fg=typer.colors.RED, err=True, bold=True)
    if settings.demo_mode or settings.allow_research_schemes:
        typer.secho(RESEARCH_SCHEMES_WARNING, fg=typer.colors.YELLOW, err=True, bold=True)
    _announce_when_ready(settings.host, settings.port, settings.workers)
    uvicorn.run(
        "sealdog.server.app:app_from_environment",
        factory=True,
        host=settings.host,
        port=settings.port,
        workers=settings.workers,
        log_level=settings.log_level,
        log_config=_log_config(settings.log_level),
        access_log=False,  # sealdog.server.access logs each request (no query, no headers)
        timeout_graceful_shutdown=30,
        http=HeaderTimeoutH11Protocol,  # h11 plus a header-read timeout (connections.py)
        timeout_keep_alive=settings.keep_alive_timeout_seconds,
        limit_concurrency=settings.limit_concurrency,
        h11_max_incomplete_event_size=settings.max_header_bytes,
    )


def _log_config(level: str) -> dict[str, Any]:
    """uvicorn's logging configuration, with the `sealdog` loggers on its stderr handler."""
    from uvicorn.config import LOGGING_CONFIG

    config = copy.deepcopy(LOGGING_CONFIG)
    config["loggers"]["sealdog"] = {
        "handlers": ["default"],
        "level": level.upper(),
        "propagate": False,
    }
    return config


def _announce_when_ready(host: str, port: int, workers: int) -> None:
    """Log "ready on ..." once, when /readyz first answers 200 (whatever the worker count)."""
    import httpx

    probe = {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "::1"}.get(host, host)
    probe_url = f"http://{f'[{probe}]' if ':' in probe else probe}:{port}/readyz"
    shown = f"{f'[{host}]' if ':' in host else host}:{port}"

    def watch() -> None:
        with httpx.Client(timeout=2, trust_env=False) as client:
            while True:
                try:
                    if client.get(probe_url).status_code == 200:
                        log.info("ready on http://%s (workers %d)", shown, workers)
                        return
                except httpx.HTTPError:
                    pass
                time.sleep(0.2)

    threading.Thread(target=watch, name="sealdog-ready", daemon=True).start()


@server_app.command("migrate")
@handles_errors
def migrate_command(data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """Create or upgrade the database schema (the server also does this at start)."""
    from sealdog.server.storage.database import current_revision

    repo = _repository(data_dir, database_url)
    typer.echo(f"database at revision {current_revision(repo.engine)}")


@token_app.command("create")
@handles_errors
def token_create(
    role: TokenRole = typer.Option(
        ..., help="owner (uploads models, reads their verdicts), submitter (scores) or admin."
    ),
    subject: str = typer.Option(
        None, help="Who the token acts for (owners sharing models share it)."
    ),
    label: str = typer.Option(None, help="A note for the token list."),
    model: list[str] = typer.Option(
        None, "--model", help="Model a submitter may use (repeatable)."
    ),
    data_dir: Path = DataDir,
    database_url: str = DatabaseUrl,
) -> None:
    """Issue a token and print it (once; only its hash is stored)."""
    from sealdog.protocol import Role
    from sealdog.server.auth import issue_token

    if model and role is not TokenRole.submitter:
        raise typer.BadParameter("--model applies to submitter tokens only")
    repo = _repository(data_dir, database_url)
    try:
        record, token = issue_token(
            repo, role=Role(role.value), subject=subject, label=label, model_ids=model or []
        )
    except KeyError as exc:
        raise SealdogError(f"unknown model(s): {exc.args[0]}") from None
    typer.echo(f"token id {record.id}, role {record.role}, subject {record.subject}", err=True)
    typer.echo(token)


@token_app.command("list")
@handles_errors
def token_list(data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """List tokens (never their secrets)."""
    repo = _repository(data_dir, database_url)
    for t in repo.list_tokens():
        state = "revoked" if t.revoked_at else "active"
        models = ",".join(t.model_ids) or "-"
        typer.echo(
            f"{t.id}  {t.role:<9}  {t.subject:<24}  {state:<7}  models={models}  {t.label or ''}"
        )


@token_app.command("revoke")
@handles_errors
def token_revoke(token_id: str, data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """Revoke a token by id."""
    repo = _repository(data_dir, database_url)
    if not repo.revoke_token(token_id):
        raise SealdogError(f"no token {token_id!r}")
    typer.echo(f"revoked {token_id}")


@model_app.command("list")
@handles_errors
def model_list(data_dir: Path = DataDir, database_url: str = DatabaseUrl) -> None:
    """List hosted models with owner, kind, key and score-mode policy."""
    repo = _repository(data_dir, database_url)
    for m in repo.list_models():
        policy = "score+verdict" if m.score_mode_enabled else "verdict-only"
        typer.echo(
            f"{m.id}  {m.owner:<20}  {m.kind:<7} {m.key_bits}-bit {m.key_fingerprint[:16]}  "
            f"{policy}"
        )


@model_app.command("score-mode")
@handles_errors
def model_score_mode(
    model_id: str,
    enable: bool = typer.Option(
        ..., "--enable/--disable", help="Allow exact scores for this model."
    ),
    data_dir: Path = DataDir,
    database_url: str = DatabaseUrl,
) -> None:
    """Allow (or forbid) exact-score mode for one model. Exact scores reveal more than a
    verdict; enable it only for calibration with the key holder's consent."""
    repo = _repository(data_dir, database_url)
    if not repo.set_score_mode(model_id, enable):
        raise SealdogError(f"no model {model_id!r}")
    typer.echo(f"model {model_id}: exact-score mode {'enabled' if enable else 'disabled'}")
