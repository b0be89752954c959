"""Progress on stderr for long runs, throttled so that logs stay readable."""

import sys
import time
from typing import IO, Optional


class Progress:
    """``update(n)`` after each unit of work; prints at most every ``interval`` seconds."""

    def __init__(
        self, total: Optional[int], what: str = "files", interval: float = 2.0, stream: Optional[IO] = None
    ) -> None:
        self.total, self.what, self.interval, self.stream = total, what, interval, stream
        self.done = 0
        self.start = self._last = time.monotonic()

    def update(self, n: int = 1) -> None:
        self.done += n
        now = time.monotonic()
        if now - self._last >= self.interval or self.done == self.total:
            self._last = now
            self._print(now)

    def _print(self, now: float) -> None:
        of = f"/{self.total}" if self.total is not None else ""
        print(
            f"[qieemo] {self.done}{of} {self.what} ({now - self.start:.1f} s)",
            file=self.stream or sys.stderr,
            flush=True,
        )
