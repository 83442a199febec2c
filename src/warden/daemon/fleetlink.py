"""The daemon's side of the fleet: what to share, and remote decisions carried out like
local ones.

- Every ban and unban the runtime carries out (found in a log or typed by hand) of a jail
  with ``fleet = bans|both`` is queued for the fleet (:meth:`FleetLink.decided`); restored
  bans, expiries and raw ids (no address) are not.
- Entries of other hosts take the path of a local ban (:meth:`FleetLink.apply`): the jail's
  own state, then the runtime's ``carry_out`` (store first, then the firewall batch), never
  shared again. The receiving host's ``ignoreip``/``ignoreself`` win, and so do its own and
  loopback addresses whatever ``ignoreself`` says: a fleet cannot lock a host out of itself.
- Jails with ``fleet = failures|both`` add each failure to the fleet-wide window; when the
  count reaches ``maxretry`` on this host (the one that saw the last failure) it bans, and
  the ban is shared as any other.

redis-py is an optional extra: without it a host with ``[Fleet]`` runs alone and says so.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from warden.config.fleet import FleetConfig, fleet_mode
from warden.core.addr import Network, format_target, parse_network
from warden.core.banguard import danger
from warden.core.decisions import Ban, Decision, Unban
from warden.daemon.runtime import Runtime
from warden.fleet.entry import FailureMark, FleetEntry

if TYPE_CHECKING:  # the link needs redis-py, imported only when a fleet is configured
    from warden.fleet.link import Link, LinkState

__all__ = ["FleetLink", "open_fleet"]

log = logging.getLogger("warden.fleet")

_SHARES_BANS = ("bans", "both")
_SHARES_FAILURES = ("failures", "both")
_COLLECT_EVERY = 0.2  # seconds between rounds of collecting failures to count fleet-wide


class FleetLink:
    """The link of one daemon to its fleet (run :meth:`run` in the daemon's task group)."""

    def __init__(self, fleet: FleetConfig, runtime: Runtime,
                 make_link: Callable[[FleetLink], Link], *,
                 own: Callable[[], Sequence[Network]] = tuple,
                 clock: Callable[[], float] = time.time) -> None:
        """``make_link`` builds the Redis link that hands remote entries to :meth:`apply`;
        ``own`` gives the host's own addresses (never banned from the fleet)."""
        self.fleet = fleet
        self.runtime = runtime
        self.own = own
        self.clock = clock
        #: who decided each ban taken from the fleet, by (jail, address); kept in the store,
        #: so a restart still names the origin of the remote bans it restores
        self.origins: dict[tuple[str, str], str] = self._stored_origins()
        self._sequence = 0
        self._jails: tuple[str, ...] = ()
        self.link = make_link(self)
        runtime.on_decided = self.decided

    def _stored_origins(self) -> dict[tuple[str, str], str]:
        store = self.runtime.store
        try:
            stored = store.fleet_origins()
            active = {ban.key for ban in store.active_bans(self.clock())}
        except (sqlite3.Error, OSError) as exc:
            log.error("fleet: the origins of remote bans cannot be read (%s)", exc)
            return {}
        ended: dict[tuple[str, str], str | None] = {key: None for key in stored
                                                    if key not in active}
        self._save_origins(ended)
        return {key: host for key, host in stored.items() if key in active}

    def _save_origins(self, changes: dict[tuple[str, str], str | None]) -> None:
        try:
            self.runtime.store.save_fleet_origins(changes)
        except (sqlite3.Error, OSError) as exc:
            log.error("fleet: the origins of %d remote ban(s) cannot be recorded (%s)",
                      len(changes), exc)

    @property
    def state(self) -> LinkState:
        """Connected or not, peers, lag, outbox length (for status)."""
        return self.link.state

    def _mode(self, jail: str) -> str:
        slot = self.runtime.slots.get(jail)
        return fleet_mode(slot.config, self.fleet) if slot is not None else "none"

    # -- local decisions -> fleet ---------------------------------------------------------------
    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban]) -> None:
        """Queue the shareable ones of ``bans`` and ``unbans`` (just recorded) for the fleet."""
        name = self.fleet.name
        entries = [FleetEntry("unban", u.jail, u.ip, u.time, None, 0, name) for u in unbans
                   if u.reason != "expired" and not isinstance(u.ip, str)
                   and self._mode(u.jail) in _SHARES_BANS]
        entries += [FleetEntry("ban", b.jail, b.ip, b.time, b.until, b.count, name,
                               b.members, len(b.members))
                    for b in bans if not b.restored and not isinstance(b.ip, str)
                    and self._mode(b.jail) in _SHARES_BANS]
        dropped: dict[tuple[str, str], str | None] = {}
        for entry in entries:
            if self.origins.pop((entry.jail, entry.addr), None) is not None:
                dropped[(entry.jail, entry.addr)] = None
        if dropped:
            self._save_origins(dropped)
        try:
            self.link.share(entries)
        except (sqlite3.Error, OSError) as exc:
            log.error("fleet: the outbox cannot be written (%s): %d decision(s) are enforced "
                      "here but not shared", exc, len(entries))

    # -- fleet -> this host ----------------------------------------------------------------------
    async def apply(self, entries: list[FleetEntry]) -> None:
        """Carry out other hosts' entries as local decisions (not shared again)."""
        now = self.clock()
        own = tuple(self.own())
        decisions: list[Decision] = []
        origins: set[str] = set()
        changes: dict[tuple[str, str], str | None] = {}
        for entry in entries:
            slot = self.runtime.slots.get(entry.jail)
            if slot is None or self._mode(entry.jail) not in _SHARES_BANS:
                continue
            key = (entry.jail, entry.addr)
            if entry.op == "unban":
                decisions += slot.jail.unban(entry.target, now)
                if self.origins.pop(key, None) is not None:
                    changes[key] = None
                origins.add(entry.origin)
                continue
            # ignoreip wins over a network: one holding an ignored address is not banned
            why = ("it is in ignoreip/ignoreself" if entry.target in slot.jail.ignore
                   else "it holds an address of ignoreip/ignoreself"
                   if slot.jail.ignore and slot.jail.ignore.overlaps(entry.target)
                   else danger(entry.target, own))
            if why is not None:
                log.info("fleet: [%s] not banning %s from %s: %s", entry.jail, entry.addr,
                         entry.origin, why)
                continue
            bantime = -1.0 if entry.end is None else entry.end - now
            # an escalated network keeps its members: logged ("Escalate"), explained, stored
            found = slot.jail.ban(entry.target, now, bantime, members=entry.members)
            if found:
                decisions += found
                self.origins[key] = entry.origin
                changes[key] = entry.origin
                origins.add(entry.origin)
        if decisions:
            await self.runtime.carry_out(decisions, share=False)
        if changes:
            self._save_origins(changes)
            log.info("fleet: carried out %d decision(s) of %s", len(decisions),
                     ", ".join(sorted(origins)))

    # -- failures counted fleet-wide ------------------------------------------------------------
    async def _count_failures(self) -> None:
        marks: list[FailureMark] = []
        for name, running in list(self.runtime.slots.items()):
            if self._mode(name) not in _SHARES_FAILURES:
                continue
            cfg = running.config
            for fid, at in self.runtime.collect_failures(running.jail):
                self._sequence += 1
                # counted fleet-wide under the jail's own key (its /64 with countprefix6)
                marks.append(FailureMark(name, running.jail.count_key(fid), at,
                                         f"{self.fleet.name}:{self._sequence}",
                                         cfg.findtime, cfg.maxretry))
        counts = await self.link.count_failures(marks)
        if not counts:
            return
        now = self.clock()
        decisions: list[Decision] = []
        for mark, count in zip(marks, counts, strict=True):
            slot = self.runtime.slots.get(mark.jail)
            if slot is None or count < slot.config.maxretry or slot.jail.is_banned(mark.addr):
                continue
            target = parse_network(mark.addr)
            if target is None or target in slot.jail.ignore or danger(target, self.own()) or (
                    slot.jail.ignore and slot.jail.ignore.overlaps(target)):
                continue
            found = slot.jail.ban(target, now)
            if found:
                log.info("fleet: [%s] %s failed %d times across the fleet", mark.jail,
                         format_target(target), count)
                decisions += found
        if decisions:
            await self.runtime.carry_out(decisions)

    async def _watch(self) -> None:
        while True:
            jails = tuple(sorted(n for n in self.runtime.slots if self._mode(n) in _SHARES_BANS))
            if jails != self._jails:  # started, or a reload changed the jails
                self._jails = jails
                self.link.follow(jails)
            await self._count_failures()
            await asyncio.sleep(_COLLECT_EVERY)

    async def run(self) -> None:
        """Run the link and the failure counting until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.link.run(), name="fleet link")
            group.create_task(self._watch(), name="fleet watch")


def _password(fleet: FleetConfig) -> str | None:
    if fleet.password_file is None:
        return None
    with open(Path(fleet.password_file), encoding="utf-8") as stream:
        return stream.readline().rstrip("\r\n")


def open_fleet(fleet: FleetConfig | None, runtime: Runtime, *,
               own: Callable[[], Sequence[Network]] = tuple,
               clock: Callable[[], float] = time.time) -> FleetLink | None:
    """The fleet link for ``fleet`` (None without one, or when it cannot run: said in the
    log, and the host runs alone)."""
    if fleet is None:
        return None
    try:
        # redis-py is an optional extra: imported only by a host in a fleet
        from warden.fleet.client import Endpoint, FleetClient  # noqa: PLC0415
        from warden.fleet.link import Link  # noqa: PLC0415
    except ImportError:
        log.error("fleet: [Fleet] is set but redis-py is not installed (pip install "
                  "'warden-ips[fleet]'); this host runs without the fleet")
        return None
    try:
        password = _password(fleet)
    except OSError as exc:
        log.error("fleet: cannot read password_file %s (%s); this host runs without the "
                  "fleet", fleet.password_file, exc.strerror)
        return None
    endpoint = Endpoint(fleet.redis, password, fleet.sentinels, fleet.service, fleet.cafile,
                        fleet.certfile, fleet.keyfile)

    def make_link(owner: FleetLink) -> Link:
        return Link(FleetClient(endpoint), runtime.store, fleet.name, apply=owner.apply,
                    maxlen=fleet.maxlen, clock=clock, shown=fleet.shown)

    return FleetLink(fleet, runtime, make_link, own=own, clock=clock)
