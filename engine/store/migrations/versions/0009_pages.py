"""pages: a board's counts and the home page's first items read indexes alone

Revision ID: 0009_pages
Revises: 0008_report
Create Date: 2026-12-04

ix_items_open holds only open items (`WHERE final = 0`), and a statement must say `final =
0` to use it; SQLite 3.40 then fetched every item's table row just to read that `final`
again, so a county board's counts at 100,000 items read the whole table through the index.
With `final` as the index's last column the counts (and the weekly report's bands) are read
from the index alone. The rows it holds and their order are unchanged.

The home page lists a person's open items and those waiting for their roles, nearest deadline
first, a page at a time: two partial indexes give those orders (by assignee; by workflow and
state, with the unit path to test), so it reads a page of entries instead of sorting every
candidate (a county leader's are every open item of the county).
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_pages"
down_revision = "0008_report"
branch_labels = None
depends_on = None

OPEN_ITEM_COLUMNS = ["unit_path", "due_at", "original_due_at", "entered_at", "entry_no", "state",
                     "workflow_version_id", "workflow"]

PAGE_INDEXES = (
    ("ix_items_open_assignee", ["assignee_id", "due_at", "id", "final"]),
    ("ix_items_open_state", ["workflow", "state", "due_at", "id", "unit_path", "final"]),
)


def _open_index(columns: list[str], name: str = "ix_items_open") -> None:
    op.create_index(name, "items", columns,
                    sqlite_where=sa.text("final = 0"), postgresql_where=sa.text("final = false"))


def upgrade() -> None:
    op.drop_index("ix_items_open", table_name="items")
    _open_index([*OPEN_ITEM_COLUMNS, "final"])
    for name, columns in PAGE_INDEXES:
        _open_index(columns, name)


def downgrade() -> None:
    for name, _ in reversed(PAGE_INDEXES):
        op.drop_index(name, table_name="items")
    op.drop_index("ix_items_open", table_name="items")
    _open_index(OPEN_ITEM_COLUMNS)
