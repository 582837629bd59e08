"""Units and people as ledgers write them: by id, or by the name people use.

Spreadsheets say 张庄村 and 王五, not `village-a1` and `wang`. `UnitIndex` and `PersonIndex`
turn either into an id, refuse a name that fits several (two villages called 东村 in different
townships), and give back the shortest name that is unambiguous when exporting, so an exported
ledger imports again. Pure: built from rows the caller has read.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .errors import Ambiguous
from .i18n import _
from .org import ancestors

SEPARATOR = "/"


@dataclass(frozen=True)
class Named:
    """A unit or person: id and display name; `path` for units ('/county/town-a/')."""

    id: str
    name: str
    path: str = ""
    active: bool = True


class UnitIndex:
    """Units by id, by name, or by a tail of their chain of names: `大杨集镇/东村`."""

    def __init__(self, units: Iterable[Named]) -> None:
        self.by_id = {u.id: u for u in units}
        self._by_name: dict[str, list[Named]] = {}
        for unit in self.by_id.values():
            self._by_name.setdefault(unit.name.strip(), []).append(unit)
        self._chains = {u.id: [self.by_id[a].name.strip() if a in self.by_id else a
                               for a in ancestors(u.path)][::-1] for u in self.by_id.values()}

    def chain(self, unit: Named) -> list[str]:
        """Names from the root down to the unit."""
        return self._chains[unit.id]

    def resolve(self, text: str, context: Sequence[str] = ()) -> Named:
        """The unit an id, a name or a `上级/名称` path means; KeyError or Ambiguous otherwise.

        `context`: other unit names the row gives (its 乡镇): a name shared by several units
        means the one below a unit so named.
        """
        text = text.strip()
        if text in self.by_id:
            return self.by_id[text]
        parts = [p.strip() for p in text.split(SEPARATOR) if p.strip()]
        if not parts:
            raise KeyError(text)
        found = [u for u in self._by_name.get(parts[-1], [])
                 if self.chain(u)[-len(parts):] == parts]
        if not found:
            raise KeyError(text)
        if len(found) > 1 and context:
            above = [u for u in found if any(c.strip() in self.chain(u)[:-1] for c in context)]
            found = above or found
        if len(found) > 1:
            listed = ", ".join(f"{self.label(u)} ({u.id})" for u in found)
            raise Ambiguous(_("'{text}' fits {count} units: {listed}; write the unit above it "
                              "too, e.g. '{example}', or the unit id").format(
                                text=text, count=len(found), listed=listed,
                                example=self.label(found[0])))
        return found[0]

    def label(self, unit: Named) -> str:
        """The shortest `上级/…/名称` tail of the unit's names that names only this unit."""
        names = self.chain(unit)
        for size in range(1, len(names) + 1):
            tail = names[-size:]
            same = [u for u in self._by_name.get(unit.name.strip(), [])
                    if self.chain(u)[-size:] == tail]
            text = SEPARATOR.join(tail)
            if len(same) == 1 and self.by_id.get(text, unit) is unit:
                return text
        return unit.id  # two units with identical chains of names: only the id tells them apart


class PersonIndex:
    """People by id or by name; a name two people share must be given as an id."""

    def __init__(self, people: Iterable[Named]) -> None:
        self.by_id = {p.id: p for p in people}
        self._by_name: dict[str, list[Named]] = {}
        for person in self.by_id.values():
            self._by_name.setdefault(person.name.strip(), []).append(person)

    def resolve(self, text: str) -> Named:
        text = text.strip()
        if text in self.by_id:
            return self.by_id[text]
        found = self._by_name.get(text, [])
        active = [p for p in found if p.active]
        if len(active) > 1:
            ids = ", ".join(p.id for p in active)
            raise Ambiguous(_("'{text}' is the name of {count} people ({ids}); write the "
                              "person's id instead").format(text=text, count=len(active), ids=ids))
        if active or found:
            return (active or found)[0]
        raise KeyError(text)

    def label(self, person_id: str | None) -> str | None:
        """The name, or the id when the name is shared (so an export imports again)."""
        if person_id is None:
            return None
        person = self.by_id.get(person_id)
        if person is None:
            return person_id
        same = [p for p in self._by_name.get(person.name.strip(), []) if p.active]
        return person.name if len(same) <= 1 and person.name.strip() not in self.by_id \
            else person.id
