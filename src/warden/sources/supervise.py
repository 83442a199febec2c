"""Keeping a log source running: restart with exponential backoff, state for ``status``.

The daemon's task group runs :meth:`Supervised.run` for each source. When the source fails
(raises :class:`~warden.errors.SourceError`, ``OSError`` or, being a bug, anything else), a new
one is made by the factory,
after a delay that doubles with each failure in a row (up to ``maximum``) and starts again from
``initial`` once a source has run ``stable`` seconds without failing. Errors of the consumer are
the daemon's own and are not caught here.

A failure is logged at WARNING when it is new (not the same message as the failure before),
and the first batch after failures at INFO; a source that fails the same way at every restart
gives one line, not one per retry.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace

from warden.errors import SourceError
from warden.sources.base import LogBatch, LogSource, SourceState, SourceStatus

__all__ = ["Backoff", "Supervised"]

log = logging.getLogger("warden.sources")


@dataclass(slots=True)
class Backoff:
    """Delays between restarts: ``initial * factor ** (failures in a row - 1)``, capped."""

    initial: float = 0.5
    factor: float = 2.0
    maximum: float = 60.0
    stable: float = 60.0
    failures: int = 0
    restarts: int = 0

    def failed(self, *, ran_for: float) -> float:
        """Record a failure after the source ran ``ran_for`` seconds; return the delay."""
        if ran_for >= self.stable:
            self.failures = 0
        self.failures += 1
        self.restarts += 1
        return min(self.maximum, self.initial * self.factor ** (self.failures - 1))


class Supervised:
    """One source kept running; ``status`` adds restarts and the last failure to its own."""

    def __init__(
        self,
        name: str,
        factory: Callable[[], LogSource],
        consume: Callable[[LogBatch], Awaitable[None]],
        *,
        backoff: Backoff | None = None,
    ) -> None:
        self.name = name
        self._factory = factory
        self._consume = consume
        self.backoff = backoff or Backoff()
        self._source: LogSource | None = None
        self._error: str | None = None
        self._waiting = False
        self._reported: str | None = None  # the failure last logged, until a batch comes

    def status(self) -> list[SourceStatus]:
        """The source's entries, or one entry for the whole source while it is restarting."""
        restarts = self.backoff.restarts
        if self._source is None or self._waiting:
            state = SourceState.RESTARTING if self._waiting else SourceState.STOPPED
            return [SourceStatus(self.name, state, None, restarts, self._error)]
        return [replace(s, restarts=restarts, error=s.error or self._error)
                for s in self._source.status()]

    async def run(self) -> None:
        """Run the source until it ends or the task is cancelled, restarting it on failure."""
        loop = asyncio.get_running_loop()
        while True:
            started = loop.time()
            failure = await self._run_once()
            if failure is None:
                return
            self._error = failure
            delay = self.backoff.failed(ran_for=loop.time() - started)
            if failure != self._reported:
                log.warning("%s: %s; restarting it (retries with backoff up to %gs)",
                            self.name, failure, self.backoff.maximum)
                self._reported = failure
            self._waiting = True
            try:
                await asyncio.sleep(delay)
            finally:
                self._waiting = False

    async def _run_once(self) -> str | None:
        """Run one source to its end (``None``) or its failure (the message)."""
        source: LogSource | None = None
        iterator: AsyncIterator[LogBatch] | None = None
        try:
            try:
                source = self._factory()
                self._source = source
                iterator = source.batches().__aiter__()
            except Exception as exc:  # a source's bug must not stop the other sources
                return _describe(exc)
            while True:
                try:
                    batch = await anext(iterator)
                except StopAsyncIteration:
                    return None
                except Exception as exc:  # a source's bug must not stop the other sources
                    return _describe(exc)
                if self._reported is not None:
                    log.info("%s: reading again after %d restart(s)", self.name,
                             self.backoff.restarts)
                    self._reported = None
                await self._consume(batch)
        finally:
            aclose = getattr(iterator, "aclose", None)
            if aclose is not None:
                await aclose()
            if source is not None:
                source.close()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SourceError | OSError):
        return str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
