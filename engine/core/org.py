"""The org file: units as a tree and people with roles scoped to units (contract section 5).

Pure parsing and checking; `store/org.py` writes the result. Every problem is reported with its
line and column, all at once.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml

from .errors import InvalidInput, Problem, SourceLoc
from .i18n import _
from .yamlnodes import NodeReader, compose, did_you_mean

UNIT_KEYS = ("id", "name", "children")
PERSON_KEYS = ("id", "name", "email", "mobile", "roles", "admin")


@dataclass(frozen=True)
class UnitSpec:
    id: str
    name: str
    parent: str | None
    path: str  # "/county/town-a/": the ids from the root down, for ancestor and subtree queries


@dataclass(frozen=True)
class PersonSpec:
    id: str
    name: str
    email: str | None
    mobile: str | None
    roles: tuple[tuple[str, str], ...]  # (role, unit id)
    admin: bool = False  # may load org, workflows, calendars and migrate (contract section 6)


@dataclass(frozen=True)
class OrgSpec:
    units: tuple[UnitSpec, ...]
    people: tuple[PersonSpec, ...]


def ancestors(path: str) -> list[str]:
    """Unit ids from the unit itself up to the root: '/a/b/c/' -> ['c', 'b', 'a']."""
    return [p for p in path.strip("/").split("/") if p][::-1]


def parse_org(text: str, file: str) -> OrgSpec:
    r = NodeReader(file)
    root = compose(text, file)
    if root is None:
        raise InvalidInput([Problem(SourceLoc(file, 1, 1), _("empty org file"))], source=file)
    top = r.mapping(root, _("org file"), ("units", "people"), required=("units", "people"))
    units: list[UnitSpec] = []
    if "units" in top:
        _units(r, top["units"][1], None, "/", units)
    people = _people(r, top["people"][1], {u.id for u in units}) if "people" in top else []
    if r.problems:
        problems = sorted(r.problems, key=lambda p: (p.loc.line, p.loc.column))
        raise InvalidInput(problems, source=file)
    return OrgSpec(tuple(units), tuple(people))


def _units(r: NodeReader, node: yaml.Node, parent: str | None, path: str,
           out: list[UnitSpec]) -> None:
    if not isinstance(node, yaml.SequenceNode):
        r.error(node, _("units must be a list of units"))
        return
    for child in node.value:
        keys = r.mapping(child, _("unit"), UNIT_KEYS, required=("id", "name"))
        if "id" not in keys:
            continue
        uid = r.string(keys["id"][1], _("unit id")) or ""
        if any(u.id == uid for u in out):
            r.error(keys["id"][1], _("unit '{id}' is defined twice").format(id=uid))
            continue
        if "/" in uid or not uid.strip():
            r.error(keys["id"][1], _("unit id '{id}' must be non-empty and contain no '/'").format(
                id=uid))
        name = r.string(keys["name"][1], _("unit name")) if "name" in keys else uid
        unit = UnitSpec(uid, name or uid, parent, f"{path}{uid}/")
        out.append(unit)
        if "children" in keys:
            _units(r, keys["children"][1], uid, unit.path, out)


def _people(r: NodeReader, node: yaml.Node, unit_ids: set[str]) -> list[PersonSpec]:
    if not isinstance(node, yaml.SequenceNode):
        r.error(node, _("people must be a list of people"))
        return []
    people: dict[str, PersonSpec] = {}
    for child in node.value:
        keys = r.mapping(child, _("person"), PERSON_KEYS, required=("id", "name"))
        if "id" not in keys:
            continue
        pid = r.string(keys["id"][1], _("person id")) or ""
        if pid in people or pid == "system":
            r.error(keys["id"][1], _("person '{id}' is defined twice").format(id=pid)
                    if pid in people else _("'system' is reserved for the engine's own actions"))
            continue
        get = {k: r.string(v, k) for k, (_, v) in keys.items() if k in ("name", "email", "mobile")}
        roles = _roles(r, keys["roles"][1], unit_ids) if "roles" in keys else ()
        admin = r.boolean(keys["admin"][1], "admin") if "admin" in keys else False
        people[pid] = PersonSpec(pid, get.get("name") or pid, get.get("email"),
                                 get.get("mobile"), roles, admin)
    return list(people.values())


def _roles(r: NodeReader, node: yaml.Node, unit_ids: set[str]) -> tuple[tuple[str, str], ...]:
    """roles: {leader: town-a, inspector: [town-a, town-b]}."""
    grants = []
    for role, _key, value in r.entries(node, "roles"):
        for unit, loc in r.strings(value, _("role '{role}'").format(role=role)):
            if unit not in unit_ids:
                r.error(loc, _("role '{role}' is held at unknown unit '{unit}'{did_you_mean}")
                        .format(role=role, unit=unit, did_you_mean=did_you_mean(unit, unit_ids)))
            grants.append((role, unit))
    return tuple(grants)
