"""structlog, configured once per process by the front end that logs."""

from __future__ import annotations

import sys
from typing import Any


def configure_logging(*, json_lines: bool = False, level: str = "INFO") -> None:
    """structlog to stderr: stdout is for the command's own output.

    Called by the commands that log (sweep, outbox dispatch, scheduler, demo) rather than on
    every start: structlog's import (asyncio, ssl) would cost every command, even --help."""
    import logging

    import structlog

    renderer: Any = (structlog.processors.JSONRenderer(ensure_ascii=False) if json_lines
                     else structlog.dev.ConsoleRenderer(colors=False))
    structlog.configure(
        processors=[structlog.processors.add_log_level,
                    structlog.processors.TimeStamper(fmt="iso", utc=True), renderer],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level)),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
