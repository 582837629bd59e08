"""notices: late steps folded per recipient, and the scheduler's record of periodic jobs

Revision ID: 0005_notices
Revises: 0004
Create Date: 2026-12-03

`outbox.fold_key`: the notices of escalation steps applied late in one sweep share one key per
set of recipients; the dispatcher sends them as one message per channel listing the items.
`job_runs`: which period (a day, an ISO week) the daily digest and the weekly report were
queued for, so `scheduler --once` from cron queues each once, when its time has come.
"""

import sqlalchemy as sa
from alembic import op
from rectify.engine.store.models import UTCDateTime

revision = "0005_notices"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("fold_key", sa.String(length=80), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_fold_key"), ["fold_key"], unique=False)
    op.create_table(
        "job_runs",
        sa.Column("job", sa.String(length=32), nullable=False),
        sa.Column("period", sa.String(length=32), nullable=False),
        sa.Column("ran_at", UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("job", "period", name=op.f("pk_job_runs")),
    )


def downgrade() -> None:
    op.drop_table("job_runs")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_fold_key"))
        batch_op.drop_column("fold_key")
