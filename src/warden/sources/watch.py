"""The wakeup side of file tailing: what a change notifier tells the tail, and its protocol.

A :class:`Watcher` watches directories (and, where the kernel needs it, open files) and tells
the tail which files were written and which directories gained or lost entries. The tail does
the reading; a watcher only wakes it. Three implementations: inotify (Linux), kqueue (BSD) and
polling (anywhere).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

__all__ = ["ReadyFlag", "WatchEvents", "Watcher", "join", "wait_for_events"]


@dataclass(slots=True)
class WatchEvents:
    """What changed since the last wait.

    ``modified``: paths of files written or truncated; ``entries``: directories whose entries
    changed (created, deleted, renamed, attributes); ``everything``: the watcher cannot tell
    (polling, a kernel queue overflow, a timeout), so every file must be checked.
    """

    modified: set[str] = field(default_factory=set)
    entries: set[str] = field(default_factory=set)
    everything: bool = False

    def __bool__(self) -> bool:
        return self.everything or bool(self.modified) or bool(self.entries)


class Watcher(Protocol):
    """A change notifier the tail waits on."""

    def watch_dir(self, path: str) -> bool:
        """Watch the entries of directory ``path`` (and, with inotify, writes to its files).

        Returns ``False`` when the directory cannot be watched (it does not exist); the tail
        then finds it by its periodic rescan.
        """
        ...

    def unwatch_dir(self, path: str) -> None:
        """Stop watching directory ``path``."""
        ...

    def watch_file(self, path: str, fd: int) -> None:
        """Watch the open file ``fd`` known as ``path`` (needed by kqueue, a no-op elsewhere)."""
        ...

    def unwatch_file(self, fd: int) -> None:
        """Stop watching the open file ``fd`` (call before closing it)."""
        ...

    def pending(self) -> WatchEvents:
        """What the kernel has queued already, without waiting (empty for polling)."""
        ...

    async def wait(self, timeout: float | None) -> WatchEvents:
        """Wait until something changed or ``timeout`` seconds passed (then ``everything``)."""
        ...

    def close(self) -> None:
        """Release the kernel resources; safe to call twice."""
        ...


class ReadyFlag:
    """A file descriptor's readability, awaited on the running event loop.

    The reader is registered only while someone waits: a level-triggered descriptor left
    registered would wake the loop again and again while the tail's consumer is busy.
    """

    def __init__(self, fd: int) -> None:
        self._fd = fd
        self._loop: asyncio.AbstractEventLoop | None = None

    async def wait(self, timeout: float | None) -> bool:
        """Wait until the descriptor is readable; ``False`` when ``timeout`` passed first."""
        loop = asyncio.get_running_loop()
        ready: asyncio.Future[None] = loop.create_future()

        def wake() -> None:
            if not ready.done():
                ready.set_result(None)

        loop.add_reader(self._fd, wake)
        self._loop = loop
        try:
            async with asyncio.timeout(timeout):
                await ready
        except TimeoutError:
            return False
        finally:
            self.detach()
        return True

    def detach(self) -> None:
        """Stop watching the descriptor (before it is closed)."""
        if self._loop is not None:
            if not self._loop.is_closed():
                self._loop.remove_reader(self._fd)
            self._loop = None


async def wait_for_events(flag: ReadyFlag, collect: Callable[[], WatchEvents],
                          timeout: float | None) -> WatchEvents:
    """What ``collect`` finds queued now, else once ``flag``'s descriptor is readable; after
    ``timeout`` seconds with nothing, ``everything`` (the tail then checks every file)."""
    events = collect()
    if events:
        return events
    if not await flag.wait(timeout):
        return WatchEvents(everything=True)
    return collect()


def join(directory: str, name: str) -> str:
    """``directory/name`` as the tail spells paths (no normalisation beyond the join)."""
    return os.path.join(directory, name)
