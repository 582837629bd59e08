"""The exception hierarchy: one base, a few kinds, each message built from structured fields.

`cli.py` maps each kind to the contract's exit code; nothing else needs to know the codes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


class RectifyError(Exception):
    """Base of every error rectify raises on purpose."""

    exit_code = 1


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

    exit_code = 6

    def __init__(self, problems: Sequence[Problem | str], *, source: str = "") -> None:
        self.problems = list(problems)
        self.source = source
        super().__init__("\n".join(str(p) for p in self.problems))


class Refused(RectifyError):
    """The workflow does not allow what was asked (wrong state, role, missing field, guard...)."""

    exit_code = 3

    def __init__(self, message: str, *, reason: str = "refused", item: int | None = None) -> None:
        self.reason = reason
        self.item = item
        super().__init__(message)


class NotFound(RectifyError):
    exit_code = 4

    def __init__(self, kind: str, key: object) -> None:
        self.kind = kind
        self.key = key
        super().__init__(f"{kind} {key!r} not found")


class Conflict(RectifyError):
    """The row changed underneath us; nothing was written."""

    exit_code = 5

    def __init__(self, message: str, *, item: int | None = None) -> None:
        self.item = item
        super().__init__(message)


class UsageError(RectifyError):
    exit_code = 2
