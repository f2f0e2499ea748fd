"""Server configuration: one pydantic-settings object, read from SEALDOG_* environment variables.

Twelve-factor: every knob has an environment variable (`SEALDOG_<FIELD>`), the CLI only
overrides them, and uvicorn worker processes rebuild the same settings from the
environment. `DATABASE_URL` (the common platform convention) is honoured when
`SEALDOG_DATABASE_URL` is unset.
"""

from __future__ import annotations

import functools
import os
from enum import StrEnum
from pathlib import Path

from pydantic import AliasChoices, Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from sealdog.attestation import AuditorKeyError, TrustedAuditors
from sealdog.crypto.paillier.verdicts import Blinding
from sealdog.server.kinds.linear import DEFAULT_MAX_SCORE_BOUND_BITS

MIB = 1024 * 1024

# One Paillier ciphertext mod n^2 for a 3072-bit n takes 768 bytes; 2^18 weights + the bias
# are 201,327,360 bytes (192.0 MiB). 200 MiB leaves 8 MiB for the manifest and the zip.
MODEL_3072_2POW18_BYTES = (2**18 + 1) * (2 * 3072 // 8)
DEFAULT_MAX_MODEL_BYTES = 200 * MIB


class BlobStoreKind(StrEnum):
    """Where sealed-model files live (SEALDOG_BLOB_STORE)."""

    fs = "fs"  # files under <data_dir>/models; replicas need that folder on a shared volume
    postgres = "postgres"  # chunked bytea in the PostgreSQL database; replicas share nothing


class StrictRerandomise(StrEnum):
    """SEALDOG_STRICT_RERANDOMISE: a full r^n mod n^2 per output pack (on), the DJN short
    exponent only (off), or on unless the model has a valid attestation (auto)."""

    on = "on"
    off = "off"
    auto = "auto"


class ServerSettings(BaseSettings):
    """Everything the server needs to start; defaults suit a single machine."""

    model_config = SettingsConfigDict(env_prefix="SEALDOG_", extra="ignore")

    data_dir: Path = Field(
        default=Path("./sealdog-data"),
        description="Folder for the SQLite database and the sealed-model blobs.",
    )
    database_url: str | None = Field(
        default=None,
        validation_alias=AliasChoices("SEALDOG_DATABASE_URL", "DATABASE_URL", "database_url"),
        description="SQLAlchemy URL; default: SQLite file <data_dir>/sealdog.db.",
    )
    blob_store: BlobStoreKind = Field(
        default=BlobStoreKind.fs,
        description="Where sealed models are stored: 'fs' (files in <data_dir>/models) or "
        "'postgres' (in the PostgreSQL database, for replicas that share no volume; needs a "
        "postgresql database URL; each replica keeps local copies in <data_dir>/blob-cache).",
    )
    host: str = "127.0.0.1"
    port: int = Field(default=8000, ge=0, le=65535)
    workers: int = Field(default=1, ge=1, description="uvicorn worker processes.")
    scoring_processes: int = Field(
        default=0,
        ge=0,
        description="Scoring processes per worker; 0 = CPU count divided by workers (at least 1).",
    )
    heavy_scoring_processes: int | None = Field(
        default=None,
        ge=0,
        description="Heavy-lane scoring processes per worker: they run upload validation and "
        "scoring jobs over `heavy_job_bytes`, so normal mail never queues behind them. "
        "Default: as many as the normal lane (batches keep every process); 0 = one lane.",
    )
    heavy_job_bytes: int = Field(
        default=64 * 1024,
        ge=0,
        description="A scoring request whose e-mails total more raw bytes than this runs in "
        "the heavy lane.",
    )
    heavy_lane_nice: int = Field(
        default=10,
        ge=0,
        le=19,
        description="Nice increment of heavy-lane processes: on a busy machine the kernel "
        "runs the normal lane first.",
    )
    demo_mode: bool = Field(
        default=False,
        description="Accept Paillier keys under 2048 bits (insecure; for demos and tests only).",
    )
    allow_research_schemes: bool = Field(
        default=False,
        description="Host research-grade model kinds (xor networks on the integer-vector scheme, "
        "which is NOT confidential at its presets). Demo mode allows them too.",
    )
    max_body_bytes: int = Field(default=16 * MIB, gt=0, description="Cap on a JSON request body.")
    max_model_bytes: int = Field(
        default=DEFAULT_MAX_MODEL_BYTES,
        gt=0,
        description="Cap on an uploaded sealed-model file (default 200 MiB: a 2^18-bucket "
        "model at 3072 bits is 192 MiB of ciphertexts plus its manifest).",
    )
    max_models_per_owner: int = Field(
        default=100, gt=0, description="Models one owner (token subject) may host."
    )
    max_bytes_per_owner: int = Field(
        default=2048 * MIB, gt=0, description="Sum of one owner's sealed-model file sizes."
    )
    scoring_timeout_seconds: float = Field(
        default=120.0,
        gt=0,
        description="Wall-clock limit per scoring job; past it the scoring process is killed "
        "and replaced and the request gets a 503.",
    )
    validation_timeout_seconds: float = Field(
        default=600.0,
        gt=0,
        description="Wall-clock limit on validating one upload (a 192 MiB model at 3072 bits "
        "took 93 s on a loaded 2-core machine); past it the process is replaced, 503.",
    )
    scoring_address_space_bytes: int = Field(
        default=4096 * MIB,
        ge=0,
        description="RLIMIT_AS of each scoring process (0 = none); an allocation past it "
        "fails and the job gets a 503.",
    )
    model_cache_bytes: int = Field(
        default=256 * MIB,
        gt=0,
        description="Loaded models kept per scoring process, by sealed-file size (LRU).",
    )
    orphan_min_age_seconds: float = Field(
        default=3600.0,
        ge=0,
        description="`server run` deletes upload temp files and row-less blobs only when "
        "they are older than this.",
    )
    header_timeout_seconds: float = Field(
        default=10.0,
        gt=0,
        description="A connection must send a complete request head within this time (from "
        "connecting, or from the end of the previous response) or it is closed.",
    )
    keep_alive_timeout_seconds: int = Field(
        default=5, gt=0, description="Idle keep-alive connections are closed after this."
    )
    limit_concurrency: int = Field(
        default=256,
        gt=0,
        description="Open connections + requests in flight per uvicorn worker; above it "
        "new requests get a 503.",
    )
    max_header_bytes: int = Field(
        default=16 * 1024,
        ge=1024,
        description="Cap on a request head (request line + headers), in bytes.",
    )
    max_emails_per_batch: int = Field(default=256, gt=0)
    max_email_bytes: int = Field(default=1 * MIB, gt=0)
    max_inputs_per_batch: int = Field(
        default=64, gt=0, description="Cap on bit inputs per scoring request (xor models)."
    )
    max_verdicts_page: int = Field(default=500, gt=0, description="Cap on ?limit= for the inbox.")
    auto_migrate: bool = Field(
        default=True, description="Run Alembic migrations when the app starts."
    )
    max_score_bound_bits: int = Field(
        default=DEFAULT_MAX_SCORE_BOUND_BITS,
        ge=1,
        le=1024,
        description="Cap on a linear model's declared score bound, in bits: larger bounds are "
        "refused at upload (422). The server sizes every verdict slot and the blinding "
        "factor's mantissa for this cap, never for the model's own declaration; a model "
        "attested by a trusted auditor gets min(cap, attested bound).",
    )
    blinding: Blinding = Field(
        default=Blinding.STANDARD,
        description="Verdict blinding: standard (16-octave window, the default), wide (40), "
        "strongest (the whole range of the cap: <= 1 bit per verdict beyond the sign, fewer "
        "verdicts per ciphertext); see docs/paillier.md. legacy (the weak pre-issue-14 form, "
        "sized from the model's declared bound) is accepted only in demo mode.",
    )
    trusted_auditors: str = Field(
        default="",
        description="Auditors whose attestations this server accepts: comma-separated, each "
        "the path of a public-key file (`sealdog auditor-keygen` writes KEY.pub) or the key's "
        "base64 text (32 bytes, Ed25519). Empty: none.",
    )
    require_attestation: bool = Field(
        default=False,
        description="Refuse to score (403, reason attestation_required) with a model that has "
        "no attestation by a trusted auditor. Needs SEALDOG_TRUSTED_AUDITORS.",
    )
    strict_rerandomise: StrictRerandomise = Field(
        default=StrictRerandomise.auto,
        description="Full r^n re-randomisation of every output pack: on, off, or auto (on "
        "unless the model is attested). A model deployed with strict_rerandomise=true gets it "
        "whatever this says.",
    )
    log_level: str = "info"

    @field_validator("trusted_auditors")
    @classmethod
    def _parse_trusted(cls, value: str) -> str:
        try:
            TrustedAuditors.parse(value)
        except AuditorKeyError as exc:
            raise ValueError(f"SEALDOG_TRUSTED_AUDITORS: {exc}") from None
        return value

    @model_validator(mode="after")
    def _legacy_blinding_only_in_demo(self) -> ServerSettings:
        if self.blinding is Blinding.LEGACY and not self.demo_mode:
            raise ValueError("blinding 'legacy' is a weak variant, allowed only in demo mode")
        return self

    @model_validator(mode="after")
    def _attestation_needs_auditors(self) -> ServerSettings:
        if self.require_attestation and not self.trusted_auditors.strip():
            raise ValueError(
                "SEALDOG_REQUIRE_ATTESTATION is on but SEALDOG_TRUSTED_AUDITORS names no auditor"
            )
        return self

    def auditors(self) -> TrustedAuditors:
        """The trusted auditor keys (read once per process and value)."""
        return _trusted(self.trusted_auditors)

    def resolved_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data directory."""
        if self.database_url:
            url = self.database_url
            # Heroku-style URLs name the old driver; SQLAlchemy 2 wants psycopg 3 spelled out.
            if url.startswith("postgres://"):
                url = "postgresql+psycopg://" + url[len("postgres://") :]
            elif url.startswith("postgresql://"):
                url = "postgresql+psycopg://" + url[len("postgresql://") :]
            return url
        return f"sqlite:///{(self.data_dir / 'sealdog.db').resolve()}"

    @property
    def blob_dir(self) -> Path:
        return self.data_dir / "models"

    @property
    def blob_cache_dir(self) -> Path:
        """This replica's local copies of database-stored blobs (blob_store=postgres)."""
        return self.data_dir / "blob-cache"

    def effective_scoring_processes(self) -> int:
        if self.scoring_processes:
            return self.scoring_processes
        return max(1, (os.cpu_count() or 1) // self.workers)

    def effective_heavy_scoring_processes(self) -> int:
        if self.heavy_scoring_processes is None:
            return self.effective_scoring_processes()
        return self.heavy_scoring_processes

    def to_environment(self) -> dict[str, str]:
        """The SEALDOG_* variables that rebuild these settings in another process."""
        env: dict[str, str] = {}
        for name, value in self.model_dump().items():
            if value is None:
                continue
            env[f"SEALDOG_{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return env


@functools.lru_cache(maxsize=8)
def _trusted(spec: str) -> TrustedAuditors:
    return TrustedAuditors.parse(spec)
