"""A wall-clock bound for attacks that used to hang: the test fails instead of the suite."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager

import pytest


class TookTooLong(Exception):
    """The code under test ran past the test's wall-clock bound."""


@contextmanager
def _within(seconds: float) -> Iterator[None]:
    if threading.current_thread() is not threading.main_thread():  # no signals: no bound
        yield
        return

    def stop(signum: int, frame: object) -> None:
        raise TookTooLong(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, stop)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@pytest.fixture
def within() -> Callable[[float], AbstractContextManager[None]]:
    """`with within(5): ...` raises TookTooLong if the block runs longer than 5 s."""
    return _within
