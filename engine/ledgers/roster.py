"""The staff roster (花名册) as an org file: a sheet of 单位 / 姓名 / 角色 rows -> an OrgSpec.

Offices keep their people in a spreadsheet, one row per person and unit:

    单位                  姓名   角色                 账号    手机          管理员
    某县                  钱八   分管领导
    某县/大杨集镇          李四   督查人员
    某县/大杨集镇/张庄村    张三   整改责任人、验收人    zhang   13800000003

- 单位 is the unit's chain of names from the top, separated by `/`; every name on the way is a
  unit, so the tree comes from the rows themselves.
- A unit's id is the id it already has in the database at that chain of names (so switching
  from an org.yaml to a roster keeps every item where it is); a new unit's id is its chain
  joined by `-` (某县-大杨集镇-张庄村): readable, and the same at every load.
- A person's id is their 账号 (or 工号, 用户名); without one, the id of the one person of that
  name already in the database; else the name itself. The rows of one person (the same 账号,
  or the same name without 账号) add up their roles; two people of one name need 账号s.
- 角色 holds role labels as the loaded workflows write them (督查人员, 整改责任人) or role names
  (inspector), several separated by 、 , ; or spaces.

All or nothing: every bad row is named, and nothing is loaded while one is bad.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from ..core.errors import InvalidInput
from ..core.i18n import _, ngettext
from ..core.org import OrgSpec, PersonSpec, UnitSpec
from .cells import parse_bool, to_text
from .formats import read_sheet
from .headers import non_empty, normalize_header
from .rows import RowError

__all__ = ["Known", "read_roster"]

COLUMNS = {
    "unit": ("单位", "所在单位", "工作单位", "单位名称"),
    "name": ("姓名", "名字"),
    "roles": ("角色", "岗位", "职责"),
    "id": ("账号", "工号", "用户名", "编号", "id"),
    "mobile": ("手机", "手机号", "手机号码", "联系电话", "电话"),
    "email": ("邮箱", "电子邮箱", "email"),
    "admin": ("管理员", "admin"),
}
_SPLIT = re.compile(r"[、,，;；\s]+")
_SCAN = 30


@dataclass(frozen=True)
class Known:
    """What the database already has: unit ids by chain of names, person ids by name, and
    role names by label (from the loaded workflows)."""

    units: Mapping[tuple[str, ...], str] = field(default_factory=dict)
    people: Mapping[str, list[str]] = field(default_factory=dict)
    roles: Mapping[str, set[str]] = field(default_factory=dict)


def read_roster(path: Path, known: Known) -> OrgSpec:
    """The roster as an org; InvalidInput naming every bad row."""
    sheet = read_sheet(path)
    rows = list(sheet.rows)  # a roster is a few thousand people at most
    header = next((i for i, r in enumerate(rows[:_SCAN]) if non_empty(r) >= 2
                   and _columns(r).keys() >= {"unit", "name", "roles"}), None)
    if header is None:
        raise InvalidInput([_("{path}: no header row with 单位, 姓名 and 角色 found").format(
                               path=path)],
                           source=str(path))
    columns = _columns(rows[header])
    builder = _Builder(known)
    for index, cells in enumerate(rows[header + 1:], header + 2):
        values = {k: to_text(cells[i]).strip() if i < len(cells) and cells[i] is not None
                  else "" for k, i in columns.items()}
        if any(values.values()):
            builder.add(index, values)
    if builder.errors:
        bad = len({e.row for e in builder.errors})
        raise InvalidInput([f"{path.name}: {e}" for e in builder.errors] + [
            f"{path.name}: " + ngettext("{rows} row with errors; nothing was loaded",
                                        "{rows} rows with errors; nothing was loaded",
                                        bad).format(rows=bad)],
            source=str(path))
    return builder.org()


def _columns(row: Sequence[object]) -> dict[str, int]:
    found: dict[str, int] = {}
    for index, cell in enumerate(row):
        text = normalize_header(to_text(cell)) if cell is not None else ""
        for key, aliases in COLUMNS.items():
            if text in {normalize_header(a) for a in aliases}:
                found.setdefault(key, index)
    return found


class _Builder:
    def __init__(self, known: Known) -> None:
        self.known = known
        self.units: dict[tuple[str, ...], UnitSpec] = {}
        self.people: dict[str, dict[str, object]] = {}
        self.first_row: dict[str, int] = {}
        self.errors: list[RowError] = []

    def add(self, row: int, values: Mapping[str, str]) -> None:
        chain = tuple(p.strip() for p in values["unit"].replace("／", "/").split("/")
                      if p.strip())
        problems = []
        if not chain:
            problems.append(_("no 单位"))
        if not values["name"]:
            problems.append(_("no 姓名"))
        roles = [r for r in _SPLIT.split(values["roles"]) if r]
        names: set[str] = set()
        for role in roles:
            found = self.known.roles.get(role) or ({role} if re.fullmatch(r"\w+", role, re.A)
                                                   else None)
            if found is None:
                listing = "、".join(sorted(self.known.roles)) or _("(load the workflows first)")
                problems.append(_("角色 '{role}' is not a role of any loaded workflow; "
                                  "roles are: {roles}").format(role=role, roles=listing))
            else:
                names |= found
        admin = False
        if values.get("admin"):
            try:
                admin = parse_bool(values["admin"])
            except ValueError as exc:
                problems.append(str(exc))
        if problems:
            self.errors += [RowError(row, None, p) for p in problems]
            return
        unit = self._unit(chain)
        pid = values.get("id") or self._person_id(values["name"])
        person = self.people.setdefault(pid, {"name": values["name"], "roles": set(),
                                              "mobile": None, "email": None, "admin": False})
        if person["name"] != values["name"]:
            self.errors.append(RowError(row, None, _("账号 '{account}' is also {name} (row {row})")
                                        .format(account=pid, name=person["name"],
                                                row=self.first_row[pid])))
            return
        mobile = values.get("mobile")
        if mobile and person["mobile"] and mobile != person["mobile"]:
            self.errors.append(RowError(row, None, _(
                "{name} has another 手机 in row {row}: if they are two people, give each an 账号")
                .format(name=values["name"], row=self.first_row[pid])))
            return
        self.first_row.setdefault(pid, row)
        person["roles"] |= {(r, unit.id) for r in names}  # type: ignore[operator]
        for key in ("mobile", "email"):
            person[key] = values.get(key) or person[key]
        person["admin"] = bool(person["admin"]) or admin

    def _unit(self, chain: tuple[str, ...]) -> UnitSpec:
        for depth in range(1, len(chain) + 1):
            part = chain[:depth]
            if part not in self.units:
                parent = self.units.get(part[:-1])
                uid = self.known.units.get(part) or "-".join(part)
                self.units[part] = UnitSpec(uid, part[-1], parent.id if parent else None,
                                            f"{parent.path if parent else '/'}{uid}/")
        return self.units[chain]

    def _person_id(self, name: str) -> str:
        ids = self.known.people.get(name, [])
        return ids[0] if len(ids) == 1 else name

    def org(self) -> OrgSpec:
        people = tuple(
            PersonSpec(pid, str(p["name"]), p["email"], p["mobile"],  # type: ignore[arg-type]
                       tuple(sorted(p["roles"])), bool(p["admin"]))  # type: ignore[call-overload]
            for pid, p in self.people.items())
        return OrgSpec(tuple(self.units.values()), people)
