"""The running jails: lines in, decisions carried out (store first, then the firewall).

One :class:`Runtime` owns the jails (:class:`warden.core.jail.Jail`), the ban store and the
enforcer. Log batches arrive through :meth:`Runtime.on_batch`; each line is offered to every
jail that watches its file. What the jails decide is carried out in one place,
:meth:`Runtime.carry_out`: bans are written to the store in one transaction per batch and only
then handed to the enforcer; unbans likewise. DNS look-ups and ``ignorecommand`` answers the
jails ask for run as tasks of the daemon's task group, never on the detection path.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import gc
import logging
import os
import shlex
import socket
import sqlite3
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from warden.backends.base import BanEntry, UnbanEntry
from warden.backends.shellvars import splice_variables, variable_name
from warden.config import JailConfig
from warden.core.addr import Network, parse_network
from warden.core.decisions import Ban, CheckIgnore, Decision, ResolveHost, Unban
from warden.core.history import BanHistory
from warden.core.jail import Jail
from warden.daemon.enforcer import Enforcer
from warden.daemon.logtarget import NOTICE
from warden.daemon.workerproto import Answer
from warden.daemon.workers import Workers
from warden.sources.base import LogBatch
from warden.store import BanStore, PositionData, StoredBan, TrustEntry

__all__ = ["JailSlot", "Observer", "Runtime"]

log = logging.getLogger("warden.jail")
# ban and unban lines: the log shows them as fail2ban.actions, which recidive reads
actions_log = logging.getLogger("warden.actions")

# How long an ignorecommand may run before its failure counts as not ignored.
_IGNORE_TIMEOUT = 10.0


@dataclass(slots=True)
class JailSlot:
    """One running jail: its configuration and its state machine."""

    config: JailConfig
    jail: Jail
    patterns: tuple[str, ...] = field(default=())

    def watches(self, path: str) -> bool:
        """True if one of the jail's ``logpath`` patterns names ``path``."""
        return any(p == path or fnmatch.fnmatchcase(path, p) for p in self.patterns)


class Observer(Protocol):
    """What metrics and the event stream are told by the runtime (a few calls per batch)."""

    @property
    def wants_failures(self) -> bool:
        """True while someone wants each counted failure (:meth:`failures`)."""

    def decided(self, bans: Sequence[Ban], unbans: Sequence[Unban], cause: str) -> None:
        """Bans and unbans carried out; ``cause`` is ``local``, ``manual`` or ``fleet``
        (an unban's own ``reason`` says ``expired``)."""

    def stored(self, seconds: float, ok: bool) -> None:
        """One store transaction took ``seconds`` (``ok``: it was written)."""

    def failures(self, jail: str, found: Sequence[tuple[str, float]]) -> None:
        """Failures (id, log time) counted in ``jail`` since the last call."""


class Runtime:
    """The jails of a daemon and the carrying out of their decisions."""

    def __init__(self, store: BanStore, enforcer: Enforcer, *,
                 history: BanHistory | None = None,
                 clock: Callable[[], float] = time.time, dbmaxmatches: int = 0) -> None:
        """``dbmaxmatches``: how many of a ban's matched lines the store keeps (the latest)."""
        self.store = store
        self.dbmaxmatches = dbmaxmatches
        self.enforcer = enforcer
        self.history = history if history is not None else BanHistory()
        self.clock = clock
        self.slots: dict[str, JailSlot] = {}
        self.positions: dict[str, PositionData] = {}
        self._by_file: dict[str, tuple[Jail, ...]] = {}
        self._wake = asyncio.Event()
        self._side_tasks: set[asyncio.Task[None]] = set()
        self.task_group: asyncio.TaskGroup | None = None
        #: told of the bans and unbans carried out with ``share`` (the fleet link shares them)
        self.on_decided: Callable[[Sequence[Ban], Sequence[Unban]], None] | None = None
        #: told what is carried out (metrics, events)
        self.observers: list[Observer] = []
        #: lines read per source (path or ``journal``), counted per batch
        self.lines_read: dict[str, int] = {}
        # jails whose counted failures are collected after every batch (once started, a
        # jail's collecting never stops) and those of them the fleet collects too
        self._tapped: set[str] = set()
        self._fleet_taps: dict[str, list[tuple[str, float]]] = {}
        #: worker processes running the filters of busy jails (``workers``; None: no workers)
        self.workers: Workers | None = None

    def use_workers(self, limit: int) -> None:
        """Scan the lines of up to ``limit`` jails reading files in worker processes
        (:mod:`warden.daemon.workers`; 0: none, every line is scanned here)."""
        self.workers = Workers(limit, self.count_scanned, self._start_task) if limit else None

    def _start_task(self, coro: Coroutine[object, object, None]) -> asyncio.Task[None]:
        assert self.task_group is not None
        return self.task_group.create_task(coro, name="worker")

    # -- jails -------------------------------------------------------------------------------
    def add_jail(self, slot: JailSlot) -> None:
        """Run ``slot`` (replacing a jail of the same name)."""
        self.slots[slot.config.name] = slot
        self._by_file.clear()

    def remove_jail(self, name: str) -> JailSlot | None:
        """Stop running the jail ``name`` (its logins since the last save are saved: a
        rebuilt jail takes them back from the store)."""
        self._by_file.clear()
        slot = self.slots.pop(name, None)
        if slot is not None:
            self._save_trust([slot.jail])
        return slot

    def jails_for(self, path: str) -> tuple[Jail, ...]:
        """The jails watching the file ``path`` (cached until the jails change)."""
        found = self._by_file.get(path)
        if found is None:
            found = tuple(s.jail for s in self.slots.values() if s.watches(path))
            if self.workers is not None:  # the jails changed: stop the workers of gone ones
                self.workers.forget([s.jail for s in self.slots.values()])
            self._by_file[path] = found
        return found

    # -- lines -------------------------------------------------------------------------------
    async def on_batch(self, batch: LogBatch, jails: tuple[Jail, ...] | None = None) -> None:
        """Offer every line of ``batch`` to the jails of its file (or to ``jails``: a journal
        source serves one jail); carry out the decisions."""
        if jails is None:
            jails = self.jails_for(batch.source)
            workers = self.workers
            if workers is not None and batch.times is None and self.task_group is not None:
                if _independent(jails) and workers.takes(jails):
                    self.lines_read[batch.source] = \
                        self.lines_read.get(batch.source, 0) + len(batch.lines)
                    await workers.submit(batch, jails, self.clock(), self._scanned)
                    return
                await workers.drain()  # the lines of a file are counted in order
        self.lines_read[batch.source] = self.lines_read.get(batch.source, 0) + len(batch.lines)
        now = self.clock()
        if jails:
            await self._counting(jails, lambda out: self._feed(batch, jails, now, out))
        if batch.position is not None:
            key = batch.source if batch.times is None else f"journal:{jails[0].name}" \
                if jails else batch.source
            self.positions[key] = batch.position.as_dict()

    async def count_scanned(self, jail: Jail, batch: LogBatch, answer: Answer,
                            now: float) -> None:
        """Count what a worker found in ``batch`` for ``jail`` as :meth:`Jail.feed_lines`
        counts it, with the lines its filters matched and ignored, and carry out the
        decisions (nothing if the jail stopped meanwhile or is idle)."""
        slot = self.slots.get(jail.name)
        if slot is None or slot.jail is not jail or jail.idle:
            return
        jail.add_line_counts(answer.matched, answer.ignored)

        def count(decisions: list[Decision]) -> None:
            add = jail.add_failure
            for _index, kind, item in answer.found:
                if kind:
                    jail.add_success(item, now)
                else:
                    add(item, now, decisions)

        await self._counting((jail,), count)

    async def _counting(self, jails: tuple[Jail, ...],
                        count: Callable[[list[Decision]], None]) -> None:
        """Run ``count``, which adds the decisions of ``jails`` to the list it is given, with
        the failure tap around it (events, metrics) and the cycle collector resting, then
        carry out the decisions (for on_batch and count_scanned alike)."""
        decisions: list[Decision] = []
        tap = bool(self._tapped) or any(o.wants_failures for o in self.observers)
        if tap and not self._tapped.issuperset(j.name for j in jails):
            self._tap(jails)  # start collecting before these lines are counted
        # The jails make no reference cycles: the cycle collector would only walk their
        # (large) state again and again while a burst is read (about 10% of the time).
        collecting = gc.isenabled()
        gc.disable()
        try:
            count(decisions)
        finally:
            if collecting:
                gc.enable()
        if tap:
            self._tap(jails)
        if decisions:
            await self.carry_out(decisions)
            # A source with a backlog hands out batches without ever suspending: let the
            # enforcer start committing these bans (in its thread) while we read on.
            await asyncio.sleep(0)

    def _scanned(self, batch: LogBatch) -> None:
        # every jail of the file counted the batch (its bans are in the store): its
        # position may be stored
        if batch.position is not None:
            self.positions[batch.source] = batch.position.as_dict()

    @staticmethod
    def _feed(batch: LogBatch, jails: tuple[Jail, ...], now: float,
              decisions: list[Decision]) -> None:
        times = batch.times
        if times is None and _independent(jails):
            # a file's lines carry their dates: each jail takes the whole batch at once
            for jail in jails:
                decisions.extend(jail.feed_lines(batch.lines, now))
            return
        for i, line in enumerate(batch.lines):
            at = times[i] if times is not None else now
            for jail in jails:
                found = jail.feed(line, at)
                if found:
                    decisions.extend(found)

    def _tap(self, jails: Iterable[Jail]) -> None:
        wanted = [o for o in self.observers if o.wants_failures]
        for jail in jails:
            self._tapped.add(jail.name)
            found = jail.collect_failures()
            if not found:
                continue
            stash = self._fleet_taps.get(jail.name)
            if stash is not None:
                stash.extend(found)
            for observer in wanted:
                observer.failures(jail.name, found)

    def collect_failures(self, jail: Jail) -> list[tuple[str, float]]:
        """:meth:`Jail.collect_failures` for the fleet, which shares them with the event
        stream (the runtime may have collected some of them after a batch)."""
        stash = self._fleet_taps.setdefault(jail.name, [])
        found = [*stash, *jail.collect_failures()]
        stash.clear()
        return found

    # -- decisions ---------------------------------------------------------------------------
    async def carry_out(self, decisions: Sequence[Decision], *, wait: bool = False,
                        share: bool = True) -> None:
        """Record then enforce ``decisions``; start the look-ups they ask for.

        With ``wait`` return only once the firewall has the changes (manual commands);
        without ``share`` they are not handed to ``on_decided`` (they came from the fleet).
        """
        bans = [d for d in decisions if isinstance(d, Ban)]
        unbans = [d for d in decisions if isinstance(d, Unban)]
        texts = [b.address for b in bans]  # formatted once, for the store and the log
        started = time.perf_counter()
        try:
            self._record(bans, unbans, texts)
        except (sqlite3.Error, OSError) as exc:
            # The firewall still gets the bans: losing state is bad, letting hosts in is worse.
            log.error("state database write failed (%s): %d ban(s) and %d unban(s) are "
                      "enforced but will not survive a restart", exc, len(bans), len(unbans))
            self._observe(bans, unbans, share=share, wait=wait,
                          seconds=time.perf_counter() - started, ok=False)
        else:
            self._observe(bans, unbans, share=share, wait=wait,
                          seconds=time.perf_counter() - started, ok=True)
        if share and self.on_decided is not None and (bans or unbans):
            self.on_decided(bans, unbans)
        # Networks go to the firewall as they are (no text round trip); raw ids (a user
        # name as <F-ID>) have no address and cannot be enforced.
        done = None
        if bans or unbans:
            done = self.enforcer.submit(
                [BanEntry(b.jail, b.ip, b.until, _info(b)) for b in bans
                 if not isinstance(b.ip, str)],
                [UnbanEntry(u.jail, u.ip) for u in unbans if not isinstance(u.ip, str)])
            self._wake.set()
        # Logged once the firewall has the batch, so a burst of ban lines (every one is
        # logged: recidive reads them) never delays enforcement.
        for unban in unbans:
            actions_log.log(NOTICE, "[%s] Unban %s", unban.jail, unban.address)
        for ban, text in zip(bans, texts, strict=True):
            word = "Restore Ban" if ban.restored else ("Prolong" if ban.prolonged else "Ban")
            actions_log.log(NOTICE, "[%s] %s %s", ban.jail, word, text)
            if ban.members:
                actions_log.log(NOTICE, "[%s] Escalate %s: %d of its addresses banned within "
                                "findtime (%s)", ban.jail, text, len(ban.members),
                                ", ".join(ban.members))
        if wait and done is not None:
            await done
        for decision in decisions:
            if isinstance(decision, ResolveHost | CheckIgnore):
                self._spawn(self._answer(decision))

    def _observe(self, bans: list[Ban], unbans: list[Unban], *, share: bool, wait: bool,
                 seconds: float, ok: bool) -> None:
        if not self.observers or not (bans or unbans):
            return
        cause = "fleet" if not share else "manual" if wait else "local"
        for observer in self.observers:
            observer.stored(seconds, ok)
            observer.decided(bans, unbans, cause)

    def _record(self, bans: list[Ban], unbans: list[Unban], texts: list[str]) -> None:
        if unbans:
            # Every end is recorded with its time: after a restart it is what allows removing
            # a kernel element the store ended (anything else the kernel holds is adopted).
            at = max(u.time for u in unbans)
            forget = [(u.jail, u.address) for u in unbans if u.reason != "expired"]
            ended = [(u.jail, u.address) for u in unbans if u.reason == "expired"]
            if forget:
                self.store.remove_bans(forget, forget=True, at=at)
            if ended:
                self.store.remove_bans(ended, at=at)
        if bans:
            # Durable first: a ban the firewall has is a ban the store has.
            keep = self.dbmaxmatches
            # (a ban with no failure behind it was made by hand or came from the fleet)
            self.store.add_bans([StoredBan(b.jail, text, b.time, b.bantime, b.count,
                                           b.matches[-keep:] if keep else (), b.members,
                                           counted=b.failures > 0)
                                 for b, text in zip(bans, texts, strict=True)])

    def _spawn(self, coro: Coroutine[object, object, None]) -> None:
        group = self.task_group
        if group is None:  # not serving (tests of the pipeline alone): nothing to wait for
            coro.close()
            return
        task = group.create_task(coro)
        self._side_tasks.add(task)
        task.add_done_callback(self._side_tasks.discard)

    async def _answer(self, question: ResolveHost | CheckIgnore) -> None:
        slot = self.slots.get(question.jail)
        if slot is None:
            return
        if isinstance(question, ResolveHost):
            addresses = await resolve_host(question.host)
            if question.warn:
                log.warning("[%s] Determined IP using DNS Lookup: %s = %s", question.jail,
                            question.host, [str(a) for a in addresses])
            decisions = slot.jail.resolved(question.host, addresses, self.clock())
        else:
            ignored = await run_ignorecommand(slot.config.ignorecommand or "", question)
            decisions = slot.jail.ignore_answer(question.key, ignored, self.clock())
        if decisions:
            await self.carry_out(decisions)

    # -- time --------------------------------------------------------------------------------
    def expire(self) -> list[Unban]:
        """Ask every jail for the bans that ended now."""
        now = self.clock()
        out: list[Unban] = []
        for slot in self.slots.values():
            out.extend(slot.jail.expire(now))
        return out

    def next_expiry(self) -> float | None:
        """The earliest end of any ban."""
        ends = [e for s in self.slots.values() if (e := s.jail.next_expiry()) is not None]
        return min(ends) if ends else None

    async def expiry_loop(self, *, idle: float = 5.0) -> None:
        """Unban what ends, when it ends; save the log positions now and then."""
        while True:
            unbans = self.expire()
            if unbans:
                await self.carry_out(unbans)
            self.save_trust()
            self.save_positions()
            nxt = self.next_expiry()
            delay = idle if nxt is None else min(idle, max(0.0, nxt - self.clock()) + 0.01)
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):  # not wait_for (see enforcer._call)
                    await self._wake.wait()

    def save_positions(self) -> None:
        """Write the positions of the lines handled so far to the store."""
        if self.positions:
            try:
                self.store.save_positions(self.positions)
            except (sqlite3.Error, OSError) as exc:
                log.error("state database write failed (%s): log positions kept in memory", exc)
                return
            self.positions = {}

    def save_trust(self) -> None:
        """Write the logins the trusting jails noted since the last save to the store (and
        drop the logins no jail trusts any more), before the log positions that follow
        them: after a crash, the lines read again note them again."""
        self._save_trust([s.jail for s in self.slots.values()])

    def _save_trust(self, jails: Iterable[Jail]) -> None:
        trusting = [j for j in jails if j.trust is not None]
        if not trusting:
            return
        entries = [TrustEntry(j.name, key, at) for j in trusting for key, at in j.collect_trust()]
        if not entries:
            return  # nothing new (old logins are dropped with the next ones)
        longest = max((s.jail.trust.duration for s in self.slots.values()
                       if s.jail.trust is not None), default=0.0)
        before = self.clock() - longest if longest else None
        try:
            self.store.save_trust(entries, before)
        except (sqlite3.Error, OSError) as exc:
            log.error("state database write failed (%s): %d login(s) are trusted but will "
                      "not be after a restart", exc, len(entries))

    # -- start -------------------------------------------------------------------------------
    def restore(self, slot: JailSlot, active: Iterable[StoredBan]) -> list[Ban]:
        """Give ``slot`` back its bans that are still active (from the store), the
        escalation groups of its recent bans and the logins it trusts."""
        jail = slot.jail
        now = self.clock()
        mine = [b for b in active if b.jail == slot.config.name]
        recent: list[StoredBan] = []
        if jail.escalator is not None:
            recent = self.store.load_history(now - jail.spec.findtime)
        members = {b.addr: b.members for b in mine if b.members}
        restored = jail.restore(mine, now, members=members, recent=recent)
        if jail.trust is not None:
            self._save_trust([jail])  # its own collecting starts here
            logins = [(e.key, e.time) for e in self.store.trust(now - jail.trust.duration)
                      if e.jail == jail.name]
            jail.restore_trust(logins, now)
        return restored


def _independent(jails: Sequence[Jail]) -> bool:
    """True if the jails' decisions do not depend on the order in which they see lines: one
    jail, or none whose ban times count the bans of the others (``bantime.overalljails``)."""
    return len(jails) == 1 or not any(j.spec.increment.overalljails for j in jails)


def _info(ban: Ban) -> dict[str, object]:
    # what command actions may use (warden.backends.commandaction.action_info)
    return {"failures": ban.failures, "matches": ban.matches, "bantime": ban.bantime,
            "restored": ban.restored, "bancount": ban.count, "time": ban.time,
            "fields": dict(ban.fields)}


def resolved_networks(infos: Iterable[tuple[Any, ...]]) -> list[Network]:
    """The distinct addresses of ``getaddrinfo`` answers, in their order."""
    out: list[Network] = []
    for info in infos:
        net = parse_network(str(info[4][0]))
        if net is not None and net not in out:
            out.append(net)
    return out


async def resolve_host(host: str) -> list[Network]:
    """The addresses of ``host`` (empty if it does not resolve)."""
    loop = asyncio.get_running_loop()
    try:
        async with asyncio.timeout(10.0):
            infos = await loop.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except (OSError, TimeoutError):
        return []
    return resolved_networks(infos)


async def run_ignorecommand(command: str, question: CheckIgnore) -> bool:
    """Run ``ignorecommand`` for one failure: exit 0 means ignore, 1 means count it.

    Log data never becomes shell text: ``<ip>``, ``<fid>``, ``<matches>`` and ``<F-NAME>``
    tags become quoted references to environment variables holding the values.
    """
    values = {"ip": question.ip, "fid": question.ip, "ip-host": question.ip,
              "matches": "\n".join(question.matches)}
    for key, value in question.fields.items():
        values[f"F-{key.upper()}"] = "" if value is None else str(value)
    text, used = splice_variables(command, lambda tag: tag in values or tag.startswith("F-"))
    env = dict(os.environ)
    for tag in used:
        env[variable_name(tag)] = values.get(tag, "")
    try:
        proc = await asyncio.create_subprocess_exec(
            "/bin/sh", "-c", text, env=env, stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE)
    except OSError as exc:
        log.error("[%s] ignorecommand cannot run: %s", question.jail, exc)
        return False
    try:
        async with asyncio.timeout(_IGNORE_TIMEOUT):
            _, err = await proc.communicate()
    except TimeoutError:
        proc.kill()
        await proc.wait()
        log.error("[%s] ignorecommand did not finish within %gs; the failure counts",
                  question.jail, _IGNORE_TIMEOUT)
        return False
    if proc.returncode not in (0, 1):
        log.error("[%s] ignorecommand %s failed (exit %s): %s", question.jail,
                  shlex.quote(command), proc.returncode, err.decode(errors="replace").strip())
    return proc.returncode == 0
