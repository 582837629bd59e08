"""structlog, configured once per process by the front end that logs, and imported when the
first line is logged. Beside i18n in core: every layer logs, as every layer speaks.

structlog's import (asyncio, and rich when it is installed) costs a start-up a tenth of a
second; a dispatch whose every notice goes out logs nothing but its summary, on stdout. So the
modules that log take their logger from `get_logger`, which loads structlog at the first call
on it, and `configure_logging` keeps the configuration until then.
"""

from __future__ import annotations

import sys
from typing import Any

_wanted: dict[str, Any] | None = None  # configure_logging's arguments, not applied yet


def configure_logging(*, json_lines: bool = False, level: str = "INFO") -> None:
    """structlog to stderr: stdout is for the command's own output.

    Called by the commands that log (sweep, outbox dispatch, scheduler, demo) rather than on
    every start. Applied at once when structlog is loaded already, else with its import."""
    global _wanted
    _wanted = {"json_lines": json_lines, "level": level}
    if "structlog" in sys.modules:
        _structlog()


def get_logger(name: str) -> Any:
    """A structlog logger for `name`, loading structlog only when it is first used."""
    return _Logger(name)


class _Logger:
    """Stands for `structlog.get_logger(name)`; every call goes to structlog's own logger, so
    `structlog.testing.capture_logs` and later `configure` calls see it as they see theirs."""

    def __init__(self, name: str) -> None:
        self._name = name

    def __getattr__(self, method: str) -> Any:
        return getattr(_structlog().get_logger(self._name), method)


def _structlog() -> Any:
    """structlog, with the configuration wanted applied once: at once when it was loaded
    already; else at its import, unless something configured it meanwhile (a test capturing
    logs), which is left as it is."""
    global _wanted
    loaded = "structlog" in sys.modules
    import structlog

    if _wanted is not None:
        wanted, _wanted = _wanted, None
        if loaded or not structlog.is_configured():
            _apply(wanted)
    return structlog


def _apply(wanted: dict[str, Any]) -> None:
    import logging

    import structlog

    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False)
                     if wanted["json_lines"] else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, wanted["level"])),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
