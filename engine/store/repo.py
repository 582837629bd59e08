"""Workflow versions, the org tree and role grants, calendar data, and leases.

Functions over a Connection; the service decides the transaction boundaries.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import Connection, and_, bindparam, delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError

from ..core.errors import NotFound
from ..core.org import OrgSpec, ancestors
from .models import CALENDAR_DAYS, LEASES, PEOPLE, ROLE_GRANTS, UNITS, WORKFLOW_VERSIONS
from .prepared import Prepared

VERSIONS = WORKFLOW_VERSIONS
GRANTS = ROLE_GRANTS
CALENDAR = CALENDAR_DAYS


@dataclass(frozen=True)
class VersionRow:
    id: int
    name: str
    version: int
    source: str
    sha256: str
    file: str
    loaded_at: datetime


def _version(row: Any) -> VersionRow:
    return VersionRow(**row._mapping)


def register_workflow(conn: Connection, name: str, source: str, file: str,
                      now: datetime) -> tuple[VersionRow, bool]:
    """(version, created): a new version only when the text differs from the newest one."""
    digest = hashlib.sha256(source.encode("utf-8")).hexdigest()
    latest = latest_workflow(conn, name, missing_ok=True)
    if latest is not None and latest.sha256 == digest:
        return latest, False
    number = 1 if latest is None else latest.version + 1
    conn.execute(insert(VERSIONS).values(name=name, version=number, source=source,
                                         sha256=digest, file=file, loaded_at=now))
    return workflow_version(conn, name, number), True


def latest_workflow(conn: Connection, name: str, *, missing_ok: bool = False) -> VersionRow | None:
    row = conn.execute(select(VERSIONS).where(VERSIONS.c.name == name)
                       .order_by(VERSIONS.c.version.desc()).limit(1)).first()
    if row is None and not missing_ok:
        raise NotFound("workflow", name)
    return _version(row) if row else None


def workflow_version(conn: Connection, name: str, version: int) -> VersionRow:
    row = conn.execute(select(VERSIONS).where(and_(VERSIONS.c.name == name,
                                                   VERSIONS.c.version == version))).first()
    if row is None:
        raise NotFound("workflow version", f"{name} v{version}")
    return _version(row)


def workflow_by_id(conn: Connection, version_id: int) -> VersionRow:
    row = conn.execute(select(VERSIONS).where(VERSIONS.c.id == version_id)).first()
    if row is None:
        raise NotFound("workflow version", version_id)
    return _version(row)


def version_ids(conn: Connection, name: str | None = None) -> list[int]:
    """The row ids of every loaded workflow version (of workflow `name` only, if given)."""
    query = select(VERSIONS.c.id).order_by(VERSIONS.c.id)
    return list(conn.execute(query if name is None else query.where(VERSIONS.c.name == name))
                .scalars())


def workflow_ids(conn: Connection) -> list[str]:
    """The ids of the loaded workflows (no sources read)."""
    return list(conn.execute(select(VERSIONS.c.name).distinct()).scalars())


def workflow_names(conn: Connection) -> list[VersionRow]:
    newest = (select(VERSIONS.c.name, func.max(VERSIONS.c.version).label("v"))
              .group_by(VERSIONS.c.name).subquery())
    rows = conn.execute(select(VERSIONS).join(newest, and_(VERSIONS.c.name == newest.c.name,
                                                           VERSIONS.c.version == newest.c.v))
                        .order_by(VERSIONS.c.name))
    return [_version(r) for r in rows]


# --- org ---------------------------------------------------------------------------------------

@dataclass(frozen=True)
class OrgChanges:
    units: int
    people: int
    grants_added: int
    grants_removed: int

    @property
    def changed(self) -> bool:
        return any((self.units, self.people, self.grants_added, self.grants_removed))


def load_org(conn: Connection, org: OrgSpec) -> OrgChanges:
    """Make the database match the file. People who left keep their history but cannot act."""
    units = _upsert(conn, UNITS, {u.id: {"name": u.name, "parent_id": u.parent, "path": u.path}
                                  for u in _parents_first(org)})
    people = _upsert(conn, PEOPLE, {p.id: {"name": p.name, "email": p.email,
                                           "mobile": p.mobile, "active": True,
                                           "admin": p.admin}
                                    for p in org.people})
    listed = {p.id for p in org.people}
    gone = conn.execute(update(PEOPLE).where(and_(PEOPLE.c.id.not_in(listed),
                                                  PEOPLE.c.active.is_(True)))
                        .values(active=False)).rowcount
    wanted = {(p.id, role, unit) for p in org.people for role, unit in p.roles}
    have = {tuple(r) for r in conn.execute(select(GRANTS.c.person_id, GRANTS.c.role,
                                                  GRANTS.c.unit_id))}
    for person, role, unit in have - wanted:
        conn.execute(delete(GRANTS).where(and_(GRANTS.c.person_id == person,
                                               GRANTS.c.role == role, GRANTS.c.unit_id == unit)))
    if wanted - have:
        conn.execute(insert(GRANTS), [{"person_id": p, "role": r, "unit_id": u}
                                      for p, r, u in sorted(wanted - have)])
    return OrgChanges(units, people + gone, len(wanted - have), len(have - wanted))


def _parents_first(org: OrgSpec) -> list[Any]:
    return sorted(org.units, key=lambda u: u.path.count("/"))


def _upsert(conn: Connection, table: Any, wanted: Mapping[str, Mapping[str, Any]]) -> int:
    """Insert or update rows by id; returns how many changed."""
    have = {r.id: dict(r._mapping) for r in conn.execute(select(table))}
    changed = 0
    for key, values in wanted.items():
        current = have.get(key)
        if current is None:
            conn.execute(insert(table).values(id=key, **values))
            changed += 1
        elif any(current[k] != v for k, v in values.items()):
            conn.execute(update(table).where(table.c.id == key).values(**values))
            changed += 1
    return changed


@dataclass(frozen=True)
class PersonRow:
    id: str
    name: str
    email: str | None
    mobile: str | None
    active: bool
    admin: bool = False


def person(conn: Connection, person_id: str) -> PersonRow | None:
    row = conn.execute(_PERSON, {"person": person_id}).first()
    return PersonRow(**row._mapping) if row else None


def people_by(conn: Connection, ids: set[str]) -> dict[str, PersonRow]:
    # PERSON_COLUMNS: what every PersonRow read elsewhere is made of (admin is asked apart)
    return {r.id: PersonRow(**r._mapping) for chunk in _chunks(ids)
            for r in conn.execute(select(*PERSON_COLUMNS).where(PEOPLE.c.id.in_(chunk)))}


def people(conn: Connection) -> list[PersonRow]:
    """Everyone in the org, including those who left (their names still label old items)."""
    return [PersonRow(**r._mapping) for r in conn.execute(select(*PERSON_COLUMNS))]


@dataclass(frozen=True)
class UnitRow:
    id: str
    name: str
    parent_id: str | None
    path: str


def unit(conn: Connection, unit_id: str) -> UnitRow:
    row = conn.execute(_UNIT, {"unit": unit_id}).first()
    if row is None:
        raise NotFound("unit", unit_id)
    return UnitRow(**row._mapping)


def units(conn: Connection) -> list[UnitRow]:
    return [UnitRow(**r._mapping) for r in conn.execute(select(UNITS).order_by(UNITS.c.path))]


_PERSON = select(*PEOPLE.c).where(PEOPLE.c.id == bindparam("person"))
_UNIT = select(UNITS).where(UNITS.c.id == bindparam("unit"))


def grants_at(person: Any, path: Any) -> Any:
    """The join to a person's role grants at the unit with `path` or above: a unit is an
    ancestor when its path ('/a/b/') begins the item's path ('/a/b/c/')."""
    return (GRANTS.join(UNITS, UNITS.c.id == GRANTS.c.unit_id),
            and_(GRANTS.c.person_id == person,
                 func.substr(path, 1, func.length(UNITS.c.path)) == UNITS.c.path))


PERSON_COLUMNS = (PEOPLE.c.id, PEOPLE.c.name, PEOPLE.c.email, PEOPLE.c.mobile, PEOPLE.c.active)
_PERSON_WITH_ROLES = Prepared(
    select(*PERSON_COLUMNS, GRANTS.c.role)
    .select_from(PEOPLE.outerjoin(*grants_at(PEOPLE.c.id, bindparam("path"))))
    .where(PEOPLE.c.id == bindparam("person")))


def person_with_roles(conn: Connection, person_id: str,
                      unit_path: str) -> tuple[PersonRow | None, frozenset[str]]:
    """A person and the roles they hold at the unit or above, in one query."""
    return person_and_roles(_PERSON_WITH_ROLES.rows(conn, {"person": person_id,
                                                           "path": unit_path}))


def person_and_roles(rows: list[tuple[Any, ...]]) -> tuple[PersonRow | None, frozenset[str]]:
    """From rows ending (PERSON_COLUMNS..., role), as the queries above return them."""
    first = len(PERSON_COLUMNS) + 1  # counted from the end
    if not rows or rows[0][-first] is None:
        return None, frozenset()
    return PersonRow(*rows[0][-first:-1]), frozenset(r[-1] for r in rows if r[-1])


def holders(conn: Connection, role: str, unit_path: str) -> list[PersonRow]:
    """The nearest holders of `role` at the unit or, failing that, the closest unit above."""
    chain = ancestors(unit_path)
    rows = conn.execute(
        select(PEOPLE, GRANTS.c.unit_id).join(GRANTS, GRANTS.c.person_id == PEOPLE.c.id)
        .where(and_(GRANTS.c.role == role, GRANTS.c.unit_id.in_(chain),
                    PEOPLE.c.active.is_(True)))
    ).all()
    if not rows:
        return []
    nearest = min(chain.index(r.unit_id) for r in rows)
    return [PersonRow(r.id, r.name, r.email, r.mobile, r.active)
            for r in sorted(rows, key=lambda r: r.id) if chain.index(r.unit_id) == nearest]


class Directory:
    """People, units and role holders, as a use case read them (`read_directory`) before it
    writes: what notices are addressed and filled in from, without a query of their own inside
    the event's transaction. Asking for something that was not read is a bug: LookupError.
    """

    def __init__(self, people: Mapping[str, PersonRow | None], units: Mapping[str, UnitRow],
                 holders: Mapping[tuple[str, str], list[PersonRow]]) -> None:
        self._people, self._units, self._holders = people, units, holders
        # Answers derived from the above by callers (a notice's recipients), equally stable.
        self.derived: dict[Any, Any] = {}

    def person(self, person_id: str) -> PersonRow | None:
        try:
            return self._people[person_id]
        except KeyError:
            raise LookupError(f"person {person_id!r} was not read for this event") from None

    def unit(self, unit_id: str) -> UnitRow:
        try:
            return self._units[unit_id]
        except KeyError:
            raise LookupError(f"unit {unit_id!r} was not read for this event") from None

    def holders(self, role: str, unit_path: str) -> list[PersonRow]:
        try:
            return self._holders[(role, unit_path)]
        except KeyError:
            raise LookupError(f"holders of {role!r} at {unit_path!r} were not read for this "
                              "event") from None


def read_directory(conn: Connection, people: Iterable[str] = (), units: Iterable[str] = (),
                   roles: Iterable[tuple[str, str]] = ()) -> Directory:
    """The people (None for an id that is nobody), units and the nearest holders of each
    (role, unit path) asked for, in at most three queries however many there are."""
    wanted = set(people)
    found = {pid: None for pid in wanted} | people_by(conn, wanted)
    unit_rows = {u.id: u for chunk in _chunks(set(units)) for u in (
        UnitRow(**r._mapping) for r in conn.execute(select(UNITS).where(UNITS.c.id.in_(chunk))))}
    return Directory(found, unit_rows, _holders(conn, set(roles)))


def _holders(conn: Connection, pairs: set[tuple[str, str]]
             ) -> dict[tuple[str, str], list[PersonRow]]:
    """`holders` for many (role, unit path) pairs: one query for all their grants."""
    if not pairs:
        return {}
    chains = {path: ancestors(path) for _, path in pairs}
    names = sorted({role for role, _ in pairs})
    at: dict[tuple[str, str], list[PersonRow]] = {}
    for chunk in _chunks(set().union(*chains.values())):
        for r in conn.execute(
                select(PEOPLE, GRANTS.c.unit_id, GRANTS.c.role)
                .join(GRANTS, GRANTS.c.person_id == PEOPLE.c.id)
                .where(and_(GRANTS.c.role.in_(names), GRANTS.c.unit_id.in_(chunk),
                            PEOPLE.c.active.is_(True)))):
            at.setdefault((r.role, r.unit_id), []).append(
                PersonRow(r.id, r.name, r.email, r.mobile, r.active))
    out = {}
    for role, path in pairs:  # the nearest unit up the chain where someone holds the role
        nearest = next((at[(role, u)] for u in chains[path] if (role, u) in at), [])
        out[(role, path)] = sorted(nearest, key=lambda p: p.id)
    return out


def _chunks(values: set[str], size: int = 900) -> list[list[str]]:
    """Sorted, in lists under SQLite's bound-parameter limit."""
    ordered = sorted(values)
    return [ordered[i:i + size] for i in range(0, len(ordered), size)]


# --- calendar and leases -----------------------------------------------------------------------

def calendar_overrides(conn: Connection) -> dict[int, dict[date, bool]]:
    out: dict[int, dict[date, bool]] = {}
    for row in conn.execute(select(CALENDAR)):
        out.setdefault(row.year, {})[row.day] = row.workday
    return out


def load_calendar(conn: Connection, years: Mapping[int, Mapping[date, bool]]) -> int:
    """Replace the listed years' data; returns how many days were written."""
    for year in years:
        conn.execute(delete(CALENDAR).where(CALENDAR.c.year == year))
    rows = [{"day": d, "year": y, "workday": w} for y, days in years.items()
            for d, w in days.items()]
    if rows:
        conn.execute(insert(CALENDAR), rows)
    for year, days in years.items():
        if not days:  # a covered year with no exceptions still needs a marker row
            conn.execute(insert(CALENDAR).values(day=date(year, 1, 1), year=year,
                                                 workday=date(year, 1, 1).weekday() < 5))
    return len(rows)


def take_lease(conn: Connection, name: str, holder: str, now: datetime,
               until: datetime) -> bool:
    """Take or renew the lease if free, lapsed or ours. True if we hold it now."""
    renewed = conn.execute(update(LEASES).where(and_(
        LEASES.c.name == name, (LEASES.c.holder == holder) | (LEASES.c.expires_at < now)))
        .values(holder=holder, expires_at=until)).rowcount
    if renewed:
        return True
    try:
        with conn.begin_nested():
            conn.execute(insert(LEASES).values(name=name, holder=holder, expires_at=until))
    except IntegrityError:
        return False
    return True


def release_lease(conn: Connection, name: str, holder: str) -> None:
    conn.execute(delete(LEASES).where(and_(LEASES.c.name == name, LEASES.c.holder == holder)))
