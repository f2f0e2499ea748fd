"""Sealed-model blobs in the database (SEALDOG_BLOB_STORE=postgres): chunked bytea.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "sealed_blobs",
        sa.Column("model_id", sa.String(32), primary_key=True),
        sa.Column("size_bytes", sa.BigInteger(), nullable=False),
        sa.Column("chunk_bytes", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
    )
    op.create_table(
        "sealed_blob_chunks",
        sa.Column(
            "model_id",
            sa.String(32),
            sa.ForeignKey("sealed_blobs.model_id", ondelete="CASCADE"),
            primary_key=True,
        ),
        sa.Column("seq", sa.Integer(), primary_key=True),
        sa.Column("data", sa.LargeBinary(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("sealed_blob_chunks")
    op.drop_table("sealed_blobs")
