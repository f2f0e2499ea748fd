"""Initial schema: API tokens, sealed models, submitter grants, verdict inbox.

Revision ID: 0001
Revises:
Create Date: 2025-01-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

BigIntId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "api_tokens",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("role", sa.String(16), nullable=False),
        sa.Column("subject", sa.String(128), nullable=False),
        sa.Column("label", sa.String(200)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True)),
        sa.UniqueConstraint("token_hash", name="uq_api_tokens_token_hash"),
    )
    op.create_index("ix_api_tokens_subject", "api_tokens", ["subject"])
    op.create_table(
        "sealed_models",
        sa.Column("id", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("scheme", sa.String(32), nullable=False),
        sa.Column("digest", sa.String(160), nullable=False),
        sa.Column("key_fingerprint", sa.String(160), nullable=False),
        sa.Column("key_bits", sa.Integer, nullable=False),
        sa.Column("size_bytes", sa.BigInteger, nullable=False),
        sa.Column("summary", sa.JSON, nullable=False),
        sa.Column("uploaded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("score_mode_enabled", sa.Boolean, nullable=False, server_default=sa.false()),
        sa.UniqueConstraint("owner", "digest", name="uq_sealed_models_owner_digest"),
    )
    op.create_index("ix_sealed_models_owner", "sealed_models", ["owner"])
    op.create_table(
        "model_grants",
        sa.Column(
            "token_id",
            sa.String(32),
            sa.ForeignKey("api_tokens.id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("sealed_models.id", ondelete="CASCADE"),
            primary_key=True,
        ),
    )
    op.create_table(
        "verdict_inbox",
        sa.Column("id", BigIntId, primary_key=True, autoincrement=True),
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("sealed_models.id", ondelete="CASCADE"),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("mode", sa.String(16), nullable=False),
        sa.Column("count", sa.Integer, nullable=False),
        sa.Column("message_ids", sa.JSON, nullable=False),
        sa.Column("payload", sa.Text, nullable=False),
    )
    op.create_index("ix_verdict_inbox_model_id_id", "verdict_inbox", ["model_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_verdict_inbox_model_id_id", table_name="verdict_inbox")
    op.drop_table("verdict_inbox")
    op.drop_table("model_grants")
    op.drop_index("ix_sealed_models_owner", table_name="sealed_models")
    op.drop_table("sealed_models")
    op.drop_index("ix_api_tokens_subject", table_name="api_tokens")
    op.drop_table("api_tokens")
