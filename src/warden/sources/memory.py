"""The dry-run twin of the log sources: lines pushed by code, no file, no kernel.

For the daemon's tests and for replays: ``push`` lines (with their times, like the journal, or
without) and the source yields them as batches to whoever runs ``batches``. ``finish`` ends the
stream; ``fail`` makes it raise, so a supervisor's restart path can be exercised for real.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence

from warden.sources.base import LogBatch, SourceState, SourceStatus

__all__ = ["MemorySource"]


class MemorySource:
    """An in-memory :class:`~warden.sources.base.LogSource`."""

    def __init__(self, name: str = "memory") -> None:
        self.name = name
        self._queue: asyncio.Queue[LogBatch | BaseException | None] = asyncio.Queue()
        self._closed = False
        self.delivered = 0

    def push(self, lines: Sequence[str], times: Sequence[float] | None = None, *,
             source: str | None = None) -> None:
        """Queue one batch (``source`` defaults to this source's name)."""
        if times is not None and len(times) != len(lines):
            raise ValueError("one time per line")
        self._queue.put_nowait(LogBatch(source or self.name, list(lines), None,
                                        None if times is None else list(times)))

    def fail(self, error: BaseException) -> None:
        """Make ``batches`` raise ``error`` after the batches queued before it."""
        self._queue.put_nowait(error)

    def finish(self) -> None:
        """End ``batches`` after the batches queued before it."""
        self._queue.put_nowait(None)

    async def batches(self) -> AsyncIterator[LogBatch]:
        """Yield the pushed batches in order."""
        while not self._closed:
            item = await self._queue.get()
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            self.delivered += len(item.lines)
            yield item

    def status(self) -> list[SourceStatus]:
        """One entry: ok while open."""
        return [SourceStatus(self.name, SourceState.STOPPED if self._closed else SourceState.OK)]

    def close(self) -> None:
        """Stop yielding; safe to call twice."""
        self._closed = True
