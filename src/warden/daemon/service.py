"""Answering requests, and reloading: what each typed request does to the daemon.

Dispatch is a ``match`` on the request's type; every answer is a typed response. Both sockets
(warden's JSON lines and fail2ban's compatible one) call :func:`handle`; it sees the daemon
only through :class:`~warden.daemon.handler.RequestContext`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import gc
import logging
from collections.abc import Iterator, Mapping

from warden import __version__
from warden.config import load_jails
from warden.config.sourceopts import backend_name, syslog_backend
from warden.config.validate import settings_problems
from warden.core.addr import Network, Target, format_target, parse_network
from warden.core.banguard import danger, refusal
from warden.core.decisions import Decision
from warden.daemon.explain import explain
from warden.daemon.handler import FleetView, ReloadContext, RequestContext
from warden.daemon.jailset import OPTION_REQUESTS, answer_option
from warden.daemon.runtime import JailSlot
from warden.errors import ConfigError, SourceError
from warden.protocol import (
    BanInfo,
    BannedReply,
    BannedRequest,
    BanReply,
    BanRequest,
    DoneReply,
    ExplainRequest,
    FailedReply,
    JailStatusReply,
    OriginCount,
    PingRequest,
    PongReply,
    ReloadRequest,
    Request,
    Response,
    ServerStatusReply,
    SourceInfo,
    StatusRequest,
    StopRequest,
    UnbanReply,
    UnbanRequest,
    VersionReply,
    VersionRequest,
)
from warden.sources.journal import match_text

__all__ = ["handle", "jail_status", "reload"]

log = logging.getLogger("warden.server")


def _unknown(name: str, ctx: RequestContext) -> FailedReply:
    known = ", ".join(sorted(ctx.jails)) or "none"
    return FailedReply(f"Sorry but the jail '{name}' does not exist (jails: {known})", "usage")


#: bans formatted between two turns of the event loop while a status is built (~10 ms)
_SLICE = 2_000


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cycle collection while a big list is built: the new tuples and strings hold no
    cycles, but every 20,000 of them would make the collector walk every ban."""
    collecting = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if collecting:
            gc.enable()


def _files(ctx: RequestContext, slot: JailSlot) -> tuple[SourceInfo, ...]:
    files: list[SourceInfo] = []
    # a journal jail reads its own journal, a syslog jail its listener; neither reads logpath
    kind = backend_name(slot.config.backend)
    own = f"journal:{slot.config.name}" if kind == "systemd" else \
        f"syslog:{syslog_backend(slot.config.backend).listen}" if kind == "syslog" else None
    for key, entries in ctx.source_states():
        if key != own and (own is not None or key.startswith(("journal:", "syslog:"))):
            continue
        for entry in entries:
            # a file source that is restarting reports itself as one "<kind> files" entry
            if key == own or slot.watches(entry.path) or entry.path.endswith(" files"):
                files.append(SourceInfo(entry.path, entry.state.value, entry.error or ""))
    if not files and own is None:
        files = [SourceInfo(p, "missing") for p in slot.patterns]
    return tuple(files)


def _journal_matches(slot: JailSlot) -> str | None:
    """A journal jail's ``journalmatch`` as fail2ban's status shows it; None for files."""
    if backend_name(slot.config.backend) != "systemd":
        return None
    try:
        return match_text(slot.config.journalmatch)
    except SourceError:  # the source reports it as its own error
        return " + ".join(slot.config.journalmatch)


async def _texts(targets: list[Target]) -> tuple[str, ...]:
    """The targets as text, a slice at a time, letting other requests and the log sources run
    in between (100,000 IPv6 bans take about 0.4 s to format)."""
    out: list[str] = []
    for start in range(0, len(targets), _SLICE):
        if start:
            await asyncio.sleep(0)
        with _collector_paused():
            out.extend(format_target(t) for t in targets[start:start + _SLICE])
    return tuple(out)


async def _fleet_bans(fleet: FleetView, slot: JailSlot) -> tuple[OriginCount, ...]:
    """The jail's active bans taken from other hosts, counted per host (most first); a
    slice at a time, since each address is parsed (100,000 take about 0.4 s)."""
    counts: dict[str, int] = {}
    name = slot.config.name
    pairs = [(addr, host) for (jail, addr), host in list(fleet.origins.items()) if jail == name]
    for start in range(0, len(pairs), _SLICE):
        if start:
            await asyncio.sleep(0)
        for addr, host in pairs[start:start + _SLICE]:
            # an origin outlives a remote ban that expired: only bans still active count
            if slot.jail.is_banned(addr):
                counts[host] = counts.get(host, 0) + 1
    return tuple(OriginCount(host, n)
                 for host, n in sorted(counts.items(), key=lambda item: (-item[1], item[0])))


async def _ban_entries(slot: JailSlot, now: float, wanted: set[Network] | None,
                       origins: Mapping[tuple[str, str], str]) -> list[BanInfo]:
    """The active bans of one jail (only those of ``wanted``, if given), oldest first, built
    a slice at a time like the banned list of a status; ``origins`` names the hosts that
    decided remote bans."""
    name = slot.config.name
    with _collector_paused():
        pairs = slot.jail.bans.items()
    if wanted is not None:
        pairs = [(target, ban) for target, ban in pairs if target in wanted]
    out: list[BanInfo] = []
    for start in range(0, len(pairs), _SLICE):
        if start:
            await asyncio.sleep(0)
        with _collector_paused():
            for target, ban in pairs[start:start + _SLICE]:
                addr = format_target(target)
                out.append(BanInfo(name, addr, ban.time,
                                   None if ban.until is None else max(0.0, ban.until - now),
                                   ban.count, origins.get((name, addr))))
    return out


async def jail_status(ctx: RequestContext, slot: JailSlot, *, counts_only: bool = False
                      ) -> JailStatusReply:
    """The status of one jail: counters, its files (with their sources' state), bans.

    The counters and the list are taken at one moment (they agree); the list is then turned
    into text without holding the event loop. ``counts_only`` leaves the list out.
    """
    jail = slot.jail
    # the same counters as Jail.status(), read without building its per-ban records
    with _collector_paused():
        targets = None if counts_only else [target for target, _ in jail.bans.items()]
    status = JailStatusReply(
        name=jail.name,
        currently_failed=len(jail.tracker),
        total_failed=jail.total_failed,
        files=_files(ctx, slot),
        currently_banned=len(jail.bans),
        total_banned=jail.bans.total,
        journal_matches=_journal_matches(slot),
        escalated=jail.escalations if jail.escalator is not None else None,
        trusted=len(jail.trust) if jail.trust is not None and jail.success_filters else None,
    )
    fleet = ctx.fleet_view()
    if fleet is not None:
        status = dataclasses.replace(status, fleet_bans=await _fleet_bans(fleet, slot))
    if targets is None:
        return status
    return dataclasses.replace(status, banned=await _texts(targets))


def _with_lines(ctx: RequestContext, entries: list[BanInfo]) -> list[BanInfo]:
    """``entries`` with the matched lines the store kept of each ban (same start)."""
    kept: dict[str, dict[str, tuple[float, tuple[str, ...]]]] = {}
    out = []
    for entry in entries:
        if entry.addr not in kept:
            kept[entry.addr] = {b.jail: (b.start, b.matches)
                                for b in ctx.stored_matches(entry.addr)}
        start, lines = kept[entry.addr].get(entry.jail, (None, ()))
        out.append(dataclasses.replace(entry, matches=lines) if start == entry.start
                   else entry)
    return out


def _refuse(ctx: RequestContext, jail: str, addrs: tuple[str, ...], *, force: bool
            ) -> FailedReply | None:
    """Why a manual ban of ``addrs`` is refused as a whole (None: go ahead); a forced ban
    that would have been refused is logged, being the kind a reader of the log looks for."""
    nets = []
    for addr in addrs:
        net = parse_network(addr)
        if net is None:
            return FailedReply(f"not an IP address or network: {addr!r}", "usage")
        nets.append(net)
    for addr, net in zip(addrs, nets, strict=True):
        if not force:
            why = refusal(net, ctx.self_addresses)
            if why is not None:
                return FailedReply(why, "refused")
        elif (what := danger(net, ctx.self_addresses)) is not None:
            log.warning("[%s] forced manual ban of %s: %s", jail, addr, what)
    return None


async def handle(ctx: RequestContext, request: Request) -> Response:
    """Carry out ``request`` and describe the outcome."""
    jails = ctx.jails
    now = ctx.now()
    match request:
        case PingRequest():
            return PongReply()
        case VersionRequest():
            return VersionReply(__version__)
        case StatusRequest(jail=None, all=everything, counts_only=counts_only):
            names = tuple(jails)
            # the jails as they were when asked, even if a reload runs while the lists are built
            slots = list(jails.values())
            details = [await jail_status(ctx, s, counts_only=counts_only) for s in slots] \
                if everything else []
            fleet = ctx.fleet_view()
            return ServerStatusReply(names, tuple(details),
                                     None if fleet is None else fleet.info)
        case StatusRequest(jail=str(name), counts_only=counts_only):
            slot = jails.get(name)
            if slot is None:
                return _unknown(name, ctx)
            return await jail_status(ctx, slot, counts_only=counts_only)
        case BanRequest(jail=name, addrs=addrs, force=force):
            slot = jails.get(name)
            if slot is None:
                return _unknown(name, ctx)
            refused = _refuse(ctx, name, addrs, force=force)
            if refused is not None:
                return refused  # nothing of the request is banned
            decisions: list[Decision] = []
            banned: list[str] = []
            already: list[str] = []
            for addr in addrs:
                if slot.jail.is_banned(addr):
                    already.append(addr)
                    continue
                found = slot.jail.ban(addr, now)
                decisions.extend(found)
                banned.append(addr)
            await ctx.carry_out(decisions)
            return BanReply(name, tuple(banned), tuple(already))
        case UnbanRequest(all=True):
            unbans: list[Decision] = []
            for slot in jails.values():
                unbans.extend(slot.jail.unban_all(now))
            await ctx.carry_out(unbans)
            return UnbanReply(len(unbans))
        case UnbanRequest(jail=name, addrs=addrs):
            if name is not None and name not in jails:
                return _unknown(name, ctx)
            slots = [jails[name]] if name else list(jails.values())
            lifted: list[Decision] = []
            missing: list[str] = []
            for addr in addrs:
                if parse_network(addr) is None:
                    return FailedReply(f"not an IP address or network: {addr!r}", "usage")
                ended = [u for slot in slots for u in slot.jail.unban(addr, now)]
                if not ended:
                    missing.append(addr)
                lifted.extend(ended)
            await ctx.carry_out(lifted)
            return UnbanReply(len(lifted), tuple(missing))
        case BannedRequest(addrs=addrs, jail=name):
            if name is not None and name not in jails:
                return _unknown(name, ctx)
            wanted = {n for a in addrs if (n := parse_network(a)) is not None} \
                if addrs else None
            entries: list[BanInfo] = []
            fleet = ctx.fleet_view()
            origins = {} if fleet is None else fleet.origins
            for slot in list(jails.values()):
                if name is None or slot.config.name == name:
                    entries.extend(await _ban_entries(slot, now, wanted, origins))
            if wanted is not None:  # a few addresses: their stored lines too (one query each)
                entries = _with_lines(ctx, entries)
            return BannedReply(tuple(entries))
        case ReloadRequest(jail=name, restart=restart, unban=unban):
            return await ctx.reload(name, restart, unban)
        case StopRequest():
            ctx.request_stop()
            return DoneReply("Shutdown successful")
        case ExplainRequest(addr=addr):
            return explain(ctx, addr)
        case _ if isinstance(request, OPTION_REQUESTS):
            return await answer_option(ctx, request)  # fail2ban-client's get, set, start...
    return FailedReply(f"request {request.kind!r} is not supported", "usage")  # pragma: no cover


async def reload(ctx: ReloadContext, only: str | None, *, restart: bool = False,
                 unban: bool = False) -> Response:
    """Re-read the configuration; rebuild jails whose configuration changed (all with
    ``restart``), start new ones, stop removed ones. Unchanged jails keep their failures and
    bans. ``only`` limits this to one jail. Bans of rebuilt jails come back from the store.

    A configuration with any problem (what ``warden check`` reports) changes nothing, not
    even the jails it does not concern: the answer is :class:`FailedReply` listing every problem
    with file:line, and every jail keeps running as it was."""
    try:
        config = await asyncio.to_thread(load_jails, ctx.config_dir)
    except ConfigError as exc:
        log.error("reload refused, the running configuration stays: %s", exc)
        return FailedReply(f"reload refused, nothing changed: {exc}")
    problems = [*config.errors, *settings_problems(config.settings)]
    if problems:
        for error in problems:
            log.error("%s", error)
        log.error("reload refused (%d configuration problem(s)): every jail keeps running "
                  "on its previous configuration", len(problems))
        lines = "\n".join(" ".join(str(error).splitlines()) for error in problems)
        return FailedReply(f"{lines}\nreload refused, nothing changed: {len(problems)} "
                      "configuration problem(s)")
    wanted = {cfg.name: cfg for cfg in config.jails}
    if only is not None and only not in wanted and only not in ctx.jails:
        return _unknown(only, ctx)
    now = ctx.now()
    decisions: list[Decision] = []
    fresh: list[JailSlot] = []
    kept: list[str] = []
    for name in list(ctx.jails):
        if (only is None or name == only) and name not in wanted:
            slot = ctx.remove_jail(name)
            assert slot is not None
            decisions.extend(slot.jail.unban_all(now, forget=False))
            log.info("Jail '%s' stopped (no longer configured)", name)
    for name, cfg in wanted.items():
        if only is not None and name != only:
            continue
        old = ctx.jails.get(name)
        if old is not None and old.config == cfg and not restart:
            if unban:
                decisions.extend(old.jail.unban_all(now))
            kept.append(name)
            continue
        slot = await ctx.build_jail(cfg)
        if slot is None:
            continue  # reported; a jail that was running keeps running on its old config
        if old is not None and unban:
            decisions.extend(old.jail.unban_all(now))
        if old is not None:
            ctx.remove_jail(name)
        fresh.append(slot)
    if decisions:
        await ctx.carry_out(decisions)
    ctx.config = config
    await ctx.start_jails(fresh)
    ctx.sync_sources()
    for warning in config.warnings:
        log.warning("%s", warning)
    log.info("reloaded: %d jail(s) kept, %d (re)started", len(kept), len(fresh))
    advice = f"; {len(config.warnings)} warning(s) logged" if config.warnings else ""
    return DoneReply(f"OK ({len(kept)} kept, {len(fresh)} (re)started{advice})")
