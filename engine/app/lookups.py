"""What an event's notices read — people, units, role holders — read by its use case before it
writes, in one go however many events there are. Notices then query nothing themselves
(notifications/notices.py); the store only stores what they made.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ..core.machine import Outcome
from ..core.spec import WorkflowSpec
from ..store import repo
from ..store.db import Connection

if TYPE_CHECKING:
    from ...notifications.notices import Wanted

Lookups = repo.Directory


def wanted() -> Wanted:
    """An empty list of what notices will read (notifications.notices.Wanted)."""
    # Imported here: `item show` and other reads never load the notices module.
    from ...notifications.notices import Wanted

    return Wanted()


def read(conn: Connection, what: Wanted) -> Lookups:
    """The people, units and role holders `what` names."""
    return repo.read_directory(conn, what.people, what.units, what.roles)


def for_transitions(conn: Connection, decided: Iterable[tuple[WorkflowSpec, Any, Outcome]]
                    ) -> Lookups | None:
    """What the notices of these decided transitions (spec, item, outcome) read; None when
    none of them tells anyone (most do not: then neither lookups nor notices are needed)."""
    telling = [d for d in decided if notifies(d[0], d[2])]
    if not telling:
        return None
    what = wanted()
    for spec, item, outcome in telling:
        what.transition(spec, item, outcome)
    return read(conn, what)


def notifies(spec: WorkflowSpec, outcome: Outcome) -> bool:
    """Whether a transition tells anyone: its own notice or its destination state's."""
    t, dest = outcome.transition, spec.states[outcome.dest]
    return bool((t.template and t.notify) or (dest.template and dest.notify))
