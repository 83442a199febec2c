"""The event stream behind ``warden events``: bans, unbans, failures and source states.

:class:`EventHub` is told what happens (it is an :class:`~warden.daemon.runtime.Observer` of
the runtime; :meth:`EventHub.watch_sources` polls the sources' states once a second) and
hands each event to every subscriber whose jail and kinds match. Publishing never waits:
each subscriber has a bounded buffer, and an event that does not fit is counted as dropped
for that subscriber, which is told (:class:`~warden.protocol.events.DroppedEvent`) before
its next event. A reader that never reads costs its buffer and nothing else.

Failures are published only while a subscriber wants them: the runtime then collects the
jails' counted failures once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence

from warden.core.decisions import Ban, Unban
from warden.protocol import EventsRequest, FailedReply, encode
from warden.protocol.events import (
    EVENT_KINDS,
    BanEvent,
    DroppedEvent,
    Event,
    FailureEvent,
    SourceEvent,
    UnbanEvent,
)
from warden.sources.base import SourceStatus

__all__ = ["BUFFER", "RECENT", "EventHub", "Subscriber"]

log = logging.getLogger("warden.events")

#: events a subscriber's buffer holds before new ones are dropped
BUFFER = 4096
#: recent events kept for a reader that connects (``warden events`` without --follow)
RECENT = 200

#: a source's states by (source, path): (state, error)
_States = dict[tuple[str, str], tuple[str, str]]


class Subscriber:
    """One reader: what it wants, its buffer and what it lost."""

    def __init__(self, jail: str | None, kinds: Iterable[str], capacity: int) -> None:
        self.jail = jail
        self.kinds = frozenset(kinds)
        self.capacity = capacity
        self.buffer: deque[Event] = deque()
        self.dropped = 0
        self.reported = 0
        self.wake = asyncio.Event()

    def wants(self, event: Event) -> bool:
        """True if ``event`` is of a kind and jail this reader asked for."""
        if self.kinds and event.kind not in self.kinds:
            return False
        return self.jail is None or getattr(event, "jail", self.jail) == self.jail

    def offer(self, event: Event) -> None:
        """Buffer ``event``, or count it as dropped if the buffer is full (never waits)."""
        if len(self.buffer) >= self.capacity:
            self.dropped += 1
        else:
            self.buffer.append(event)
        self.wake.set()


class EventHub:
    """Every subscriber of the daemon, and the recent events."""

    def __init__(self, clock: Callable[[], float], *, capacity: int = BUFFER,
                 recent: int = RECENT,
                 jails: Callable[[], Collection[str]] = tuple) -> None:
        """``jails`` names the running jails (a request for another is refused)."""
        self.clock = clock
        self.jails = jails
        self.capacity = capacity
        self.subscribers: set[Subscriber] = set()
        self.recent: deque[Event] = deque(maxlen=recent)
        self.seq = 0
        #: events lost by every subscriber so far (the metrics' warden_events_dropped_total)
        self.dropped = 0
        self._sources: _States | None = None

    @property
    def wants_failures(self) -> bool:
        """True while a subscriber wants failure events."""
        return any(not s.kinds or "failure" in s.kinds for s in self.subscribers)

    # -- publishing -------------------------------------------------------------------------
    def _next(self) -> tuple[int, float]:
        self.seq += 1
        return self.seq, self.clock()

    def publish(self, event: Event) -> None:
        """Keep ``event`` among the recent ones and offer it to every subscriber."""
        self.recent.append(event)
        for sub in self.subscribers:
            if sub.wants(event):
                before = sub.dropped
                sub.offer(event)
                self.dropped += sub.dropped - before

    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban], cause: str) -> None:
        """Ban and unban events (the runtime's observer call)."""
        for unban in unbans:
            seq, now = self._next()
            self.publish(UnbanEvent(seq, now, unban.jail, unban.address,
                                    "expired" if unban.reason == "expired" else cause))
        for ban in bans:
            seq, now = self._next()
            self.publish(BanEvent(seq, now, ban.jail, ban.address, ban.until, ban.bantime,
                                  ban.count, ban.failures, cause))

    def stored(self, seconds: float, ok: bool) -> None:
        """Not an event (the metrics count store writes)."""

    def failures(self, jail: str, found: Sequence[tuple[str, float]]) -> None:
        """Failure events (the runtime's observer call, while :attr:`wants_failures`)."""
        for fid, at in found:
            seq, now = self._next()
            self.publish(FailureEvent(seq, now, jail, fid, at))

    def sources_seen(self, states: Iterable[tuple[str, Sequence[SourceStatus]]]) -> None:
        """Source events for every entry whose state changed since the last call (the first
        call records the states without events: they are the start, not changes; nor is a
        new entry that reads fine)."""
        current: _States = {}
        for source, entries in states:
            for entry in entries:
                current[(source, entry.path)] = (entry.state.value, entry.error or "")
        if self._sources is not None:
            for key, (state, error) in current.items():
                source, path = key
                before = self._sources.get(key)
                # a source that starts reading is no news; anything else that changed is
                if before != (state, error) and (before is not None or state != "ok"):
                    seq, now = self._next()
                    self.publish(SourceEvent(seq, now, source, path, state, error))
        self._sources = current

    async def watch_sources(self, states: Callable[[], Iterable[tuple[str,
                                                                     Sequence[SourceStatus]]]],
                            interval: float = 1.0) -> None:
        """Publish source state changes, looking every ``interval`` seconds (until cancelled)."""
        while True:
            self.sources_seen(states())
            await asyncio.sleep(interval)

    # -- serving a reader -------------------------------------------------------------------
    async def serve(self, request: EventsRequest, reader: asyncio.StreamReader,
                    writer: asyncio.StreamWriter) -> None:
        """Stream events to one client: the recent ones, then (``follow``) new ones until it
        hangs up. Its writes wait for the client; publishing never waits for them."""
        refusal = self._refusal(request)
        if refusal is not None:
            writer.write(encode(FailedReply(refusal, "usage")))
            await writer.drain()
            return
        sub = Subscriber(request.jail, request.kinds, self.capacity)
        for event in self.recent:
            if sub.wants(event):
                sub.offer(event)
        if request.follow:
            self.subscribers.add(sub)
        try:
            if not request.follow:
                await self._write(writer, sub)
                return
            gone = asyncio.ensure_future(reader.read(1))  # EOF or anything: the client left
            try:
                while not gone.done():
                    if sub.buffer or sub.dropped != sub.reported:
                        await self._write(writer, sub)
                        continue
                    sub.wake.clear()
                    woken = asyncio.ensure_future(sub.wake.wait())
                    try:
                        await asyncio.wait({gone, woken}, return_when=asyncio.FIRST_COMPLETED)
                    finally:
                        woken.cancel()
            finally:
                gone.cancel()
                with contextlib.suppress(asyncio.CancelledError, Exception):
                    await gone
        finally:
            self.subscribers.discard(sub)

    def _refusal(self, request: EventsRequest) -> str | None:
        unknown = [k for k in request.kinds if k not in EVENT_KINDS]
        if unknown:
            return (f"unknown event kind(s) {', '.join(map(repr, unknown))} "
                    f"(kinds: {', '.join(EVENT_KINDS)})")
        jails = self.jails()
        if request.jail is not None and request.jail not in jails:
            known = ", ".join(sorted(jails)) or "none"
            return f"Sorry but the jail '{request.jail}' does not exist (jails: {known})"
        return None

    async def _write(self, writer: asyncio.StreamWriter, sub: Subscriber) -> None:
        """Send what ``sub`` has buffered, a dropped notice first if it lost events."""
        chunks: list[bytes] = []
        if sub.dropped != sub.reported:
            sub.reported = sub.dropped
            chunks.append(encode(DroppedEvent(self.seq, self.clock(), sub.dropped)))
        while sub.buffer:
            chunks.append(encode(sub.buffer.popleft()))
        writer.write(b"".join(chunks))
        await writer.drain()
