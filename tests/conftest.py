"""Shared fixtures: real databases (a SQLite file per test, a fresh PostgreSQL schema per test),
a fixed clock, and a service with the sample org and the bundled rectification workflow."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from rectify.engine.app.service import Service
from rectify.engine.core.clock import FixedClock
from rectify.engine.store.db import open_engine, upgrade
from rectify.workflows import HERE as WORKFLOWS
from sqlalchemy import create_engine, text

FIXTURES = Path(__file__).parent / "fixtures"
PG_URL = os.environ.get("RECTIFY_TEST_PG", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
START = datetime(2025, 9, 26, 2, 0, tzinfo=UTC)  # Friday 10:00 in Beijing


# The tests read English messages: whatever locale the machine running them has, commands run in
# this process and the ones it starts speak English unless a test asks for Chinese (--lang zh or
# its own LANG). tests/test_i18n.py checks the Chinese.
for _name in ("LC_ALL", "LC_MESSAGES", "LANGUAGE"):
    os.environ.pop(_name, None)
os.environ["LANG"] = "C.UTF-8"


def _pg_available() -> bool:
    try:
        with create_engine(PG_URL).connect() as conn:
            conn.execute(text("select 1"))
        return True
    except Exception:
        return False


@pytest.fixture(scope="session")
def pg_ok() -> bool:
    ok = _pg_available()
    if not ok and os.environ.get("CI"):
        pytest.fail(f"PostgreSQL is required in CI but {PG_URL} does not answer")
    return ok


@pytest.fixture
def pg_url(pg_ok: bool) -> Iterator[str]:
    """A PostgreSQL URL whose search_path is a new, empty schema (dropped afterwards)."""
    if not pg_ok:
        pytest.skip(f"PostgreSQL not reachable at {PG_URL}")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f"create schema {schema}"))
    yield f"{PG_URL}?options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f"drop schema {schema} cascade"))
    admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Each store test runs on both backends."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'rectify.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture
def clock() -> FixedClock:
    return FixedClock(START)


def make_service(url: str, clock: FixedClock, tmp_path: Path) -> Service:
    engine = open_engine(url)
    upgrade(engine)
    service = Service(engine, clock, files_dir=tmp_path / "files")
    service.load_org(FIXTURES / "org.yaml")
    service.load_workflow(WORKFLOWS / "rectification.yaml")
    return service


@pytest.fixture
def service(db_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    svc = make_service(db_url, clock, tmp_path)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def pg_service(pg_url: str, clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    """A service on a fresh PostgreSQL schema (for tests about PostgreSQL itself)."""
    svc = make_service(pg_url, clock, tmp_path)
    yield svc
    svc.engine.dispose()


@pytest.fixture
def sqlite_service(clock: FixedClock, tmp_path: Path) -> Iterator[Service]:
    svc = make_service(f"sqlite:///{tmp_path / 'rectify.db'}", clock, tmp_path)
    yield svc
    svc.engine.dispose()
