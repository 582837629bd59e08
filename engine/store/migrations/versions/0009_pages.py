"""pages: the open items' index carries `final`, so a board's counts read it alone

Revision ID: 0009_pages
Revises: 0008_report
Create Date: 2026-12-04

ix_items_open holds only open items (`WHERE final = 0`), and a statement must say `final =
0` to use it; SQLite 3.40 then fetched every item's table row just to read that `final`
again, so a county board's counts at 100,000 items read the whole table through the index.
With `final` as the index's last column the counts (and the weekly report's bands) are read
from the index alone. The rows it holds and their order are unchanged.
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_pages"
down_revision = "0008_report"
branch_labels = None
depends_on = None

OPEN_ITEM_COLUMNS = ["unit_path", "due_at", "original_due_at", "entered_at", "entry_no", "state",
                     "workflow_version_id", "workflow"]


def _open_index(columns: list[str]) -> None:
    op.create_index("ix_items_open", "items", columns,
                    sqlite_where=sa.text("final = 0"), postgresql_where=sa.text("final = false"))


def upgrade() -> None:
    op.drop_index("ix_items_open", table_name="items")
    _open_index([*OPEN_ITEM_COLUMNS, "final"])


def downgrade() -> None:
    op.drop_index("ix_items_open", table_name="items")
    _open_index(OPEN_ITEM_COLUMNS)
