"""Admin commands need an admin (contract section 6): org load, workflow load and migrate,
calendar load. Each is checked and recorded in the admin log (its own hash chain) in the same
transaction as what it changes.

Until an org with an admin (`admin: true`) has been loaded, whoever holds the database
bootstraps: the check looks at the org as it was before the command, so a file cannot make
its loader an admin after the fact.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from ...engine.core.i18n import _
from ..core.calendar import parse_calendar_file
from ..core.errors import Refusal, Refused
from ..core.loader import load_workflow_file, read_text
from ..core.org import parse_org
from ..ledgers.formats import READERS
from ..ledgers.roster import Known, read_roster
from ..store import authority as grants
from ..store import repo
from ..store.db import read, write
from .service import Service

if TYPE_CHECKING:
    from sqlalchemy import Connection

T = TypeVar("T")


def require_admin(conn: Connection, actor_id: str | None, what: str) -> str:
    """Who acts, if they may run an admin command; Refused otherwise."""
    if not grants.any_admin(conn):
        return actor_id or "-"  # bootstrap: no admin yet, the database's holder acts
    if not actor_id:  # the holder must say which admin they are
        raise Refused(_("only an admin of the org file (admin: true) may {what}: say who you "
                        "are with --as PERSON (or RECTIFY_USER)").format(what=what),
                      reason=Refusal.ROLE)
    person = repo.person(conn, actor_id)
    if person is None or not person.active or not person.admin:
        who = person.name if person else actor_id
        raise Refused(_("{who} may not {what}: only an admin of the org file "
                        "(admin: true) may").format(who=who, what=what),
                      reason=Refusal.ROLE)
    return person.id


def _admin(service: Service, actor_id: str | None, action: str, what: str, target: str,
           digest: str, change: Callable[[Connection], T]) -> T:
    with write(service.engine) as conn:
        actor = require_admin(conn, actor_id, what)
        result = change(conn)
        grants.record_admin(conn, {"actor": actor, "os_user": service.os_user,
                                   "action": action, "target": target, "digest": digest,
                                   "at": service.clock.now()})
    return result


def file_digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def load_org(service: Service, path: Path, actor_id: str | None) -> repo.OrgChanges:
    """An org file in YAML, or a staff roster (花名册) in a spreadsheet (engine/ledgers/roster)."""
    if path.suffix.lower() in READERS:
        return _admin(service, actor_id, "org load", _("load the org file"), str(path),
                      file_digest(path), lambda conn: repo.load_org(
                          conn, read_roster(path, _known(service, conn))))
    org = parse_org(read_text(path), str(path))
    return _admin(service, actor_id, "org load", _("load the org file"), str(path),
                  file_digest(path), lambda conn: repo.load_org(conn, org))


def _known(service: Service, conn: Connection) -> Known:
    """Ids the database has (a roster keeps them) and the loaded workflows' role labels."""
    units = {u.id: u for u in repo.units(conn)}
    chains = {}
    for u in units.values():
        ids = [i for i in u.path.strip("/").split("/") if i]
        if all(i in units for i in ids):
            chains[tuple(units[i].name for i in ids)] = u.id
    people: dict[str, list[str]] = {}
    for p in repo.people(conn):
        people.setdefault(p.name, []).append(p.id)
    roles: dict[str, set[str]] = {}
    for version in repo.workflow_names(conn):
        spec = service.latest(conn, version.name).spec
        for name, label in spec.roles.items():
            roles.setdefault(label, set()).add(name)
    return Known(chains, people, roles)


def load_workflow(service: Service, path: Path,
                  actor_id: str | None) -> tuple[repo.VersionRow, bool]:
    spec = load_workflow_file(path, templates=partial(service.notices.template_names,
                                                      path.parent))
    service.notices.check_templates(spec, path.parent)
    source = path.read_text("utf-8")
    return _admin(service, actor_id, "workflow load", _("load workflows"), str(path),
                  file_digest(path),
                  lambda conn: repo.register_workflow(conn, spec.name, source, str(path),
                                                      service.clock.now()))


def load_calendar(service: Service, path: Path,
                  actor_id: str | None) -> tuple[list[int], int]:
    years = parse_calendar_file(read_text(path), str(path))
    _admin(service, actor_id, "calendar load", _("load calendar data"), str(path),
           file_digest(path), lambda conn: repo.load_calendar(conn, years))
    service._calendar = None
    from .deadlines import recompute_provisional

    return sorted(years), recompute_provisional(service)


def may_migrate(service: Service, actor_id: str | None) -> None:
    """Refused unless `actor_id` may run `workflow migrate` (read only: nothing is logged), so
    the command refuses before it prints its plan."""
    with read(service.engine) as conn:
        require_admin(conn, actor_id, _("migrate workflows"))


def allow_migration(service: Service, actor_id: str | None, name: str, to_version: int,
                    mappings: Any) -> None:
    """Check and record `workflow migrate` before it moves any item (its moves are each
    recorded in the item's own history)."""
    plan = f"{name} -> v{to_version} {sorted(dict(mappings or {}).items())}"
    _admin(service, actor_id, "workflow migrate", _("migrate workflows"), plan,
           hashlib.sha256(plan.encode()).hexdigest(), lambda conn: None)


def admin_log(service: Service) -> list[dict[str, Any]]:
    from ..store.integrity import admin_log as rows

    with read(service.engine) as conn:
        return rows(conn)
