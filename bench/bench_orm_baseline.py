"""rectify's bulk action against the way `transitions` users are told to persist state.

The baseline is the idiom of the transitions README plus a SQLAlchemy ORM unit of work, written
as a competent user would: a declarative model whose `state` column is the machine's model
attribute, one `Machine(model=item, states=..., transitions=..., initial=item.state)` per
item (library defaults otherwise, so auto `to_<state>` triggers too), the role check as a
transition condition and the bookkeeping as an `after` callback on the model, the steps loaded
with `selectinload` (no N+1), the history rows added to the session,
optimistic locking with the mapper's `version_id_col`, items read 500 at a time (keyset on id)
and `session.commit()` per batch. The history rows are hashed with rectify's own row_hash, so
the baseline writes the same rows and the same hash chain as rectify (checked after every run:
identical chain heads), and the same PRAGMAs as rectify's engine are set on connect.
It updates only the columns that change (the ORM's way); rectify also rewrites the unchanged
`fields`, `due_provisional` and `due_override`. As observed on SQLite with SQLAlchemy 2.1, the
unit of work sends the items UPDATE one row per statement (version_id_col; without it the
UPDATEs are batched but the run is no faster) and the history INSERT one row per statement
(it wants the new primary keys back); the steps UPDATE is one executemany per batch.

Same database, items and checks as bench_bulk.py (10,000 items by default); each run in its own
process; the raw sqlite3 version of bench_bulk.py is run too, for scale.

Run: python bench/bench_orm_baseline.py [--items 10000] [--runs 3]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path
from typing import Any, ClassVar

from rectify.engine.core.audit import item_seal, row_hash
from rectify.engine.store.db import SQLITE_PRAGMAS
from sqlalchemy import JSON, DateTime, ForeignKey, String, create_engine, event, select, text
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    configure_mappers,
    mapped_column,
    object_session,
    relationship,
    selectinload,
)
from transitions import Machine

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import bench_bulk as bb  # noqa: E402  (this folder is not a package)

NOW = bb.NOW.replace(tzinfo=None)  # stored as naive UTC, as rectify stores times on SQLite
STATES = [bb.SOURCE, bb.DEST]
TRANSITIONS = [{"trigger": bb.TRIGGER, "source": bb.SOURCE, "dest": bb.DEST,
                "conditions": "has_role", "after": "record"}]
ALLOWED = frozenset(bb.ROLES)
# The roles the actor holds at a unit or above it (grants joined to unit paths).
ROLES_AT = text("select g.role from role_grants g join units u on u.id = g.unit_id "
                "where g.person_id = :p and substr(:path, 1, length(u.path)) = u.path")


class Base(DeclarativeBase):
    type_annotation_map: ClassVar = {dict[str, Any]: JSON, datetime: DateTime}


class Step(Base):
    __tablename__ = "escalation_steps"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    status: Mapped[str] = mapped_column(String(16))
    due_at: Mapped[datetime | None]


class Event(Base):
    __tablename__ = "history"
    id: Mapped[int] = mapped_column(primary_key=True)
    item_id: Mapped[int] = mapped_column(ForeignKey("items.id"))
    seq: Mapped[int]
    kind: Mapped[str]
    trigger: Mapped[str | None]
    source: Mapped[str | None]
    dest: Mapped[str | None]
    actor: Mapped[str]
    at: Mapped[datetime]
    comment: Mapped[str | None]
    data: Mapped[dict[str, Any]]
    prev_hash: Mapped[str]
    hash: Mapped[str]
    via: Mapped[str | None]
    seal: Mapped[str | None]


class Issue(Base):
    """The model: its `state` column is the attribute the per-item Machine moves."""

    __tablename__ = "items"
    id: Mapped[int] = mapped_column(primary_key=True)
    workflow: Mapped[str]
    workflow_version_id: Mapped[int]
    state: Mapped[str]
    unit_id: Mapped[str]
    unit_path: Mapped[str]
    assignee_id: Mapped[str | None]
    fields: Mapped[dict[str, Any]]
    counts: Mapped[dict[str, Any]]
    cycle_actors: Mapped[dict[str, Any]]
    entry_no: Mapped[int]
    entered_at: Mapped[datetime]
    due_at: Mapped[datetime | None]
    original_due_at: Mapped[datetime | None]
    final: Mapped[bool]
    closed_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column()
    last_seq: Mapped[int]
    last_hash: Mapped[str]
    steps: Mapped[list[Step]] = relationship()
    # UPDATE ... WHERE id = :id AND version = :as_read, setting version + 1
    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012

    def has_role(self, actor: str, roles: frozenset[str]) -> bool:
        """The transition's condition: the actor holds a role that may fire it."""
        return bool(roles & ALLOWED)

    def record(self, actor: str, roles: frozenset[str]) -> None:
        """The transition's `after` callback: history row, chain head, bookkeeping, steps."""
        seq = self.last_seq + 1
        # Since 0.2 every history row carries `via` and seals the item as the event leaves it.
        seal = item_seal({"workflow_version_id": self.workflow_version_id, "state": self.state,
                          "entry_no": self.entry_no + 1, "unit_id": self.unit_id,
                          "assignee_id": self.assignee_id, "due_at": None,
                          "fields": self.fields})
        row = {"item_id": self.id, "seq": seq, "kind": "transition", "trigger": bb.TRIGGER,
               "source": bb.SOURCE, "dest": self.state, "actor": actor, "at": bb.NOW,
               "comment": None, "data": {"changes": {}, "attachments": []}, "via": "cli",
               "seal": seal}
        h = row_hash(self.last_hash, row)
        # Added to the session directly: a write-only `history` relationship would do the same
        # but builds a query object on every access (about 0.3 ms an item here).
        session = object_session(self)
        assert session is not None
        session.add(Event(**{**row, "at": NOW, "prev_hash": self.last_hash, "hash": h}))
        counts = dict(self.counts)
        counts[bb.TRIGGER] = counts.get(bb.TRIGGER, 0) + 1
        actors = self.cycle_actors.get(bb.TRIGGER, [])
        self.counts = counts
        self.cycle_actors = {bb.TRIGGER: list(dict.fromkeys([*actors, actor]))}
        self.entry_no += 1
        self.entered_at = self.closed_at = NOW
        self.final, self.due_at, self.original_due_at = True, None, None
        self.last_seq, self.last_hash = seq, h
        for step in self.steps:
            if step.status == "pending":
                step.status, step.due_at = "cancelled", None


def child_orm(db: Path, batch: int = bb.BATCH) -> dict[str, Any]:
    """In a fresh process: mappers configured and a connection open, then the timed loop."""
    engine = create_engine(f"sqlite:///{db}")

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn: Any, _record: Any) -> None:  # the same PRAGMAs as rectify's
        for pragma in SQLITE_PRAGMAS:
            dbapi_conn.execute(f"pragma {pragma}")

    configure_mappers()
    with engine.connect() as conn:  # the pool keeps this connection
        conn.exec_driver_sql("select 1")
    roles_by_unit: dict[str, frozenset[str]] = {}

    def roles_at(session: Session, unit_path: str) -> frozenset[str]:
        found = roles_by_unit.get(unit_path)
        if found is None:
            rows = session.execute(ROLES_AT, {"p": bb.ACTOR, "path": unit_path}).scalars()
            found = roles_by_unit[unit_path] = frozenset(rows)
        return found

    fired = refused = last = 0
    start = time.perf_counter()
    with Session(engine) as session:
        while True:
            items = session.scalars(
                select(Issue).where(Issue.workflow == bb.WORKFLOW, Issue.state == bb.SOURCE,
                                    Issue.id > last)
                .order_by(Issue.id).limit(batch).options(selectinload(Issue.steps))).all()
            for item in items:
                Machine(model=item, states=STATES, transitions=TRANSITIONS, initial=item.state)
                # `finish` is the trigger method the Machine has just added to the item.
                finish = item.finish  # type: ignore[attr-defined]
                if finish(actor=bb.ACTOR, roles=roles_at(session, item.unit_path)):
                    fired += 1
                else:
                    refused += 1
            if items:
                last = items[-1].id
            session.commit()
            if len(items) < batch:
                break
    elapsed = time.perf_counter() - start
    engine.dispose()
    return {"seconds": elapsed, "fired": fired, "refused": refused, "rss_mb": bb.rss_mb()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)  # kind, db, shape
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child_orm(Path(args.child[1]))))
        return
    with tempfile.TemporaryDirectory() as tmp:
        template = bb.seeded(Path(tmp), args.items)
        scripts = {"ours": bb.__file__, "orm": __file__, "raw": bb.__file__}
        runs = bb.measure(scripts, template, args.items, args.runs)
    report(args.items, args.runs, runs)


def report(items: int, runs: int, results: dict[str, list[dict[str, Any]]]) -> None:
    secs = {k: bb.median(v, "seconds") for k, v in results.items()}
    print(f"bulk transitions vs the transitions-README + SQLAlchemy ORM idiom: {items:,} items, "
          f"median of {runs} run(s), each in its own process; same rows and hash chains checked")
    print(f"{'run':<38}{'seconds':>9}{'transitions/s':>15}{'peak MB':>9}{'time vs rectify':>17}")
    for name, kind in (("rectify bulk()", "ours"),
                       ("Machine per item + ORM unit of work", "orm"),
                       ("raw sqlite3, same work", "raw")):
        print(f"{name:<38}{secs[kind]:>9.2f}{items / secs[kind]:>15,.0f}"
              f"{bb.median(results[kind], 'rss_mb'):>9.0f}"
              f"{secs[kind] / secs['ours']:>16.2f}x")
    print(f"rectify bulk over the ORM idiom: {secs['orm'] / secs['ours']:.2f}x as fast "
          "(>1 means rectify is faster)")


if __name__ == "__main__":
    main()
