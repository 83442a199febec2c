"""One host's link to the fleet: publish its decisions, consume the others', keep going when
Redis is away.

- **Publishing** goes through the outbox (a table of the host's own store, see
  :class:`Outbox`): :meth:`Link.share` queues entries durably and wakes the publisher, which
  sends the oldest batch as one pipeline and drops it from the outbox only once Redis took
  it. While Redis is away entries wait there, and are sent in order on reconnect.
- **Consuming** reads every jail's stream with one blocking ``XREAD`` from the last ID the
  host read (kept in the store, so a host that was down catches up), refuses entries that do
  not validate (:func:`warden.fleet.entry.decode`), skips its own and those already expired,
  and hands the rest to the daemon's ``apply`` callback.
- **Redis away:** every loop retries with exponential backoff; the link logs one line when
  it goes down and one when it is back, not one per attempt.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from warden.fleet.client import FleetClient, FleetUnavailable
from warden.fleet.entry import BadEntry, FailureMark, FleetEntry, decode, outbox_fields

__all__ = ["Link", "LinkState", "Outbox"]

log = logging.getLogger("warden.fleet")

_BATCH = 1000  # entries per XADD pipeline and per XREAD: round trips are per batch
_MIN_BACKOFF = 0.25
_MAX_BACKOFF = 30.0
_HEARTBEAT = 5.0
_PEER_ALIVE = 60.0  # a host not seen for this long no longer counts as a peer
# Stream positions are saved at most this often (and when the link stops): each save is a
# commit with an fsync, and re-applying the entries of the last second after a crash is
# harmless, while an fsync per entry at 100 remote bans a second is not.
_SAVE_EVERY = 1.0
# After a short batch the consumer waits this long before reading again, so that entries
# arriving one by one are taken a few at a time: each read, store commit and firewall
# round costs the same for one entry as for fifty (measured in bench/bench_fleet_many.py).
_GATHER = 0.05


class Outbox(Protocol):
    """What the link keeps in the host's store (``warden.store.BanStore`` fits)."""

    def fleet_cursors(self) -> dict[str, str]: ...
    def save_fleet_cursors(self, cursors: Mapping[str, str]) -> None: ...
    def outbox_add(self, entries: Sequence[str]) -> None: ...
    def outbox(self, limit: int) -> list[tuple[int, str]]: ...
    def outbox_remove(self, through: int) -> None: ...
    def outbox_size(self) -> int: ...


@dataclass(slots=True)
class LinkState:
    """What ``status`` shows of the fleet: connected or not, the other hosts seen lately,
    how far (seconds) the host's reading is behind the newest entry, the outbox length and
    counts of entries published, applied and refused."""

    connected: bool = False
    peers: tuple[str, ...] = ()
    lag: float = 0.0
    outbox: int = 0
    published: int = 0
    applied: int = 0
    refused: int = 0
    last_error: str = ""
    newest: dict[str, str] = field(default_factory=dict)


def _id_ms(entry_id: str) -> int:
    head = entry_id.split("-", 1)[0]
    return int(head) if head.isdigit() else 0


class Link:
    """The fleet loops of one host (run :meth:`run` in the daemon's task group)."""

    def __init__(self, client: FleetClient, store: Outbox, name: str, *,
                 apply: Callable[[list[FleetEntry]], Awaitable[None]],
                 maxlen: int = 100_000, clock: Callable[[], float] = time.time,
                 shown: str = "redis") -> None:
        """Link host ``name`` to the fleet behind ``client``; entries of other hosts go to
        ``apply``; ``shown`` names Redis in logs (without a password)."""
        self.client = client
        self.store = store
        self.name = name
        self.apply = apply
        self.maxlen = maxlen
        self.clock = clock
        self.shown = shown
        self.state = LinkState(outbox=store.outbox_size())
        self._streams: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._up: bool | None = None  # None: not tried yet (the first state is logged too)
        self._unsaved: dict[str, str] = {}
        self._saved_at = 0.0

    # -- what the daemon calls --------------------------------------------------------------
    def follow(self, jails: Iterable[str]) -> None:
        """Read the streams of ``jails`` (and only those) from the last IDs the store has."""
        saved = self.store.fleet_cursors()
        wanted = {self.client.keys.stream(jail) for jail in jails}
        self._streams = {s: self._streams.get(s) or saved.get(s) or "0-0"
                         for s in sorted(wanted)}

    def share(self, entries: Sequence[FleetEntry]) -> None:
        """Queue ``entries`` for the fleet (durably, in the outbox) and wake the publisher."""
        if not entries:
            return
        self.store.outbox_add([entry.text() for entry in entries])
        self.state.outbox += len(entries)
        self._wake.set()

    async def count_failures(self, marks: Sequence[FailureMark]) -> list[int] | None:
        """The fleet-wide counts after adding ``marks``, or None while Redis is away (local
        counting goes on meanwhile)."""
        if not marks or not self._up:
            return None
        try:
            found = await self.client.count_failures(marks)
        except FleetUnavailable as exc:
            self._went(False, str(exc))
            return None
        return found

    async def run(self) -> None:
        """Publish, consume and keep the status current until cancelled."""
        try:
            async with asyncio.TaskGroup() as group:
                group.create_task(self._publisher(), name="fleet publish")
                group.create_task(self._consumer(), name="fleet consume")
                group.create_task(self._heartbeat(), name="fleet heartbeat")
        finally:
            self._save_cursors()
            await self.client.close()

    # -- state --------------------------------------------------------------------------------
    def _went(self, up: bool, why: str = "") -> None:
        self.state.connected = up
        if up == self._up:
            return
        self._up = up
        if up:
            log.info("fleet: connected to %s as %r", self.shown, self.name)
        else:
            self.state.last_error = why
            log.warning("fleet: %s unreachable (%s); local bans go on, shared ones wait in "
                        "the outbox and the link retries", self.shown, why)

    async def _retrying(self, step: Callable[[], Awaitable[bool]]) -> None:
        """Run ``step`` for ever: at once while it says there is more to do, after a pause
        when it says there is not, with growing pauses while Redis is away."""
        backoff = _MIN_BACKOFF
        while True:
            try:
                more = await step()
            except FleetUnavailable as exc:
                self._went(False, str(exc))
                await asyncio.sleep(backoff)
                backoff = min(_MAX_BACKOFF, backoff * 2)
                continue
            self._went(True)
            backoff = _MIN_BACKOFF
            if not more:
                return

    # -- publishing ---------------------------------------------------------------------------
    async def _publisher(self) -> None:
        while True:
            await self._retrying(self._publish_batch)
            self._wake.clear()
            if self.store.outbox_size():
                continue
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(_HEARTBEAT):
                    await self._wake.wait()

    async def _publish_batch(self) -> bool:
        rows = self.store.outbox(_BATCH)
        if not rows:
            return False
        batch: list[tuple[str, dict[str, str]]] = []
        for _seq, text in rows:
            try:
                batch.append(outbox_fields(text))
            except BadEntry as exc:  # written by this host: a bug, not an attack
                log.error("fleet: dropping an outbox entry that does not parse (%s)", exc)
        await self.client.publish(batch, self.maxlen)
        self.store.outbox_remove(rows[-1][0])
        self.state.published += len(batch)
        self.state.outbox = max(0, self.state.outbox - len(rows))
        return len(rows) == _BATCH

    # -- consuming ----------------------------------------------------------------------------
    async def _consumer(self) -> None:
        while True:
            if not self._streams:
                await asyncio.sleep(_HEARTBEAT)
                continue
            await self._retrying(self._consume_batch)
            await asyncio.sleep(_GATHER)

    async def _consume_batch(self) -> bool:
        items = await self.client.read(self._streams, _BATCH)
        if not items:
            return False
        now = self.clock()
        wanted: list[FleetEntry] = []
        moved: dict[str, str] = {}
        for stream, entry_id, raw in items:
            moved[stream] = entry_id
            try:
                entry = decode(raw)
            except BadEntry as exc:
                self.state.refused += 1
                log.warning("fleet: refused entry %s of %s: %s", entry_id, stream, exc)
                continue
            if entry.origin == self.name or entry.expired(now):
                continue
            if self.client.keys.stream(entry.jail) != stream:
                self.state.refused += 1
                log.warning("fleet: refused entry %s of %s: it names jail %r", entry_id,
                            stream, entry.jail)
                continue
            wanted.append(entry)
        if wanted:
            await self.apply(wanted)
            self.state.applied += len(wanted)
        for stream, entry_id in moved.items():
            if stream in self._streams:
                self._streams[stream] = entry_id
        # saved after applying: a crash in between re-applies entries, which is harmless
        self._unsaved.update(moved)
        if asyncio.get_running_loop().time() - self._saved_at >= _SAVE_EVERY:
            self._save_cursors()
        self._update_lag()
        # a full batch: read on at once; else caught up, gather a moment before reading on
        return len(items) >= _BATCH

    def _save_cursors(self) -> None:
        if self._unsaved:
            self.store.save_fleet_cursors(self._unsaved)
            self._unsaved = {}
        with contextlib.suppress(RuntimeError):  # no loop: stopping
            self._saved_at = asyncio.get_running_loop().time()

    # -- status -------------------------------------------------------------------------------
    async def _heartbeat(self) -> None:
        while True:
            await self._retrying(self._beat)
            await asyncio.sleep(_HEARTBEAT)

    async def _beat(self) -> bool:
        self._save_cursors()  # a quiet stream's last entries are saved within a heartbeat
        now = self.clock()
        peers = await self.client.seen(self.name, now)
        self.state.peers = tuple(sorted(host for host, when in peers.items()
                                        if host != self.name and now - when < _PEER_ALIVE))
        self.state.newest = await self.client.last_ids(list(self._streams))
        self._update_lag()
        return False

    def _update_lag(self) -> None:
        behind = [(_id_ms(newest) - _id_ms(self._streams.get(stream, "0-0"))) / 1000.0
                  for stream, newest in self.state.newest.items()]
        self.state.lag = max([0.0, *behind])
