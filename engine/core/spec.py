"""The validated, immutable form of a workflow definition.

Built only by `loader.py`; read by everything else. Every node keeps the place in the YAML it
came from, so a later check can still point the admin at the right line.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Literal

from .errors import SourceLoc
from .i18n import _, ngettext

DurationUnit = Literal["workdays", "days", "hours"]
FIELD_TYPES = ("text", "number", "date", "bool", "choice", "files")
NOTIFY_KEYWORDS = ("assignee", "creator")

# About ten years: longer is a typo (or an attack) that would overflow date arithmetic.
_DURATION_MAX = {"workday": 2_500, "day": 3_660, "hour": 87_840}
_DURATION = re.compile(r"^\s*([+-]?\d+)\s*(workdays?|days?|hours?)?\s*$")


@dataclass(frozen=True)
class Duration:
    """A signed span: N workdays, N days or N hours. Zero means "the deadline itself"."""

    amount: int
    unit: DurationUnit = "days"

    @classmethod
    def parse(cls, value: object) -> Duration:
        """Parse `10 workdays`, `-2 workdays`, `3 days`, `48 hours` or `0`; ValueError otherwise."""
        if isinstance(value, bool):
            raise ValueError(_("expected a duration such as '10 workdays', got {value!r}")
                             .format(value=value))
        match = _DURATION.match(str(value))
        if not match:
            raise ValueError(_("expected a duration such as '10 workdays', '3 days' or "
                               "'48 hours', got {value!r}").format(value=value))
        amount, unit = int(match.group(1)), match.group(2)
        if unit is not None and abs(amount) > _DURATION_MAX[unit.rstrip("s")]:  # issue 18
            raise ValueError(_("duration {value!r} is longer than {limit} {unit}s").format(
                value=value, limit=_DURATION_MAX[unit.rstrip("s")], unit=unit.rstrip("s")))
        if unit is None:
            if amount != 0:
                raise ValueError(_("duration {value!r} needs a unit: workdays, days or hours")
                                 .format(value=value))
            return cls(0, "days")
        return cls(amount, unit.rstrip("s") + "s")  # type: ignore[arg-type]

    def __str__(self) -> str:
        return "0" if self.amount == 0 else f"{self.amount} {self.unit}"

    def words(self) -> str:
        """The span in the reader's words, without its sign: 1 workday, 10 workdays (10 个工作日).
        `str()` stays the YAML's own form, which `--json` prints."""
        n = abs(self.amount)
        if self.unit == "workdays":
            text = ngettext("{n} workday", "{n} workdays", n)
        elif self.unit == "days":
            text = ngettext("{n} day", "{n} days", n)
        else:
            text = ngettext("{n} hour", "{n} hours", n)
        return text.format(n=n)


@dataclass(frozen=True)
class FieldSpec:
    name: str
    type: str
    label: str
    loc: SourceLoc
    choices: tuple[str, ...] = ()
    private: bool = False
    editable_by: tuple[str, ...] | None = None  # roles that may set it; None: anyone
    mask: str | None = None  # how it is posted in public: name | id_card | phone (masking.py)


@dataclass(frozen=True)
class EscalationStep:
    """One rung of a state's ladder; `at` is relative to the item's deadline in that state."""

    index: int
    at: Duration
    loc: SourceLoc
    notify: tuple[str, ...] = ()
    template: str | None = None
    level: str | None = None
    fire: str | None = None

    @property
    def action(self) -> str:
        """A short word for reports: what this step does."""
        if self.fire:
            return f"fire:{self.fire}"
        return self.level or self.template or "notify"


@dataclass(frozen=True)
class StateSpec:
    name: str
    label: str
    loc: SourceLoc
    final: bool = False
    deadline: Duration | None = None
    escalate: tuple[EscalationStep, ...] = ()
    template: str | None = None  # sent to `notify` on entry (public-notice start, ...)
    notify: tuple[str, ...] = ()
    public: bool = False  # a public-notice state: its notices must never carry private fields

    @property
    def is_timer(self) -> bool:
        return self.deadline is not None and any(
            s.fire and s.at.amount == 0 for s in self.escalate
        )


@dataclass(frozen=True)
class TransitionSpec:
    """One declared edge. Several edges may share a trigger and a source; the first allowed wins."""

    index: int
    trigger: str
    sources: tuple[str, ...]
    dest: str
    loc: SourceLoc
    key_locs: Mapping[str, SourceLoc] = field(default_factory=lambda: MappingProxyType({}))
    roles: tuple[str, ...] = ()
    actor: str | None = None  # "assignee": only the item's assignee may fire it
    not_actor_of: str | None = None
    requires: tuple[str, ...] = ()
    comment_required: bool = False
    when: str | None = None
    notify: tuple[str, ...] = ()
    template: str | None = None
    label: str | None = None
    sets: tuple[str, ...] | None = None  # the fields it may set (with `requires`); None: any
    countersign: str | int | None = None  # 会签: "all", "majority" or a number of signers

    def at(self, key: str) -> SourceLoc:
        return self.key_locs.get(key, self.loc)

    @property
    def settable(self) -> frozenset[str] | None:
        """The fields this transition may set, or None when it names none (`sets` absent)."""
        return None if self.sets is None else frozenset((*self.sets, *self.requires))


@dataclass(frozen=True)
class ExtensionSpec:
    """延期申请: where the assignee may ask for more time, who decides, how often, how much."""

    states: tuple[str, ...]
    approvers: tuple[str, ...]
    loc: SourceLoc
    max: int = 1
    limit: Duration | None = None


@dataclass(frozen=True)
class WorkflowSpec:
    name: str
    title: str
    timezone: str
    calendar: str
    initial: str
    fields: Mapping[str, FieldSpec]
    roles: Mapping[str, str]
    states: Mapping[str, StateSpec]
    transitions: tuple[TransitionSpec, ...]
    file: str
    loc: SourceLoc
    key_locs: Mapping[str, SourceLoc] = field(default_factory=lambda: MappingProxyType({}))
    templates_dir: str | None = None  # the admin's own templates, beside the YAML
    warnings: tuple[str, ...] = ()
    assigners_given: tuple[str, ...] | None = None  # `assigners:` as written; see `assigners`
    extensions: ExtensionSpec | None = None

    def at(self, key: str) -> SourceLoc:
        return self.key_locs.get(key, self.loc)

    @property
    def triggers(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.trigger for t in self.transitions))

    def transitions_from(self, state: str) -> tuple[TransitionSpec, ...]:
        return tuple(t for t in self.transitions if state in t.sources)

    def state_label(self, state: str) -> str:
        spec = self.states.get(state)
        return spec.label if spec else state

    @cached_property
    def public_fields(self) -> tuple[tuple[str, str], ...]:
        """(name, label) of the fields a notice may show: never a private one."""
        return tuple((n, f.label) for n, f in self.fields.items() if not f.private)

    @cached_property
    def headline(self) -> str | None:
        """The field that says what an item is about on a list line: 问题描述 (`description`)
        when the workflow has it and it is not private, else the first non-private text field;
        None when there is none."""
        texts = [n for n, f in self.fields.items() if f.type == "text" and not f.private]
        return "description" if "description" in texts else next(iter(texts), None)

    def field_label(self, name: str) -> str:
        spec = self.fields.get(name)
        return spec.label if spec else name

    def role_label(self, role: str) -> str:
        return self.roles.get(role, role)

    @cached_property
    def assigners(self) -> tuple[str, ...]:
        """Who may `item assign` and `item transfer`: `assigners:`, or by default the roles of
        the transitions that leave `initial` (those who put an item to work)."""
        if self.assigners_given is not None:
            return self.assigners_given
        return tuple(dict.fromkeys(r for t in self.transitions_from(self.initial)
                                   for r in t.roles))
