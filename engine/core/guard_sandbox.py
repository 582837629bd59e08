"""Jinja2's sandbox as `when:` guards use it. Only guard.py imports this, on first use.

Kept apart from guard.py for the cold start: importing Jinja2 costs ~20 ms, and most commands
(`item show`, `item list`, any workflow without `when:`) never compile or run a guard.
"""

from __future__ import annotations

from typing import Any

from jinja2 import StrictUndefined, TemplateError, meta, nodes
from jinja2.exceptions import SecurityError, UndefinedError
from jinja2.sandbox import ImmutableSandboxedEnvironment

__all__ = ["ENV", "MAX_SIZE", "SecurityError", "TemplateError", "UndefinedError", "meta", "nodes"]

# The longest string or list a guard may build with *. Here rather than in guard.py, which
# imports this module: a constant imported back would make the two modules a cycle.
MAX_SIZE = 10_000


class _GuardEnvironment(ImmutableSandboxedEnvironment):
    """The sandbox, minus Jinja's globals (range, lipsum, ...) and with * and ** bounded, so a
    guard can neither loop for minutes nor allocate gigabytes."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**" and isinstance(right, int | float) and abs(right) > 100:
            raise SecurityError(f"exponent {right} is too large for a guard")
        if operator == "*":
            for seq, n in ((left, right), (right, left)):
                if isinstance(seq, str | list | tuple) and isinstance(n, int) \
                        and len(seq) * n > MAX_SIZE:
                    raise SecurityError("a guard may not build values that large")
        return super().call_binop(context, operator, left, right)


ENV = _GuardEnvironment(undefined=StrictUndefined)
ENV.globals.clear()
