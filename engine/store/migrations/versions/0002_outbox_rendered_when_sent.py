"""outbox: item notices are rendered when sent

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22

An item event (transition, escalation step, assignment) stores its template context; the
dispatcher renders it. Until then subject and bodies are empty (NULL), and `templates_dir` says
where the workflow's own templates were.
"""

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.alter_column("subject", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("body_text", existing_type=sa.Text(), nullable=True)
        batch_op.alter_column("body_markdown", existing_type=sa.Text(), nullable=True)
        batch_op.add_column(sa.Column("templates_dir", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("templates_dir")
        for column in ("subject", "body_text", "body_markdown"):
            batch_op.alter_column(column, existing_type=sa.Text(), nullable=False)
