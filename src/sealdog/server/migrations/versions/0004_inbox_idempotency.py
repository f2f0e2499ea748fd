"""Inbox idempotency keys: a batch retried through a load balancer is stored once.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("verdict_inbox") as batch:
        batch.add_column(sa.Column("idempotency_key", sa.String(64), nullable=True))
    # NULL keys (requests without the header) never clash: NULLs are distinct in both
    # PostgreSQL and SQLite unique indexes.
    op.create_index(
        "uq_verdict_inbox_model_id_key",
        "verdict_inbox",
        ["model_id", "idempotency_key"],
        unique=True,
    )


def downgrade() -> None:
    op.drop_index("uq_verdict_inbox_model_id_key", table_name="verdict_inbox")
    with op.batch_alter_table("verdict_inbox") as batch:
        batch.drop_column("idempotency_key")
