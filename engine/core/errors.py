"""The exception hierarchy: one base, a few kinds, each carrying its facts as fields.

Every error rectify raises on purpose is a `RectifyError` whose message a user can act on.
The front ends map the kinds to what they answer with: the CLI to the contract's exit codes
(`commands/support.py`, the one place that knows them), the web to HTTP statuses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from .i18n import N_, _, ngettext, translate


class RectifyError(Exception):
    """Base of every error rectify raises on purpose."""


class Refusal(StrEnum):
    """Why the workflow refused: the front ends answer each kind differently (HTTP 403, 409 or
    422); a StrEnum, so the kind reads as its plain word in JSON and logs."""

    STATE = "state"                  # not possible in the item's state
    ROLE = "role"                    # the actor holds no role that may do it
    ASSIGNEE = "assignee"            # only the assignee may
    SEPARATION = "separation"        # separation of duties (not_actor_of)
    FIELD = "field"                  # a field the actor or transition may not set
    MISSING_FIELD = "missing_field"  # a required field is empty
    COMMENT = "comment"              # a required comment is missing
    GUARD = "guard"                  # the transition's `when:` is false
    VALUE = "value"                  # a value that cannot be used


@dataclass(frozen=True)
class SourceLoc:
    """Where a node of an input file starts: 1-based line and column."""

    file: str
    line: int
    column: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


@dataclass(frozen=True)
class Problem:
    """One finding of the loader or validator, printed as FILE:LINE:COL: message."""

    loc: SourceLoc
    message: str
    severity: str = "error"  # or "warning"

    def __str__(self) -> str:
        prefix = "warning: " if self.severity == "warning" else ""
        return f"{self.loc}: {prefix}{self.message}"


class InvalidInput(RectifyError):
    """A workflow, org, calendar or ledger file that cannot be used. Lists every problem found."""

    def __init__(self, problems: Sequence[Problem | str], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(str(p) for p in self.problems))


class Refused(RectifyError):
    """The workflow does not allow what was asked (wrong state, role, missing field, guard...).

    `message` is the one line the user reads, in the workflow's own labels; `reason` the kind."""

    def __init__(self, message: str, *, reason: Refusal, item: int | None = None,
                 trigger: str | None = None) -> None:
        self.reason = Refusal(reason)
        self.item = item
        self.trigger = trigger
        super().__init__(message)


class UnknownActor(Refused):
    """Who says they act is not in the org file (or has left it), with the nearest names when
    the front end looked for them (`--as`): one refusal for the use cases, `--as` and imports."""

    def __init__(self, person_id: str, close: Sequence[str] = ()) -> None:
        message = _("'{person_id}' is not a person in the org file; load it with "
                    "`rectify org load`").format(person_id=person_id)
        super().__init__(message + did_you_mean(close), reason=Refusal.ROLE)


class NotFound(RectifyError):
    """No such item, workflow, unit, person...: `kind` and the `key` that was asked for."""

    def __init__(self, kind: str, key: object, *, close: Sequence[str] = ()) -> None:
        self.kind = kind
        self.key = key
        self.close = list(close)  # names near the one asked for: a typo's likely meaning
        message = _("{kind} {key!r} not found").format(kind=translate(kind), key=key)
        super().__init__(message + did_you_mean(close))


def did_you_mean(close: Sequence[str]) -> str:
    """" (did you mean 'a' or 'b'?)" after a name that fits nothing; "" when nothing is near."""
    if not close:
        return ""
    return _(" (did you mean {names}?)").format(names=_(" or ").join(f"'{c}'" for c in close))


# What NotFound names, for the catalogue: the kind is translated where the message is made.
KINDS = (N_("item"), N_("person"), N_("token"), N_("unit"), N_("workflow"),
         N_("workflow version"), N_("state"))


class Conflict(RectifyError):
    """The row changed underneath us; nothing was written."""

    def __init__(self, message: str, *, item: int | None = None) -> None:
        self.item = item
        super().__init__(message)


class UsageError(RectifyError):
    """An option or argument that cannot be used as given."""


class Ambiguous(UsageError):
    """A name that means several units, people, workflows or states; the message lists them."""


class IntegrityFailed(RectifyError):
    """`audit verify` found history or items that do not match their chains."""

    def __init__(self, broken: Sequence[str]) -> None:
        self.broken = list(broken)
        super().__init__("\n".join(self.broken) or _("integrity check failed"))


class DatabaseError(RectifyError):
    """The database cannot be reached or used; the message says which and why."""


class NotInitialised(DatabaseError):
    """The database has no rectify tables, or older ones: `rectify init` makes them current."""

    def __init__(self, url: str, *, missing: bool = False) -> None:
        self.url = url
        self.missing = missing  # no database file at all (SQLite)
        super().__init__((_("there is no database at {url} yet; `rectify init` creates it")
                          if missing else
                          _("database {url} has no rectify tables or is out of date; run "
                            "`rectify init` first")).format(url=url))


class DeliveryFailed(RectifyError):
    """`outbox dispatch` left notifications failed for good: none of the contract's specific
    kinds, so exit 1; `rectify outbox retry` requeues them once the cause is fixed."""

    def __init__(self, failed: int) -> None:
        self.failed = failed
        super().__init__(ngettext(
            "{failed} notification failed for good; see `rectify outbox list --status failed`, "
            "fix the cause, then `rectify outbox retry`",
            "{failed} notifications failed for good; see `rectify outbox list --status failed`, "
            "fix the cause, then `rectify outbox retry`", failed).format(failed=failed))
