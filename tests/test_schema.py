"""The migrations and the schema metadata agree: after `upgrade`, Alembic's autogenerate finds
nothing to change, on SQLite and on PostgreSQL (tables, columns, types, nullability, indexes,
unique constraints and foreign keys). This is what shows that a change to `models.py` left
the schema as the migrations made it, or that it needs a migration."""

from __future__ import annotations

from typing import Any

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from rectify.engine.store.db import open_engine, upgrade
from rectify.engine.store.models import metadata

TABLES = {"workflow_versions", "units", "people", "role_grants", "items", "history",
          "escalation_steps", "attachments", "outbox", "calendar_days", "leases", "extensions",
          "admin_log", "passwords", "api_tokens", "web_sessions", "login_attempts", "job_runs"}


def _diff(url: str) -> list[Any]:
    engine = open_engine(url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(conn, opts={"compare_type": True})
            return list(compare_metadata(context, metadata))
    finally:
        engine.dispose()


def test_metadata_names_every_table() -> None:
    """The schema metadata holds exactly the expected tables."""
    assert set(metadata.tables) == TABLES


def test_an_empty_database_differs(db_url: str) -> None:
    """The comparison does see the schema: before `upgrade` every table is missing."""
    added = {diff[1].name for diff in _diff(db_url) if diff[0] == "add_table"}
    assert added == TABLES


def test_migrated_database_matches_metadata(db_url: str) -> None:
    """A database built by the Alembic migrations matches the metadata, on SQLite and PostgreSQL."""
    engine = open_engine(db_url)
    upgrade(engine)
    engine.dispose()
    assert _diff(db_url) == []
