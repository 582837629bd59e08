"""Units, people, workflows and states as people type them, for every command that takes them.

Staff write `--unit 张庄村`, `--assignee 王五`, `--state 整改中`, `--workflow 问题整改闭环`; scripts
write ids. `Names` reads the org and the newest version of each workflow once and turns either
into an id, with the same `UnitIndex`/`PersonIndex` the ledger import uses. A name that fits
several is `Ambiguous` (the candidates listed, exit 2); one that fits nothing is `NotFound` with
the nearest names (exit 4), so a typo in a filter is never a silent "0 items".
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from functools import cached_property
from typing import Literal

from ..core.errors import Ambiguous, NotFound, UnknownActor
from ..core.i18n import _
from ..core.machine import SYSTEM_ACTOR
from ..core.names import Named, PersonIndex, UnitIndex
from ..core.spec import WorkflowSpec
from ..store import repo
from ..store.db import read
from ..store.reads import ItemFilter
from .runtime import Store
from .service import Service

__all__ = ["Names", "acting_person"]


def _close(text: str, choices: Iterable[str]) -> list[str]:
    return difflib.get_close_matches(text, sorted(set(choices)), n=3, cutoff=0.6)


class Names:
    """The org's units and people and the workflows' states, by id or by name. Each part is
    read when first asked for: a command that names no state never compiles a workflow."""

    def __init__(self, service: Service) -> None:
        self.service = service

    @classmethod
    def read(cls, service: Service) -> Names:
        return cls(service)

    @cached_property
    def _org(self) -> tuple[UnitIndex, PersonIndex]:
        with read(self.service.engine) as conn:
            units = [Named(u.id, u.name, u.path) for u in repo.units(conn)]
            people = [Named(p.id, p.name, active=p.active) for p in repo.people(conn)]
        return UnitIndex(units), PersonIndex(people)

    @property
    def units(self) -> UnitIndex:
        return self._org[0]

    @property
    def people(self) -> PersonIndex:
        return self._org[1]

    @cached_property
    def workflows(self) -> dict[str, WorkflowSpec]:
        """The newest version of each workflow, by workflow id."""
        with read(self.service.engine) as conn:
            return {v.name: self.service.compiled(conn, v.id).spec
                    for v in repo.workflow_names(conn)}

    def unit(self, text: str) -> str:
        """A unit's id from its id, name or `上级/名称`."""
        try:
            return self.units.resolve(text).id
        except KeyError:
            known = [*self.units.by_id, *(u.name for u in self.units.by_id.values())]
            raise NotFound("unit", text, close=_close(text.strip(), known)) from None

    def person(self, text: str) -> str:
        """A person's id from their id or name."""
        try:
            return self.people.resolve(text).id
        except KeyError:
            known = [*self.people.by_id, *(p.name for p in self.people.by_id.values())]
            raise NotFound("person", text, close=_close(text.strip(), known)) from None

    def workflow(self, text: str) -> str:
        """A workflow's id from its id or title (问题整改闭环)."""
        text = text.strip()
        if text in self._workflow_ids:  # the common case: no workflow compiled to say so
            return text
        titled = [n for n, s in self.workflows.items() if s.title.strip() == text]
        if len(titled) > 1:
            raise Ambiguous(_("'{text}' is the title of {count} workflows ({ids}); write the "
                              "workflow's id instead").format(text=text, count=len(titled),
                                                              ids=", ".join(titled)))
        if titled:
            return titled[0]
        known = [*self.workflows, *(s.title for s in self.workflows.values())]
        raise NotFound("workflow", text, close=_close(text, known))

    @cached_property
    def _workflow_ids(self) -> set[str]:
        with read(self.service.engine) as conn:
            return set(repo.workflow_ids(conn))

    def state(self, text: str, workflow: str | None = None) -> str:
        """A state's id from its id or label, in `workflow` or in any loaded workflow."""
        text = text.strip()
        specs = {workflow: self.workflows[workflow]} if workflow else self.workflows
        if any(text in s.states for s in specs.values()):
            return text
        found = {(n, state) for n, s in specs.items() for state, st in s.states.items()
                 if st.label.strip() == text}
        if len({state for _, state in found}) > 1:
            listed = ", ".join(_("{state} in {workflow}").format(state=state, workflow=n)
                               for n, state in sorted(found))
            raise Ambiguous(_("state '{text}' means {listed}; add --workflow, or give the "
                              "state's id").format(text=text, listed=listed))
        if found:
            return found.pop()[1]
        known = [k for s in specs.values() for n, st in s.states.items() for k in (n, st.label)]
        raise NotFound("state", text, close=_close(text, known))  # `known`: of --workflow's

    def optional(self, kind: Literal["unit", "person", "workflow"],
                 text: str | None) -> str | None:
        """An option that may be left out: None stays None, anything else is resolved."""
        if text is None:
            return None
        return {"unit": self.unit, "person": self.person, "workflow": self.workflow}[kind](text)

    def item_filter(self, *, state: str | None = None, unit: str | None = None,
                    assignee: str | None = None, workflow: str | None = None,
                    overdue: bool = False) -> ItemFilter:
        """The filters `item list`, `bulk` and `sample` take, names turned into ids."""
        wf = self.workflow(workflow) if workflow else None
        return ItemFilter(state=self.state(state, wf) if state else None,
                          unit=self.unit(unit) if unit else None,
                          assignee=self.person(assignee) if assignee else None,
                          workflow=wf, overdue=overdue)

    def unit_name(self, unit_id: str | None) -> str | None:
        unit = self.units.by_id.get(unit_id or "")
        return unit.name if unit else unit_id

    def person_name(self, person_id: str | None) -> str | None:
        person = self.people.by_id.get(person_id or "")
        return person.name if person else person_id


def acting_person(service: Service | Store, text: str) -> str:
    """`--as`: a person id as it is (one indexed read), else the id of the person so named.
    Nobody of that id or name is refused here, for every command, with the nearest names: a
    typo in `--as` must not read as "0 items" in `item list`. (Exit 3, as the use cases refuse
    an actor they do not know; the engine's own 'system' is left for them to refuse.)"""
    with read(service.engine) as conn:
        if text == SYSTEM_ACTOR.id or repo.person(conn, text) is not None:
            return text
        people = PersonIndex(Named(p.id, p.name, active=p.active) for p in repo.people(conn))
    try:
        return people.resolve(text).id
    except KeyError:
        known = [*people.by_id, *(p.name for p in people.by_id.values())]
        raise UnknownActor(text, _close(text.strip(), known)) from None

