"""The SQL schema, as SQLAlchemy 2 declarative tables (Alembic's migrations create them).

Only hashes of API tokens are stored. Sealed-model ciphertexts live in the blob store,
not in these tables; encrypted verdicts (the inbox) are stored as their JSON document.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only auto-increments INTEGER PRIMARY KEY; PostgreSQL gets a 64-bit identity.
BigIntId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class TokenRow(Base):
    __tablename__ = "api_tokens"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    subject: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    label: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ModelRow(Base):
    __tablename__ = "sealed_models"
    __table_args__ = (UniqueConstraint("owner", "digest", name="uq_sealed_models_owner_digest"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    owner: Mapped[str] = mapped_column(String(128), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    scheme: Mapped[str] = mapped_column(String(32), nullable=False)
    digest: Mapped[str] = mapped_column(String(160), nullable=False)
    key_fingerprint: Mapped[str] = mapped_column(String(160), nullable=False)
    key_bits: Mapped[int] = mapped_column(Integer, nullable=False)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    uploaded_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    score_mode_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    strict_rerandomise: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    attestation: Mapped[dict[str, Any] | None] = mapped_column(JSON)


class GrantRow(Base):
    __tablename__ = "model_grants"

    token_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("api_tokens.id", ondelete="CASCADE"), primary_key=True
    )
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sealed_models.id", ondelete="CASCADE"), primary_key=True
    )


class VerdictRow(Base):
    """One inbox entry. `idempotency_key` is the client's key for the batch (the
    Idempotency-Key header), unique per model: a retried batch is stored once."""

    __tablename__ = "verdict_inbox"
    __table_args__ = (
        Index("ix_verdict_inbox_model_id_id", "model_id", "id"),
        Index("uq_verdict_inbox_model_id_key", "model_id", "idempotency_key", unique=True),
    )

    id: Mapped[int] = mapped_column(BigIntId, primary_key=True, autoincrement=True)
    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sealed_models.id", ondelete="CASCADE"), nullable=False
    )
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)
    mode: Mapped[str] = mapped_column(String(16), nullable=False)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    message_ids: Mapped[list[str | None]] = mapped_column(JSON, nullable=False)
    payload: Mapped[str] = mapped_column(Text, nullable=False)
    idempotency_key: Mapped[str | None] = mapped_column(String(64))


class BlobRow(Base):
    """A sealed-model blob held in the database (SEALDOG_BLOB_STORE=postgres). No foreign
    key to sealed_models: the blob is written before the model's row (see db_blobs)."""

    __tablename__ = "sealed_blobs"

    model_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    size_bytes: Mapped[int] = mapped_column(BigInteger, nullable=False)
    chunk_bytes: Mapped[int] = mapped_column(Integer, nullable=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), nullable=False)


class BlobChunkRow(Base):
    __tablename__ = "sealed_blob_chunks"

    model_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("sealed_blobs.model_id", ondelete="CASCADE"), primary_key=True
    )
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    data: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
