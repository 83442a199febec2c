"""The portable fallback watcher: wake up every ``interval`` seconds and check every file.

Used with ``backend = polling`` and where the kernel offers no change notification. Checking a
file costs two ``stat`` calls, so a one-second interval is cheap; the price is up to one interval
of delay between a line being written and being read.
"""

from __future__ import annotations

import asyncio

from warden.sources.watch import WatchEvents

__all__ = ["PollingWatcher"]


class PollingWatcher:
    """A watcher that knows nothing and wakes the tail on a timer."""

    def __init__(self, *, interval: float = 1.0) -> None:
        if interval <= 0:
            raise ValueError("polling interval must be positive")
        self.interval = interval

    def watch_dir(self, path: str) -> bool:
        """Nothing to register: every wakeup checks every file."""
        return True

    def unwatch_dir(self, path: str) -> None:
        """Nothing registered."""

    def watch_file(self, path: str, fd: int) -> None:
        """Nothing to register."""

    def unwatch_file(self, fd: int) -> None:
        """Nothing registered."""

    def pending(self) -> WatchEvents:
        """Nothing is ever known without looking: no events."""
        return WatchEvents()

    async def wait(self, timeout: float | None) -> WatchEvents:
        """Sleep one interval (or ``timeout`` if shorter); then everything may have changed."""
        delay = self.interval if timeout is None else min(self.interval, timeout)
        await asyncio.sleep(delay)
        return WatchEvents(everything=True)

    def close(self) -> None:
        """Nothing to release."""
