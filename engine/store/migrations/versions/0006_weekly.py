"""weekly: indexes on the time columns the weekly report counts by

Revision ID: 0005_weekly
Revises: 0004
Create Date: 2026-12-03

`report weekly` counts items created and closed in a week, open at a week's end, escalation
steps applied and history events (rejections, 延期, 催办) in a week: each a range on one time
column, which without these indexes is a scan of the whole table. `ix_items_open` holds the
open items (a partial index) with what their light needs, so the light bands and the red list
read it instead of the table.
"""

import sqlalchemy as sa
from alembic import op

revision = "0006_weekly"
down_revision = "0005_notices"
branch_labels = None
depends_on = None

INDEXES = (
    ("ix_items_created_at", "items", ["created_at"]),
    ("ix_items_closed_at", "items", ["closed_at"]),
    ("ix_history_at", "history", ["at"]),
    ("ix_escalation_steps_applied_at", "escalation_steps", ["applied_at"]),
)


OPEN_ITEM_COLUMNS = ["unit_path", "due_at", "original_due_at", "entered_at", "entry_no", "state",
                     "workflow_version_id", "workflow"]


def upgrade() -> None:
    for name, table, columns in INDEXES:
        op.create_index(name, table, columns)
    op.create_index("ix_items_open", "items", OPEN_ITEM_COLUMNS,
                    sqlite_where=sa.text("final = 0"), postgresql_where=sa.text("final = false"))


def downgrade() -> None:
    op.drop_index("ix_items_open", table_name="items")
    for name, table, _ in reversed(INDEXES):
        op.drop_index(name, table_name=table)
