"""Answering control requests, and reloading: what each typed request does to the daemon.

Dispatch is a ``match`` on the request's type; every answer is a typed response.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from warden import __version__
from warden.config import load_jails
from warden.core.addr import parse_network
from warden.core.decisions import Decision
from warden.daemon.runtime import JailSlot
from warden.errors import ConfigError
from warden.protocol import (
    Ban,
    BanEntry,
    Banned,
    BannedList,
    BanResult,
    Done,
    Failed,
    JailStatus,
    Ping,
    Pong,
    Reload,
    Request,
    Response,
    ServerStatus,
    SourceState,
    Status,
    Stop,
    Unban,
    UnbanResult,
    Version,
    VersionInfo,
)

if TYPE_CHECKING:
    from warden.daemon.app import Daemon

__all__ = ["handle", "jail_status", "reload"]

log = logging.getLogger("warden.server")


def _unknown(name: str, daemon: Daemon) -> Failed:
    known = ", ".join(sorted(daemon.runtime.slots)) or "none"
    return Failed(f"Sorry but the jail '{name}' does not exist (jails: {known})", "usage")


def jail_status(daemon: Daemon, slot: JailSlot) -> JailStatus:
    """The status of one jail: counters, its files (with their sources' state), bans."""
    state = slot.jail.status(daemon.clock())
    files: list[SourceState] = []
    own_journal = f"journal:{slot.config.name}"
    for key, source in daemon.sources.items():
        if key.startswith("journal:") and key != own_journal:
            continue
        for entry in source.supervised.status():
            # a file source that is restarting reports itself as one "<kind> files" entry
            if key == own_journal or slot.watches(entry.path) or entry.path.endswith(" files"):
                files.append(SourceState(entry.path, entry.state.value, entry.error or ""))
    if not files:
        files = [SourceState(p, "missing") for p in slot.patterns]
    return JailStatus(
        name=state.name,
        currently_failed=state.currently_failed,
        total_failed=state.total_failed,
        files=tuple(files),
        currently_banned=state.currently_banned,
        total_banned=state.total_banned,
        banned=tuple(b.ip for b in state.banned),
    )


async def handle(daemon: Daemon, request: Request) -> Response:
    """Carry out ``request`` and describe the outcome."""
    runtime = daemon.runtime
    now = daemon.clock()
    match request:
        case Ping():
            return Pong()
        case Version():
            return VersionInfo(__version__)
        case Status(jail=None, all=everything):
            names = tuple(runtime.slots)
            details = tuple(jail_status(daemon, s) for s in runtime.slots.values()) \
                if everything else ()
            return ServerStatus(names, details)
        case Status(jail=str(name)):
            slot = runtime.slots.get(name)
            return jail_status(daemon, slot) if slot else _unknown(name, daemon)
        case Ban(jail=name, addrs=addrs):
            slot = runtime.slots.get(name)
            if slot is None:
                return _unknown(name, daemon)
            decisions: list[Decision] = []
            banned: list[str] = []
            already: list[str] = []
            for addr in addrs:
                if parse_network(addr) is None:
                    return Failed(f"not an IP address or network: {addr!r}", "usage")
                if slot.jail.is_banned(addr):
                    already.append(addr)
                    continue
                found = slot.jail.ban(addr, now)
                decisions.extend(found)
                banned.append(addr)
            await runtime.carry_out(decisions, wait=True)
            return BanResult(name, tuple(banned), tuple(already))
        case Unban(all=True):
            unbans: list[Decision] = []
            for slot in runtime.slots.values():
                unbans.extend(slot.jail.unban_all(now))
            await runtime.carry_out(unbans, wait=True)
            return UnbanResult(len(unbans))
        case Unban(jail=name, addrs=addrs):
            if name is not None and name not in runtime.slots:
                return _unknown(name, daemon)
            slots = [runtime.slots[name]] if name else list(runtime.slots.values())
            lifted: list[Decision] = []
            missing: list[str] = []
            for addr in addrs:
                if parse_network(addr) is None:
                    return Failed(f"not an IP address or network: {addr!r}", "usage")
                ended = [u for slot in slots for u in slot.jail.unban(addr, now)]
                if not ended:
                    missing.append(addr)
                lifted.extend(ended)
            await runtime.carry_out(lifted, wait=True)
            return UnbanResult(len(lifted), tuple(missing))
        case Banned(addrs=addrs, jail=name):
            if name is not None and name not in runtime.slots:
                return _unknown(name, daemon)
            wanted = {str(n) for a in addrs if (n := parse_network(a)) is not None}
            entries: list[BanEntry] = []
            for slot in runtime.slots.values():
                if name is not None and slot.config.name != name:
                    continue
                for ban in slot.jail.status(now).banned:
                    net = parse_network(ban.ip)
                    if addrs and (net is None or str(net) not in wanted):
                        continue
                    entries.append(BanEntry(slot.config.name, ban.ip, ban.time, ban.left,
                                            ban.count))
            return BannedList(tuple(entries))
        case Reload(jail=name, restart=restart, unban=unban):
            return await daemon.reload(name, restart, unban)
        case Stop():
            daemon.stopping.set()
            return Done("Shutdown successful")
    return Failed(f"request {request.kind!r} is not supported", "usage")  # pragma: no cover


async def reload(daemon: Daemon, only: str | None, *, restart: bool = False,
                 unban: bool = False) -> Response:
    """Re-read the configuration; rebuild jails whose configuration changed (all with
    ``restart``), start new ones, stop removed ones. Unchanged jails keep their failures and
    bans. ``only`` limits this to one jail. Bans of rebuilt jails come back from the store."""
    runtime = daemon.runtime
    try:
        config = await asyncio.to_thread(load_jails, daemon.config_dir)
    except ConfigError as exc:
        log.error("reload failed, the running configuration stays: %s", exc)
        return Failed(f"reload failed: {exc}", "usage")
    for error in config.errors:
        log.error("%s", error)
    wanted = {cfg.name: cfg for cfg in config.jails}
    if only is not None and only not in wanted and only not in runtime.slots:
        return _unknown(only, daemon)
    now = daemon.clock()
    decisions: list[Decision] = []
    fresh: list[JailSlot] = []
    kept: list[str] = []
    broken = {name for name in runtime.slots
              if any(str(e.message).startswith(f"[{name}]") for e in config.errors)}
    for name in list(runtime.slots):
        if (only is None or name == only) and name not in wanted:
            if name in broken:
                # a mistake in the new configuration must not unban anyone
                log.error("Jail '%s' keeps running on its previous configuration", name)
                continue
            slot = runtime.remove_jail(name)
            assert slot is not None
            decisions.extend(slot.jail.unban_all(now, forget=False))
            log.info("Jail '%s' stopped (no longer configured)", name)
    for name, cfg in wanted.items():
        if only is not None and name != only:
            continue
        old = runtime.slots.get(name)
        if old is not None and old.config == cfg and not restart:
            if unban:
                decisions.extend(old.jail.unban_all(now))
            kept.append(name)
            continue
        slot = await daemon.build_jail(cfg)
        if slot is None:
            continue  # reported; a jail that was running keeps running on its old config
        if old is not None and unban:
            decisions.extend(old.jail.unban_all(now))
        if old is not None:
            runtime.remove_jail(name)
        fresh.append(slot)
    if decisions:
        await runtime.carry_out(decisions, wait=True)
    daemon.config = config
    await daemon.start_jails(fresh)
    daemon.sync_sources()
    log.info("reloaded: %d jail(s) kept, %d (re)started", len(kept), len(fresh))
    errors = f"; {len(config.errors)} configuration problem(s) logged" if config.errors else ""
    return Done(f"OK ({len(kept)} kept, {len(fresh)} (re)started{errors})")
