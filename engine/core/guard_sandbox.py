"""Jinja2's sandbox as `when:` guards and notice templates use it, bounded in time and memory.

Kept apart from guard.py for the cold start: importing Jinja2 costs ~20 ms, and most commands
(`item show`, `item list`, any workflow without `when:`) never compile or run a guard.

Jinja's sandbox keeps an admin's expression away from Python's internals, but not away from the
machine: `(9**99)**99`, `"x"|center(2500000000)`, `"%2000000000d" % 1` or nested loops would run
for minutes or allocate gigabytes. Two bounds close that:

- every operation that builds a value in one C call (`*`, `**`, `%`, width and padding
  arguments, `replace`, `range`) is checked against MAX_SIZE before it runs (a SecurityError);
- Python-level work in template or guard code (loops) is cut off by a wall-clock budget
  (`time_budget`): an interval timer, or a trace function where no timer can be used.
"""

from __future__ import annotations

import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager, nullcontext
from types import FrameType
from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.filters import FILTERS
from jinja2.sandbox import ImmutableSandboxedEnvironment

from .i18n import _

__all__ = ["ENV", "MAX_SIZE", "Bounded", "OverBudget", "SecurityError", "TemplateError",
           "UndefinedError", "budget_scope", "meta", "nodes", "time_budget"]

# The longest string or list a guard or template may build in one operation, and the largest
# integer (in bits) a power or shift may produce. Here rather than in guard.py, which imports this
# module: a constant imported back would make the two modules a cycle.
MAX_SIZE = 10_000
MAX_BITS = 4_096
# `%` and str.format width or precision: any number of five digits or more is refused.
_WIDE_SPEC = re.compile(r"[%{:][^%{}]*?\d{5,}")
_NESTED_SPEC = re.compile(r"\{[^{}]*\{")
# str methods (and filters) whose integer arguments are output widths.
_WIDTH_METHODS = frozenset({"center", "ljust", "rjust", "zfill", "expandtabs", "indent",
                            "wordwrap", "truncate"})


class OverBudget(SecurityError):
    """An evaluation ran past its wall-clock budget (it was stopped where it was)."""


def _check_size(n: Any, what: str) -> None:
    if isinstance(n, int) and not isinstance(n, bool) and abs(n) > MAX_SIZE:
        raise SecurityError(_("{what} {n} is too large (at most {limit})").format(
            what=what, n=n, limit=MAX_SIZE))


def _check_format(spec: Any, what: str) -> None:
    if isinstance(spec, str) and _WIDE_SPEC.search(spec):
        raise SecurityError(_("{what}: a width or precision that large is not "
                              "allowed").format(what=what))


def _check_power(base: Any, exponent: Any) -> None:
    if isinstance(exponent, int | float) and abs(exponent) > 100:
        raise SecurityError(_("exponent {exponent} is too large").format(exponent=exponent))
    if isinstance(base, int) and isinstance(exponent, int) \
            and base.bit_length() * max(exponent, 0) > MAX_BITS:
        raise SecurityError(_("a power that large is not allowed"))


def _check_product(left: Any, right: Any) -> None:
    for seq, n in ((left, right), (right, left)):
        if isinstance(seq, str | list | tuple) and isinstance(n, int) and len(seq) * n > MAX_SIZE:
            raise SecurityError(_("values that large are not allowed"))
    if isinstance(left, int) and isinstance(right, int) \
            and left.bit_length() + right.bit_length() > MAX_BITS:
        raise SecurityError(_("a product that large is not allowed"))


def _bounded_range(*args: int) -> range:
    values = range(*args)
    _check_size(len(values), _("range of length"))
    return values


class Bounded:
    """Mixin for a sandboxed environment: the one-call bounds above on binops, calls, filters."""

    intercepted_binops = frozenset({"*", "**", "%"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            _check_power(left, right)
        elif operator == "*":
            _check_product(left, right)
        elif operator == "%" and isinstance(left, str):
            _check_format(left, _("formatting with %"))
        return super().call_binop(context, operator, left, right)  # type: ignore[misc]

    def call(self, context: Any, obj: Any, *args: Any, **kwargs: Any) -> Any:
        owner = getattr(obj, "__self__", None)
        name = getattr(obj, "__name__", "")
        if isinstance(owner, str | bytes):
            if name in _WIDTH_METHODS:
                for value in (*args, *kwargs.values()):
                    _check_size(value, _("{name} width").format(name=name))
            elif name == "replace" and len(args) >= 2:
                _check_product(owner, max(len(args[1]), 1))
        return super().call(context, obj, *args, **kwargs)  # type: ignore[misc]

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        """str.format and format_map, which Jinja wraps when they are read: widths checked."""
        wrapped = super().wrap_str_format(value)  # type: ignore[misc]
        if wrapped is None:
            return None
        spec = value.__self__
        _check_format(spec, "str.format")
        if not _NESTED_SPEC.search(spec):
            return wrapped

        def checked(*args: Any, **kwargs: Any) -> str:  # `{:{}}`: a width given as an argument
            for arg in (*args, *kwargs.values()):
                _check_size(arg, _("{name} width").format(name="str.format"))
            return str(wrapped(*args, **kwargs))

        return checked

    def bound_filters(self) -> None:
        """Replace the filters that build large values in one call by checked versions."""
        filters: dict[str, Callable[..., Any]] = self.filters  # type: ignore[attr-defined]
        for name in ("center", "indent", "wordwrap", "truncate"):
            filters[name] = _widths_checked(FILTERS[name], name)
        filters["format"] = _format_checked(FILTERS["format"])
        filters["replace"] = _replace_checked(FILTERS["replace"])


def _widths_checked(original: Callable[..., Any], name: str) -> Callable[..., Any]:
    # The value filtered comes first, after the environment for pass_environment filters.
    skip = 2 if hasattr(original, "jinja_pass_arg") else 1

    def checked(*args: Any, **kwargs: Any) -> Any:
        for value in (*args[skip:], *kwargs.values()):
            _check_size(value, _("{name} width").format(name=name))
        return original(*args, **kwargs)

    if hasattr(original, "jinja_pass_arg"):
        checked.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return checked


def _format_checked(original: Callable[..., Any]) -> Callable[..., Any]:
    def checked(value: Any, *args: Any, **kwargs: Any) -> Any:
        _check_format(value, "format")
        return original(value, *args, **kwargs)

    return checked


def _replace_checked(original: Callable[..., Any]) -> Callable[..., Any]:
    def checked(eval_ctx: Any, s: Any, old: Any, new: Any, count: Any = None) -> Any:
        _check_product(str(s), max(len(str(new)), 1))
        return original(eval_ctx, s, old, new, count)

    checked.jinja_pass_arg = original.jinja_pass_arg  # type: ignore[attr-defined]
    return checked


def _is_admin_code(frame: FrameType) -> bool:
    """Frames compiled from an admin's template (`*.j2`) or guard expression (`<template>`)."""
    name = frame.f_code.co_filename
    return name.endswith(".j2") or name == "<template>"


def time_budget(seconds: float) -> AbstractContextManager[None]:
    """Stop template or guard code that runs longer than `seconds` (OverBudget where it was).

    On the main thread with no other timer running, an interval timer (SIGALRM) costs nothing
    until it fires. Elsewhere (the scheduler renders in worker threads, where signals cannot
    reach, or an outer timer such as pytest-timeout's is set) a trace function that follows
    only the admin's own frames does the same job, about three times slower. Under a debugger
    or coverage (a tracer already set) the budget steps aside rather than break them; the
    one-call bounds still hold."""
    if _scope.held and threading.current_thread() is threading.main_thread():
        return _Timer(seconds)
    if _timer_free():
        return _alarm(seconds)
    if sys.gettrace() is None:
        return _traced(seconds)
    return nullcontext()


class _Scope:
    """The alarm's handler while a `budget_scope` holds it (main thread only: signals)."""

    held = False
    seconds = 0.0


_scope = _Scope()


@contextmanager
def budget_scope() -> Iterator[None]:
    """Many budgets in a row (a dispatch renders thousands of notices, each in its budget):
    the alarm's handler is installed once for them all, and each budget only sets and clears
    the timer. Installing and restoring a handler cost more than rendering a short notice.
    Where no timer is free (a worker thread, an outer timer) it changes nothing."""
    if _scope.held or not _timer_free():
        yield
        return
    previous = signal.signal(signal.SIGALRM, _stop_held)
    _scope.held = True
    try:
        yield
    finally:
        _scope.held = False
        signal.signal(signal.SIGALRM, previous)


def _stop_held(signum: int, frame: FrameType | None) -> None:
    raise OverBudget(_("stopped after {seconds} s (too much work)").format(
        seconds=f"{_scope.seconds:g}"))


class _Timer:
    """A budget inside `budget_scope`: its handler is in place, only the timer is set. A
    class, not a generator: a dispatch sets one per notice, and this is half the cost."""

    __slots__ = ("seconds",)

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds

    def __enter__(self) -> None:
        _scope.seconds = self.seconds
        signal.setitimer(signal.ITIMER_REAL, self.seconds)

    def __exit__(self, *exc: object) -> None:
        signal.setitimer(signal.ITIMER_REAL, 0)


def _timer_free() -> bool:
    return (hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()
            and signal.getitimer(signal.ITIMER_REAL)[0] == 0
            and signal.getsignal(signal.SIGALRM) in (signal.SIG_DFL, signal.SIG_IGN, None))


@contextmanager
def _alarm(seconds: float) -> Iterator[None]:
    def stop(signum: int, frame: FrameType | None) -> None:
        raise OverBudget(_("stopped after {seconds} s (too much work)").format(
            seconds=f"{seconds:g}"))

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def _traced(seconds: float) -> Iterator[None]:
    deadline = time.monotonic() + seconds
    ticks = 0

    def local(frame: FrameType, event: str, arg: Any) -> Any:
        nonlocal ticks
        ticks += 1
        if ticks % 256 == 0 and time.monotonic() > deadline:
            raise OverBudget(_("stopped after {seconds} s (too much work)").format(
                seconds=f"{seconds:g}"))
        return local

    def calls(frame: FrameType, event: str, arg: Any) -> Any:
        return local if _is_admin_code(frame) else None

    sys.settrace(calls)
    try:
        yield
    finally:
        sys.settrace(None)


class _GuardEnvironment(Bounded, ImmutableSandboxedEnvironment):
    """The guard sandbox: bounded, and without Jinja's globals (range, lipsum, ...)."""


ENV = _GuardEnvironment(undefined=StrictUndefined)
ENV.globals.clear()
ENV.bound_filters()
TEMPLATE_GLOBALS = {"range": _bounded_range}  # replaces Jinja's (100,000 items) and drops lipsum
