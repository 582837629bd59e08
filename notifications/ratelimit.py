"""A sliding-window send limiter, one per robot, checked before anything goes on the wire.

Group robots throttle at 20 messages a minute and answer an error past that; counting on our
side lets the dispatcher pause the channel instead of hammering it. The clock is injectable
(monotonic seconds) so tests move time instead of sleeping.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable

from .delivery import RateLimited

Clock = Callable[[], float]


class SlidingWindow:
    """At most `limit` sends in any `window` seconds."""

    def __init__(self, limit: int, window: float = 60.0, clock: Clock = time.monotonic) -> None:
        if limit < 1:
            raise ValueError(f"limit must be at least 1, got {limit}")
        self.limit = limit
        self.window = window
        self._clock = clock
        self._sent: deque[float] = deque()
        self._lock = threading.Lock()  # the scheduler may dispatch from more than one thread

    def acquire(self, count: int = 1) -> None:
        """Take `count` slots at once, or raise RateLimited and take none.

        All-or-nothing so that a message split into parts is never cut off half-way by our own
        limiter (the parts already sent would be sent again on retry).
        """
        if count > self.limit:
            raise ValueError(f"{count} sends can never fit in a limit of {self.limit}")
        with self._lock:
            now = self._clock()
            while self._sent and self._sent[0] <= now - self.window:
                self._sent.popleft()
            free = self.limit - len(self._sent)
            if count > free:
                # The slot we need frees when the (count - free)-th oldest send leaves the window.
                frees_at = self._sent[count - free - 1] + self.window
                raise RateLimited(frees_at - now)
            self._sent.extend([now] * count)
