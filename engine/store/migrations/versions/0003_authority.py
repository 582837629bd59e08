"""authority: how each actor reached the system

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03

`history.via` records how the actor reached rectify (cli, web, api, system); rows written
before it existed have NULL (they came through the CLI or the system).
"""

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.add_column(sa.Column("via", sa.String(length=8), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("history", schema=None) as batch_op:
        batch_op.drop_column("via")
