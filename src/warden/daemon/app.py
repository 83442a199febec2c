"""The composition root: configuration -> jails, store, firewall, sources, control socket.

:class:`Daemon` runs everything in one asyncio event loop under one ``TaskGroup``: the
enforcer, the expiry timer, one supervised task per log source and the control server.
SIGTERM/SIGINT stop it (bans stay in the firewall), SIGHUP reloads, SIGUSR1 reopens the log.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import signal
import socket
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from warden import __version__
from warden.backends.base import BanEntry, FirewallBackend
from warden.backends.commandaction import CommandAction
from warden.config import JailConfig, JailsConfig
from warden.config.metrics import metrics_endpoint
from warden.config.sourceopts import journal_backend, syslog_backend
from warden.config.validate import jail_problems
from warden.core.addr import Network, parse_network
from warden.core.decisions import Ban, Decision
from warden.core.history import BanHistory
from warden.core.jail import Jail
from warden.daemon.compat_server import CompatServer
from warden.daemon.control import ControlServer
from warden.daemon.enforcer import Enforcer, Route
from warden.daemon.events import EventHub
from warden.daemon.firewall import dropped_backends, make_backend, needs_matches, route_for
from warden.daemon.fleetlink import open_fleet
from warden.daemon.handler import FleetView
from warden.daemon.httpmetrics import MetricsServer, move_metrics, serve_metrics
from warden.daemon.jailspec import ignore_names, jail_spec
from warden.daemon.kernelbans import adopt
from warden.daemon.logtarget import NOTICE, LogTarget, log_file, parse_level
from warden.daemon.metrics import Metrics, Scrape
from warden.daemon.runtime import JailSlot, Runtime, resolve_host
from warden.daemon.service import handle as _handle
from warden.daemon.service import reload as _reload
from warden.daemon.settings import Settings
from warden.errors import ConfigError, WardenError
from warden.protocol import FailedReply, FleetInfo, Request, Response
from warden.sources.base import (
    FilePosition,
    JournalPosition,
    LogBatch,
    LogSource,
    SourceStatus,
    position_from_dict,
    resolve_backend,
    resolve_encoding,
)
from warden.sources.filetail import FileSource, LogSpec
from warden.sources.journal import JournalSource
from warden.sources.supervise import Supervised
from warden.sources.syslog import SyslogSource
from warden.sources.tail import Start
from warden.store import BanStore, MemoryBanStore, SqliteBanStore, StoredBan

__all__ = ["Daemon", "make_jail", "open_store", "own_addresses"]

log = logging.getLogger("warden.server")

# Bytes read per batch: small enough that the first bans of a burst are enforced while the
# rest is still being read, large enough that per-batch costs (one store transaction) vanish.
_BLOCK = 128 * 1024

# Longest history kept for bantime.increment when a jail sets no bantime.maxtime.
_DEFAULT_INCREMENT_WINDOW = 7 * 86400.0


def make_jail(cfg: JailConfig, history: BanHistory, *, ignore: Sequence[Network | str] = (),
              self_addresses: Sequence[Network] = (), keep_matches: bool = False) -> Jail:
    """The core jail for ``cfg``; the first problem :func:`warden.config.validate.jail_problems`
    finds (what ``warden check`` says, with file:line) if it cannot run. ``keep_matches``:
    keep the failures' log lines even if no action prints them (the store keeps them,
    ``dbmaxmatches``)."""
    problems = jail_problems(cfg)
    if problems:
        raise problems[0]
    journal = resolve_backend(cfg.backend) == "systemd"
    # keep no log lines per address when no action will ever print them
    lean = cfg if keep_matches or needs_matches(cfg) else dataclasses.replace(cfg, maxmatches=0)
    spec = jail_spec(lean, ignore=ignore, self_addresses=self_addresses, journal=journal)
    try:
        return Jail(spec, history=history)
    except ValueError as exc:  # something config.validate does not foresee: still located
        raise _located(cfg, f"{exc}; the jail is skipped", "enabled") from None


def _located(cfg: JailConfig, message: str, *options: str) -> ConfigError:
    origin = next((o for name in options if (o := cfg.origins.get(name))), None)
    return ConfigError(f"[{cfg.name}] {message}", file=origin.file if origin else None,
                       line=origin.line if origin else None)


def open_store(dbfile: str) -> BanStore:
    """The store for ``dbfile`` (``:memory:``: the in-memory twin, a dry run)."""
    return MemoryBanStore() if dbfile == ":memory:" else SqliteBanStore(dbfile)


#: one log file pattern as a source reads it: (pattern, encoding, start)
_Spec = tuple[str, str, str]


@dataclass(slots=True)
class _SourceTask:
    key: tuple[_Spec, ...]
    supervised: Supervised
    task: asyncio.Task[None] | None = None


class Daemon:
    """One warden daemon."""

    def __init__(self, config_dir: Path, settings: Settings, config: JailsConfig,
                 logtarget: LogTarget | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self.config_dir = config_dir
        self.settings = settings
        self.config = config
        self.logtarget = logtarget
        #: what a reload sets again after ``set logtarget`` / ``set syslogsocket``
        self._started_log = (settings.logtarget, settings.syslogsocket)
        self.clock = clock
        self.store = open_store(settings.dbfile)
        self.backends: dict[str, FirewallBackend] = {}
        self.enforcer = Enforcer(self.backends, clock=clock)
        self.runtime = Runtime(self.store, self.enforcer, history=BanHistory(), clock=clock,
                               dbmaxmatches=settings.dbmaxmatches)
        # busy jails' filters in processes of their own (``workers``, off by default)
        self.runtime.use_workers(settings.workers)
        self.sources: dict[str, _SourceTask] = {}
        self.stopping = asyncio.Event()
        self._reloading = asyncio.Lock()
        self.group: asyncio.TaskGroup | None = None
        self.metrics_server: MetricsServer | None = None
        self.self_addresses: tuple[Network, ...] = ()
        # insight (issue 13): counters for /metrics and the event stream, told by the runtime
        self.metrics = Metrics(started=clock())
        self.events = EventHub(clock, jails=lambda: self.runtime.slots)
        self.runtime.observers += [self.metrics, self.events]
        self.enforcer.on_commit = self.metrics.committed
        self.fleet = open_fleet(config.fleet, self.runtime, own=lambda: self.self_addresses,
                                clock=clock)

    # -- building jails ------------------------------------------------------------------------
    async def _core_jail(self, cfg: JailConfig) -> Jail:
        """The core jail for ``cfg``, its ``ignoreip`` host names resolved (raises what
        :func:`make_jail` raises)."""
        _, names = ignore_names(cfg)
        extra: list[Network | str] = []
        for name in names:
            extra.extend(await resolve_host(name))
        return make_jail(cfg, self.runtime.history, ignore=extra,
                         self_addresses=self.self_addresses,
                         keep_matches=self.settings.dbmaxmatches > 0)

    async def build_jail(self, cfg: JailConfig) -> JailSlot | None:
        """A running jail for ``cfg``, or None (reported) if it cannot run."""
        try:
            jail = await self._core_jail(cfg)
        except (WardenError, ValueError) as exc:
            log.error("%s", exc)
            return None
        route = route_for(cfg)
        # Python actions (route.unsupported) are among config.warnings, logged with file:line
        if not route.backends:
            log.warning("[%s] no firewall action: bans are recorded but not enforced",
                        cfg.name)
        return JailSlot(cfg, jail, tuple(lp.pattern for lp in cfg.logpath))

    async def start_jails(self, slots: list[JailSlot]) -> None:
        """Start the slots' firewall rules, restore their bans, adopt what only the firewall
        still holds, and reconcile the firewall for these jails only (never another's)."""
        routes: dict[str, Route] = {}
        # the actions each jail ran before and runs no more (one added at run time, or taken
        # out of its configuration): released once the new ones run, unless a new one is of
        # the same firewall (it may hold the same kernel sets)
        dropped: dict[str, list[str]] = {}
        for slot in slots:
            route = route_for(slot.config)
            before = self.enforcer.routes.get(slot.config.name)
            dropped[slot.config.name] = dropped_backends(
                slot.config.name, before.backends if before else (), route.backends)
            for name in route.backends:
                if name not in self.backends:
                    self.backends[name] = make_backend(route, name)
                if name in route.self_timed:
                    self.enforcer.timeouts[name] = None
            routes[slot.config.name] = Route(route.rule, route.backends)
        # Commits wait while the kernel is read and reconciled: what they would add between
        # the reading and the reconciliation would otherwise look stale.
        async with self.enforcer.paused():
            await self.enforcer.start_jails(routes)
            view = await self.enforcer.present(list(routes))
            now = self.clock()
            active = self.store.active_bans(now)
            restored: list[Ban] = []
            for slot in slots:
                self.runtime.add_jail(slot)
                for ban in self.runtime.restore(slot, active):
                    restored.append(ban)
                    log.log(NOTICE, "[%s] Restore Ban %s", ban.jail, ban.address)
                log.info("Jail '%s' started", slot.config.name)
            restored += adopt(slots, view.held, restored, self.store, now=now,
                              history_since=now - self.history_window())
            if routes:
                # a restored ban's actions see the lines the store kept (<matches>)
                lines = {b.key: b.matches for b in active if b.matches}
                done = await self.enforcer.reconcile(
                    [BanEntry(b.jail, b.ip, b.until, _restored_info(
                        lines.get((b.jail, b.address), ()), b.bantime, b.count, b.time))
                     for b in restored if b.jail in routes and not isinstance(b.ip, str)],
                    list(routes), unread=view.unread)
                if done.added or done.removed:
                    log.info("firewall reconciled: %d bans restored, %d the store ended "
                             "removed", len(done.added), len(done.removed))
        for jail, names in dropped.items():
            if names:
                await self.enforcer.release(jail, names)

    # -- sources -------------------------------------------------------------------------------
    def _source_groups(self) -> dict[str, tuple[_Spec, ...]]:
        groups: dict[str, list[_Spec]] = {}
        for slot in self.runtime.slots.values():
            kind = resolve_backend(slot.config.backend)
            if kind == "systemd":
                # the journal is read per jail, with the jail's journalmatch; the backend's
                # options (which journal) are in the key, so changing them restarts the source
                where = slot.config.backend
                groups[f"journal:{slot.config.name}"] = list(
                    (m, where, "") for m in slot.config.journalmatch) or [("", where, "")]
                continue
            if kind == "syslog":
                # one listener per address, whatever number of jails reads it
                listen = syslog_backend(slot.config.backend).listen
                groups.setdefault(f"syslog:{listen}", []).append(
                    (slot.config.name, slot.config.logencoding, ""))
                continue
            for lp in slot.config.logpath:
                groups.setdefault(kind, []).append(
                    (lp.pattern, slot.config.logencoding, lp.start))
        return {kind: tuple(sorted(set(specs))) for kind, specs in groups.items()}

    def _make_source(self, kind: str, specs: tuple[_Spec, ...]) -> Callable[[], LogSource]:
        def factory() -> LogSource:
            stored = self.store.positions()
            stored.update(self.runtime.positions)
            positions: dict[str, FilePosition] = {}
            for path, data in stored.items():
                with contextlib.suppress(WardenError):
                    pos = position_from_dict(data)
                    if isinstance(pos, FilePosition):
                        positions[path] = pos
            log_specs = [LogSpec(p, enc, Start(start)) for p, enc, start in specs]
            return FileSource(log_specs, backend=kind, positions=positions, block=_BLOCK)
        return factory

    def _journal(self, key: str, specs: tuple[_Spec, ...]) -> Supervised:
        name = key.split(":", 1)[1]
        slot = self.runtime.slots[name]
        matches = [m for m, _, _ in specs if m]

        def factory() -> LogSource:
            stored = {**self.store.positions(), **self.runtime.positions}.get(key)
            cursor = None
            if stored is not None:
                with contextlib.suppress(WardenError):
                    pos = position_from_dict(stored)
                    cursor = pos if isinstance(pos, JournalPosition) else None
            since = self.clock() - slot.config.findtime
            where = journal_backend(slot.config.backend)  # checked at load (config.validate)
            return JournalSource(matches, path=where.path, files=where.files, flags=where.flags,
                                 namespace=where.namespace, cursor=cursor, since=since)

        async def consume(batch: LogBatch) -> None:
            await self.runtime.on_batch(batch, (slot.jail,))

        return Supervised("journal", factory, consume)

    def _syslog(self, key: str, specs: tuple[_Spec, ...]) -> Supervised:
        listen = key.split(":", 1)[1]
        names = {name for name, _, _ in specs}
        encoding = resolve_encoding(specs[0][1])  # the first jail's (checked at load)

        def factory() -> LogSource:
            return SyslogSource(listen, encoding=encoding)

        async def consume(batch: LogBatch) -> None:
            # the jails are looked up per batch: a reload may have rebuilt them
            slots = self.runtime.slots
            await self.runtime.on_batch(batch, tuple(
                slots[name].jail for name in sorted(names) if name in slots))

        return Supervised(f"syslog {listen}", factory, consume)

    def sync_sources(self) -> None:
        """Run one supervised source per watcher kind; restart those whose files changed."""
        assert self.group is not None
        wanted = self._source_groups()
        for kind in list(self.sources):
            current = self.sources[kind]
            if wanted.get(kind) != current.key:
                if current.task is not None:
                    current.task.cancel()
                del self.sources[kind]
        for kind, key in wanted.items():
            if kind in self.sources:
                continue
            if kind.startswith("journal:"):
                supervised = self._journal(kind, key)
            elif kind.startswith("syslog:"):
                supervised = self._syslog(kind, key)
            else:
                supervised = Supervised(f"{kind} files", self._make_source(kind, key),
                                        self.runtime.on_batch)
            entry = _SourceTask(key, supervised)
            entry.task = self.group.create_task(supervised.run(), name=f"source {kind}")
            self.sources[kind] = entry

    # -- life cycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        """Restore state and start the jails (before the control socket opens)."""
        self.self_addresses = await own_addresses()
        now = self.clock()
        self.runtime.history.load(self.store.load_history(now - self.history_window()))
        slots = [s for cfg in self.config.jails if (s := await self.build_jail(cfg)) is not None]
        await self.start_jails(slots)

    def history_window(self) -> float:
        """How far back ban history matters: dbpurgeage, or longer if an increment needs it."""
        keep = self.settings.dbpurgeage
        for cfg in self.config.jails:
            inc = cfg.bantime_increment
            if inc.enabled:
                keep = max(keep, inc.maxtime or _DEFAULT_INCREMENT_WINDOW)
        return keep

    async def serve(self, on_ready: Callable[[], None] = lambda: None) -> None:
        """Run until stopped: every task lives in one TaskGroup."""
        control = ControlServer(self.settings.socket, self.handle, streamer=self.events.serve)
        # fail2ban's protocol (compat_socket): a second front door to the same handler
        compat = None if self.settings.compat_socket is None else CompatServer(
            self.settings.compat_socket, self.handle, self.clock)
        loop = asyncio.get_running_loop()
        try:
            # bind first: a socket problem is reported as itself, before any task runs
            await control.start()
            if compat is not None:
                await compat.start()
        except BaseException:
            await control.close()
            await self._shutdown()
            raise
        try:
            async with asyncio.TaskGroup() as group:
                self.group = group
                self.runtime.task_group = group
                self._install_signals(loop)
                group.create_task(self.enforcer.run(), name="enforcer")
                group.create_task(self.runtime.expiry_loop(), name="expiry")
                group.create_task(self._housekeeping(), name="housekeeping")
                group.create_task(self.events.watch_sources(self.source_states),
                                  name="source events")
                self.metrics_server = await serve_metrics(self.settings.metrics, self.scrape)
                if self.fleet is not None:
                    group.create_task(self.fleet.run(), name="fleet")
                self.sync_sources()
                log.info("Server ready (warden %s), socket %s", __version__,
                         self.settings.socket)
                if compat is not None:
                    log.info("fail2ban's protocol served on %s", compat.path)
                on_ready()
                await self.stopping.wait()
                raise _Stop
        except* _Stop:
            pass
        finally:
            for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1):
                with contextlib.suppress(ValueError, RuntimeError):
                    loop.remove_signal_handler(sig)
            if compat is not None:
                await compat.close()
            if self.metrics_server is not None:
                await self.metrics_server.close()
            await control.close()
            await self._shutdown()

    def scrape(self) -> str:
        """Every metrics series now, in Prometheus' text format."""
        return self.metrics.render(Scrape(
            self.runtime.slots, self.runtime.lines_read, self.source_states(),
            len(self.events.subscribers), self.events.dropped,
            None if (fleet := self.fleet_view()) is None else fleet.info))

    async def _shutdown(self) -> None:
        if self.runtime.workers is not None:
            # lines still in a worker are not counted: their positions were not saved, so
            # they are read again at the next start
            await self.runtime.workers.close()
        with contextlib.suppress(Exception):
            self.runtime.save_trust()
            self.runtime.save_positions()
        # What was decided is committed; bans stay in the firewall (kernel timeouts).
        await self.enforcer.drain()
        self.enforcer.stop()
        self.store.close()
        log.info("Server stopped; bans stay in the firewall")

    async def _housekeeping(self) -> None:
        while True:
            await asyncio.sleep(3600)
            dropped = self.store.purge_history(self.clock() - self.history_window())
            self.runtime.history.purge(self.clock() - self.history_window())
            if dropped:
                log.info("purged %d ban history entries", dropped)

    def _install_signals(self, loop: asyncio.AbstractEventLoop) -> None:
        assert self.group is not None
        group = self.group
        loop.add_signal_handler(signal.SIGTERM, self._stop_signal)
        loop.add_signal_handler(signal.SIGINT, self._stop_signal)
        loop.add_signal_handler(signal.SIGHUP,
                                lambda: group.create_task(self._reload_signal()))
        loop.add_signal_handler(signal.SIGUSR1, self._reopen_log)

    async def _reload_signal(self) -> None:
        log.info("SIGHUP: reloading the configuration")
        try:
            await self.reload(None, False, False)
        except Exception:  # a bug in reload must not take the running jails down
            log.exception("reload failed; the running configuration stays")

    def _stop_signal(self) -> None:
        if not self.stopping.is_set():
            self.stopping.set()
            return
        # A second stop signal while stopping: say what is stuck, then leave at once (the
        # store is consistent at every commit; the firewall keeps its bans).
        for task in asyncio.all_tasks():
            frames = task.get_stack(limit=3)
            where = ", ".join(f"{f.f_code.co_filename}:{f.f_lineno}" for f in frames)
            log.error("still running at the second stop signal: %s (%s)", task.get_name(),
                      where)
        logging.shutdown()
        os._exit(1)

    def _reopen_log(self) -> None:
        if self.logtarget is not None:
            self.logtarget.reopen()
            log.info("log file reopened")

    # -- what the request handler sees (warden.daemon.handler) -------------------------------
    async def handle(self, request: Request) -> Response:
        """Answer one request (from either socket)."""
        return await _handle(self, request)

    @property
    def jails(self) -> Mapping[str, JailSlot]:
        """The running jails by name."""
        return self.runtime.slots

    def now(self) -> float:
        """The daemon's clock."""
        return self.clock()

    def source_states(self) -> Iterable[tuple[str, Sequence[SourceStatus]]]:
        """Each log source's key and its status entries."""
        return [(key, source.supervised.status()) for key, source in self.sources.items()]

    def fleet_view(self) -> FleetView | None:
        """The fleet link's state and the origins of remote bans (None without a fleet)."""
        if self.fleet is None:
            return None
        state = self.fleet.state
        return FleetView(FleetInfo(self.fleet.fleet.name, state.connected, state.peers,
                                   state.lag, state.outbox, state.published, state.applied,
                                   state.refused, "" if state.connected else state.last_error),
                         self.fleet.origins)

    async def carry_out(self, decisions: Sequence[Decision]) -> None:
        """Record and enforce ``decisions``, returning once they are committed."""
        await self.runtime.carry_out(decisions, wait=True)

    def remove_jail(self, name: str) -> JailSlot | None:
        """Stop running the jail ``name``."""
        return self.runtime.remove_jail(name)

    def request_stop(self) -> None:
        """Stop serving (the answer to the stop request is sent first)."""
        self.stopping.set()

    def stored_matches(self, addr: str) -> Sequence[StoredBan]:
        """The matched lines the store kept of ``addr``'s latest ban in each jail."""
        return self.store.matches_of(addr)

    async def reload(self, jail: str | None, restart: bool, unban: bool) -> Response:
        """Re-read the configuration (see :func:`warden.daemon.service.reload`); one reload
        at a time (SIGHUP and a client may ask together)."""
        async with self._reloading:
            before = self.config
            reply = await _reload(self, jail, restart=restart, unban=unban)
            if not isinstance(reply, FailedReply):
                self._restore_log()  # as fail2ban's reload sends its logtarget again
            if jail is None and self.config is not before and self.group is not None:
                # a changed ``metrics =`` moves the endpoint (the old one stays if it fails)
                wanted = metrics_endpoint(self.config.settings.get("metrics"))
                self.metrics_server = await move_metrics(self.metrics_server, wanted,
                                                         self.scrape)
                self.settings = dataclasses.replace(
                    self.settings, metrics=None if self.metrics_server is None
                    else self.metrics_server.endpoint)
            return reply

    # -- fail2ban-client's runtime changes (warden.daemon.jailset) ---------------------------
    async def reconfigure_jail(self, cfg: JailConfig) -> str | None:
        """Move the running jail ``cfg.name`` onto ``cfg``, keeping failures and bans."""
        slot = self.runtime.slots.get(cfg.name)
        if slot is None:
            return f"the jail {cfg.name!r} is not running"
        try:
            fresh = await self._core_jail(cfg)  # as a reload builds it, then moved onto
            slot.jail.reconfigure(fresh.spec, fresh.filters)
        except (WardenError, ValueError) as exc:
            return " ".join(str(exc).splitlines())
        sources = (slot.config.logpath, slot.config.logencoding, slot.config.journalmatch) \
            != (cfg.logpath, cfg.logencoding, cfg.journalmatch)
        actions = slot.config.actions != cfg.actions
        slot.config = cfg
        if actions:
            try:
                await self._move_actions(cfg)
            except (WardenError, ValueError) as exc:  # an action that cannot be made
                log.error("[%s] the actions could not all change: %s", cfg.name, exc)
                return " ".join(str(exc).splitlines())
        slot.patterns = tuple(lp.pattern for lp in cfg.logpath)
        if sources:
            self.runtime.add_jail(slot)  # the same jail: forgets which files it watched
            self.sync_sources()
        return None

    async def _move_actions(self, cfg: JailConfig) -> None:
        """Enforce the jail ``cfg.name`` with ``cfg``'s actions (``addaction``, ``delaction``,
        ``set JAIL action ACT PROPERTY VALUE``): a running command action takes changed
        values; a new action is started and given the jail's active bans (as restored bans:
        an action with ``norestored`` runs nothing for them); then a removed one lifts the
        jail's bans (``actionflush``, or one ``actionunban`` each) and, used by no other jail,
        is stopped; one replaced by a backend of the same firewall only leaves the route."""
        route = route_for(cfg)
        old = self.enforcer.routes.get(cfg.name)
        before = old.backends if old else ()
        for name in before:
            # a command action whose commands or values changed runs the new ones from now on
            running = self.backends.get(name)
            if isinstance(running, CommandAction) and name in route.backends:
                fresh = make_backend(route, name)
                if isinstance(fresh, CommandAction) and fresh.options != running.options:
                    running.configure(fresh.options)
        added = [name for name in route.backends if name not in before]
        for name in added:
            if name not in self.backends:
                self.backends[name] = make_backend(route, name)
            if name in route.self_timed:
                self.enforcer.timeouts[name] = None
        if added:
            await self.enforcer.start_jails({cfg.name: Route(route.rule, route.backends)})
            now = self.clock()
            entries = [BanEntry(b.jail, b.addr, None if b.permanent else b.start + b.bantime,
                                _restored_info(b.matches, b.bantime, b.count, b.start))
                       for b in self.store.active_bans(now)
                       if b.jail == cfg.name and parse_network(b.addr) is not None]
            if entries:
                # the actions that hold them already run nothing again (or refresh a timeout)
                await self.enforcer.submit(entries)
        else:
            self.enforcer.routes[cfg.name] = Route(route.rule, route.backends)
        gone = dropped_backends(cfg.name, before, route.backends)
        if gone:
            await self.enforcer.release(cfg.name, gone)

    def server_option(self, name: str) -> object:
        """A setting of the daemon as fail2ban's ``get NAME`` returns it."""
        settings = self.settings
        values: dict[str, object] = {
            "loglevel": logging.getLevelName(settings.loglevel),
            "logtarget": settings.logtarget,
            "syslogsocket": settings.syslogsocket,
            "dbfile": settings.dbfile,
            "dbmaxmatches": settings.dbmaxmatches,
            "dbpurgeage": int(settings.dbpurgeage),
        }
        return values.get(name)

    def set_loglevel(self, text: str) -> str | None:
        """Log at ``text`` (a level name or number) from now on."""
        try:
            level = parse_level(text)
        except ValueError as exc:
            return str(exc)
        logging.getLogger().setLevel(level)
        self.settings = dataclasses.replace(self.settings, loglevel=level)
        return None

    def set_log(self, option: str, value: str) -> str | None:
        """``set logtarget TARGET`` / ``set syslogsocket auto|SOCKET``: log there from now on,
        until the next reload or restart (fail2ban's reload sets its configured target
        again); a target that cannot be opened changes nothing and says why."""
        target = value.strip() if option == "logtarget" else self.settings.logtarget
        sock = value.strip() if option == "syslogsocket" else self.settings.syslogsocket
        if not self._switch_log(target, sock):
            # fail2ban's words; the log says why
            return "Failed to change " + ("log target" if option == "logtarget"
                                          else "syslog socket")
        return None

    def _switch_log(self, target: str, sock: str) -> bool:
        if self.logtarget is not None:
            before = self.logtarget.target
            try:
                if self.logtarget.switch(target, sock):
                    log.info("log target changed from %s to %s", before, target)
            except OSError as exc:
                log.error("cannot log to %s (syslog socket %s): %s; the log stays at %s",
                          target, sock, exc.strerror or exc, before)
                return False
        self.settings = dataclasses.replace(self.settings, logtarget=target, syslogsocket=sock)
        return True

    def _restore_log(self) -> None:
        """After a reload: the log target and syslog socket the daemon was started with."""
        if (self.settings.logtarget, self.settings.syslogsocket) != self._started_log:
            self._switch_log(*self._started_log)

    def change_setting(self, name: str, value: int) -> None:
        """``set dbpurgeage`` / ``set dbmaxmatches``: the store's settings from now on (a
        jail that keeps no lines, dbmaxmatches having been 0, keeps them after a reload)."""
        if name == "dbmaxmatches":
            self.settings = dataclasses.replace(self.settings, dbmaxmatches=value)
            self.runtime.dbmaxmatches = value
        elif name == "dbpurgeage":
            self.settings = dataclasses.replace(self.settings, dbpurgeage=float(value))

    def flush_logs(self) -> str:
        """Reopen the log file after a rotation (fail2ban's ``flushlogs``)."""
        if self.logtarget is None or log_file(self.settings.logtarget) is None:
            return "flushed"
        self._reopen_log()
        return "rolled over"

    async def stop_jail(self, name: str) -> None:
        """Stop the jail ``name``: its bans leave the firewall and stay in the store (as
        fail2ban keeps them in its database), so starting it again restores them."""
        if self.runtime.remove_jail(name) is None:
            return
        self.sync_sources()
        await self.enforcer.flush(name)
        log.info("Jail '%s' stopped", name)

    async def start_jail(self, name: str) -> str | None:
        """Start the configured jail ``name`` (stopped by ``stop JAIL``)."""
        if name in self.runtime.slots:
            return None
        cfg = next((c for c in self.config.jails if c.name == name), None)
        if cfg is None:
            return f"the jail {name!r} is not in the configuration"
        slot = await self.build_jail(cfg)
        if slot is None:
            return f"the jail {name!r} cannot start (see the log)"
        await self.start_jails([slot])
        self.sync_sources()
        log.info("Jail '%s' started", name)
        return None


class _Stop(Exception):
    """Ends the task group when the daemon is asked to stop."""


def _restored_info(matches: tuple[str, ...], bantime: float, count: int, start: float
                   ) -> dict[str, object]:
    """What command actions see of a ban restored at start or given to an action added at
    run time (as fail2ban's restored tickets: the matched lines the store kept, ``restored``
    set)."""
    return {"matches": matches, "failures": len(matches), "bantime": bantime,
            "bancount": count, "time": start, "restored": True}


async def own_addresses() -> tuple[Network, ...]:
    """The host's addresses (``ignoreself``): loopback plus what the host name resolves to."""
    found: list[Network] = []
    for text in ("127.0.0.0/8", "::1"):
        net = parse_network(text)
        if net is not None:
            found.append(net)
    for net in await resolve_host(socket.gethostname()):
        if net not in found:
            found.append(net)
    return tuple(found)
