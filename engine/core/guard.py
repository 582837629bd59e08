"""`when:` guard expressions, compiled and run in Jinja2's sandbox.

Admins write Python-like expressions over an item's fields (`votes_for * 2 > attendees`). Jinja2's
SandboxedEnvironment already refuses attribute tricks (`__class__`, `mro`) and has no I/O, so we
reuse it rather than write an evaluator. Names an expression may use: every field of the workflow
(None while empty) and `count`, a mapping trigger -> times it fired in the item's life, which is
how a workflow says "rejected twice" (`count.reject >= 1` before the second rejection fires).
The Jinja2 side lives in guard_sandbox.py, imported only when a guard is compiled.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from functools import lru_cache
from types import ModuleType
from typing import Any

from .errors import RectifyError
from .i18n import _

RESERVED = frozenset({"count"})
# Wall-clock budget of one guard evaluation: guards are comparisons, a millisecond's work; this
# only stops one that loops, so that it never holds a write lock for seconds.
BUDGET_SECONDS = 0.5


def _jinja() -> ModuleType:
    """guard_sandbox (Jinja2 and the sandbox), imported when the first guard is compiled.

    Cold start: Jinja2 costs ~20 ms to import, and reading items never compiles a guard."""
    from . import guard_sandbox

    return guard_sandbox


class GuardSyntaxError(RectifyError):
    """The expression does not compile; the message says where and why."""


class GuardError(RectifyError):
    """The expression failed while evaluating (a division by zero, say)."""


class GuardOverEmpty(GuardError):
    """The expression compares or computes with fields that are still empty: the condition is
    not met (rather than undecidable), and `empty` names those fields for the refusal."""

    def __init__(self, empty: list[str]) -> None:
        self.empty = empty
        super().__init__(_("empty: {fields}").format(fields=", ".join(empty)))


class _Counts:
    """count.X and count['X'] for any trigger X: zero when it never fired. Not a dict, so a
    trigger called `update` or `items` reads its count, not a method."""

    __slots__ = ("_counts",)

    def __init__(self, counts: Mapping[str, int]) -> None:
        self._counts = counts

    def __getattr__(self, name: str) -> int:
        return int(self._counts.get(name, 0))

    def __getitem__(self, name: str) -> int:
        return int(self._counts.get(name, 0))


@lru_cache(maxsize=512)
def compile_guard(expression: str) -> Callable[..., Any]:
    """Compile exactly what runs; GuardSyntaxError with Jinja's reason if it cannot."""
    if not expression.strip():
        raise GuardSyntaxError(_("guard is empty"))
    jinja = _jinja()
    try:
        func = jinja.ENV.compile_expression(expression, undefined_to_none=False)
    except jinja.TemplateError as exc:
        raise GuardSyntaxError(_("guard does not compile: {reason}").format(
            reason=exc.message)) from exc
    _refuse_constant_bombs(expression)
    return func


def _refuse_constant_bombs(expression: str) -> None:
    """Run every part of the expression that reads no field (`(9**99)**99`, `"x"*10**9`) once,
    bounded: what the sandbox would refuse at run time is refused at load instead."""
    jinja = _jinja()
    nodes = jinja.nodes
    for node in _parse(expression).find_all((nodes.BinExpr, nodes.Filter, nodes.Call)):
        if node.find(nodes.Name) is not None:
            continue
        tree = nodes.Template([nodes.Output([node], lineno=1)], lineno=1)
        try:
            with jinja.time_budget(BUDGET_SECONDS):
                jinja.ENV.from_string(tree).render()
        except jinja.SecurityError as exc:
            raise GuardSyntaxError(_("guard is not allowed: {reason}").format(
                reason=exc)) from exc
        except Exception:  # other failures (1/0, a type error) are the run time's to report
            continue


def names_used(expression: str) -> set[str]:
    """The top-level names an expression reads (after checking that it compiles)."""
    compile_guard(expression)
    return set(_jinja().meta.find_undeclared_variables(_parse(expression)))


def counted_triggers(expression: str) -> set[str]:
    """The X of every `count.X` / `count['X']` in the expression."""
    nodes = _jinja().nodes
    found = set()
    for node in _parse(expression).find_all((nodes.Getattr, nodes.Getitem)):
        target = getattr(node, "node", None)
        if not (isinstance(target, nodes.Name) and target.name == "count"):
            continue
        if isinstance(node, nodes.Getattr):
            found.add(node.attr)
        elif isinstance(node, nodes.Getitem) and isinstance(node.arg, nodes.Const):
            found.add(str(node.arg.value))
    return found


def _parse(expression: str) -> Any:
    """The expression's Jinja2 syntax tree, for the static checks above."""
    jinja = _jinja()
    try:
        return jinja.ENV.parse("{{ (" + expression + ") }}")
    except jinja.TemplateError as exc:
        raise GuardSyntaxError(_("guard does not compile: {reason}").format(
            reason=exc.message)) from exc


def evaluate(expression: str, fields: Mapping[str, Any], counts: Mapping[str, int]) -> bool:
    """True if the guard allows the transition; GuardError if it cannot be decided."""
    jinja = _jinja()
    try:
        func = compile_guard(expression)
        with jinja.time_budget(BUDGET_SECONDS):
            return bool(func(**fields, count=_Counts(counts)))
    except GuardSyntaxError as exc:
        raise GuardError(str(exc)) from exc
    except (TypeError, jinja.UndefinedError, ZeroDivisionError, ValueError, OverflowError,
            MemoryError, RecursionError) as exc:
        # `score >= 60` before anyone gave a score: Python's "'>=' not supported between
        # 'NoneType' and 'int'" says nothing to a clerk; the empty fields do.
        empty = sorted(n for n in names_used(expression) if n in fields and fields[n] is None)
        if empty and isinstance(exc, TypeError):
            raise GuardOverEmpty(empty) from exc
        raise GuardError(str(exc) or type(exc).__name__) from exc
    except jinja.SecurityError as exc:
        raise GuardError(_("not allowed in a guard: {reason}").format(reason=exc)) from exc
