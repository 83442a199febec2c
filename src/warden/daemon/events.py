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
import dataclasses
import json
import logging
from collections import deque
from collections.abc import Callable, Collection, Iterable, Sequence

from warden.core.decisions import Ban, Unban
from warden.protocol import PROTOCOL_VERSION, EventsRequest, FailedReply, encode
from warden.protocol.events import (
    EVENT_KINDS,
    EVENT_TYPES,
    BanEvent,
    DroppedEvent,
    Event,
    FailureEvent,
    SourceEvent,
    UnbanEvent,
)
from warden.sources.base import SourceStatus

__all__ = ["BUFFER", "RECENT", "EventHub", "Subscriber", "build_event", "event_line"]

log = logging.getLogger("warden.events")

#: events a subscriber's buffer holds before new ones are dropped
BUFFER = 4096
#: recent events kept for a reader that connects (``warden events`` without --follow)
RECENT = 200

#: a source's states by (source, path): (state, error)
_States = dict[tuple[str, str], tuple[str, str]]
#: an event as it is kept until a reader is sent it: (kind, jail or None, seq, time, what,
#: cause). Building the typed event (and formatting the address) waits for a reader, so a
#: burst of bans nobody reads costs a tuple each.
_Raw = tuple[str, str | None, int, float, object, str]


# events are flat records of plain values: their lines are written without the codec's
# general walk (a third of the cost), byte for byte what warden.protocol.encode writes
_FIELDS = {cls: tuple(f.name for f in dataclasses.fields(cls)) for cls in EVENT_TYPES}
_dumps = json.JSONEncoder(separators=(",", ":")).encode


def event_line(event: Event) -> bytes:
    """``encode(event)``, faster."""
    data: dict[str, object] = {"v": PROTOCOL_VERSION, "kind": event.kind}
    for name in _FIELDS[type(event)]:
        data[name] = getattr(event, name)
    return _dumps(data).encode() + b"\n"


def build_event(raw: _Raw) -> Event:
    """The typed event for a kept record (see ``_Raw``)."""
    _kind, jail, seq, now, item, cause = raw
    if isinstance(item, Ban):
        return BanEvent(seq, now, item.jail, item.address, item.until, item.bantime,
                        item.count, item.failures, cause, item.members, item.trusted)
    if isinstance(item, Unban):
        return UnbanEvent(seq, now, item.jail, item.address, cause)
    if isinstance(item, SourceEvent):
        return item
    assert isinstance(item, tuple) and jail is not None, raw
    return FailureEvent(seq, now, jail, item[0], item[1])


class Subscriber:
    """One reader: what it wants, its buffer and what it lost."""

    def __init__(self, jail: str | None, kinds: Iterable[str], capacity: int) -> None:
        self.jail = jail
        self.kinds = frozenset(kinds)
        self.capacity = capacity
        self.buffer: deque[_Raw] = deque()
        self.dropped = 0
        self.reported = 0
        self.wake = asyncio.Event()

    def wants(self, event: _Raw) -> bool:
        """True if ``event`` is of a kind and jail this reader asked for (source events are
        of every jail)."""
        if self.kinds and event[0] not in self.kinds:
            return False
        return self.jail is None or event[1] is None or event[1] == self.jail

    def offer(self, event: _Raw) -> None:
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
        self._recent: deque[_Raw] = deque(maxlen=recent)
        self.seq = 0
        #: events lost by every subscriber so far (the metrics' warden_events_dropped_total)
        self.dropped = 0
        self._sources: _States | None = None

    @property
    def wants_failures(self) -> bool:
        """True while a subscriber wants failure events."""
        return any(not s.kinds or "failure" in s.kinds for s in self.subscribers)

    def recent(self) -> list[Event]:
        """The recent events, oldest first."""
        return [build_event(raw) for raw in self._recent]

    # -- publishing -------------------------------------------------------------------------
    def _publish(self, raw: _Raw) -> None:
        self._recent.append(raw)
        for sub in self.subscribers:
            if sub.wants(raw):
                before = sub.dropped
                sub.offer(raw)
                self.dropped += sub.dropped - before

    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban], cause: str) -> None:
        """Ban and unban events (the runtime's observer call)."""
        now = self.clock()
        publish = self._publish
        for unban in unbans:
            self.seq += 1
            publish(("unban", unban.jail, self.seq, now, unban,
                     "expired" if unban.reason == "expired" else cause))
        for ban in bans:
            self.seq += 1
            publish(("ban", ban.jail, self.seq, now, ban, cause))

    def stored(self, seconds: float, ok: bool) -> None:
        """Not an event (the metrics count store writes)."""

    def failures(self, jail: str, found: Sequence[tuple[str, float]]) -> None:
        """Failure events (the runtime's observer call, while :attr:`wants_failures`)."""
        now = self.clock()
        publish = self._publish
        for item in found:
            self.seq += 1
            publish(("failure", jail, self.seq, now, item, ""))

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
                    self.seq += 1
                    event = SourceEvent(self.seq, self.clock(), source, path, state, error)
                    self._publish(("source", None, event.seq, event.time, event, ""))
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
        for raw in self._recent:
            if sub.wants(raw):
                sub.offer(raw)
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
                        await asyncio.wait({woken})  # never raises, and leaves no task
            finally:
                gone.cancel()
                await asyncio.wait({gone})
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
            chunks.append(event_line(DroppedEvent(self.seq, self.clock(), sub.dropped)))
        while sub.buffer:
            chunks.append(event_line(build_event(sub.buffer.popleft())))
        writer.write(b"".join(chunks))
        await writer.drain()
