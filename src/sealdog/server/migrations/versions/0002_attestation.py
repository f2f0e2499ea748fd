"""Issue 14: a model's auditor attestation and its strict re-randomisation request.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("sealed_models") as batch:
        batch.add_column(
            sa.Column("strict_rerandomise", sa.Boolean, nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("attestation", sa.JSON, nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("sealed_models") as batch:
        batch.drop_column("attestation")
        batch.drop_column("strict_rerandomise")
