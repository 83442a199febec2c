"""fail2ban's ``get``/``set`` of a running jail and of the server, in warden's terms.

A ``set JAIL OPTION VALUE`` makes a new :class:`~warden.config.JailConfig` from the running
one (the value parsed as the configuration's is), checks it with
:func:`warden.config.validate.jail_problems` (what ``warden check`` runs), and hands it to the
daemon (:meth:`~warden.daemon.handler.RequestContext.reconfigure_jail`), which moves the
running core jail onto it with :meth:`warden.core.jail.Jail.reconfigure`: counted failures and
bans stay. Like fail2ban's, the change lasts until the next reload (the reload compares the
configuration read from disk with the running one and rebuilds the jail where they differ).

Every answer is the value fail2ban's server returns for the option after the change
(:class:`~warden.protocol.OptionReply`), so both sockets and both clients print the same. An
option warden cannot change at run time is refused with a reason, never ignored.
"""

from __future__ import annotations

import asyncio
import dataclasses
import glob
import locale
import logging
import shlex
import weakref
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from warden.config import JailConfig
from warden.config.action import ActionConfig
from warden.config.confset import Value
from warden.config.jail import as_bool, load_jail_action
from warden.config.model import BanTimeIncrement, LogPath
from warden.config.sourceopts import backend_name
from warden.config.validate import dbmaxmatches, jail_problems, parse_ignorecache
from warden.core.duration import parse_duration
from warden.core.filter import Failure
from warden.core.filterdef import FilterDefinition, Origin
from warden.daemon.handler import RequestContext
from warden.daemon.runtime import JailSlot
from warden.errors import ConfigError, SourceError
from warden.protocol import (
    FailedReply,
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    OptionReply,
    Request,
    Response,
    ServerGetRequest,
    ServerSetRequest,
)
from warden.sources.journal import parse_journalmatch

__all__ = [
    "ACTION_METHODS",
    "JAIL_GET_OPTIONS",
    "JAIL_SET_OPTIONS",
    "OPTION_REQUESTS",
    "REFUSED_JAIL_GET",
    "REFUSED_JAIL_SET",
    "SERVER_GET_OPTIONS",
    "SERVER_SET_OPTIONS",
    "answer_option",
    "get_jail_option",
    "get_server_option",
    "set_jail_option",
    "set_server_option",
]

log = logging.getLogger("warden.server")

#: fail2ban's answer for a jail whose filter finds dates by itself
_DEFAULT_DATES = [None, "Default Detectors"]
#: fail2ban's command timeout of an action that sets none
_ACTION_TIMEOUT = 60
_BANTIME_EXTRA = ("increment", "factor", "formula", "multipliers", "maxtime", "rndtime",
                  "overalljails")

#: ``set JAIL OPTION`` forms warden refuses, and why (the error the client prints)
REFUSED_JAIL_SET: dict[str, str] = {}
#: ``set JAIL action ACT METHOD``: fail2ban calls a method of its Python action object
ACTION_METHODS = ("start", "stop", "ban", "unban", "flush", "reban", "prolong",
                  "consistencyCheck", "reload")


#: ``get JAIL OPTION`` forms warden refuses, and why
REFUSED_JAIL_GET = {
    "actionproperties": "a fail2ban action's properties are the attributes of its Python "
                        "object, which warden's actions are not; use 'get JAIL action ACT "
                        "PROPERTY' (actionban, actionunban, timeout, or a parameter)",
    "actionmethods": "a fail2ban action's methods are those of its Python object, which "
                     "warden's actions are not; warden runs actionstart, actionstop, "
                     "actioncheck, actionban, actionunban",
}


class _Bad(Exception):
    """A value or index the option does not take: the client's error message."""


def _number(value: float) -> int | float:
    """A duration as fail2ban returns it: whole seconds as an int."""
    return int(value) if float(value).is_integer() else value


def _filter(cfg: JailConfig) -> FilterDefinition:
    if cfg.filter is None:
        raise _Bad(f"the jail {cfg.name!r} has no filter")
    return cfg.filter


def _log_files(cfg: JailConfig) -> list[str]:
    """The files the jail's ``logpath`` patterns name now (what fail2ban monitors)."""
    files: list[str] = []
    for path in cfg.logpath:
        for name in sorted(glob.glob(path.pattern)) or ([] if glob.has_magic(path.pattern)
                                                         else [path.pattern]):
            if name not in files:
                files.append(name)
    return files


def _encoding(cfg: JailConfig) -> str:
    name = cfg.logencoding.strip()
    return locale.getpreferredencoding() if name.lower() == "auto" else name


def _datepattern(flt: FilterDefinition) -> list[str | None]:
    pattern = flt.datepattern
    if pattern is None or pattern.strip().upper() in ("{^LN-BEG}", "{DEFAULT}"):
        return list(_DEFAULT_DATES)
    return [pattern, pattern]  # fail2ban names its templates; warden shows the pattern


def _journalmatch(cfg: JailConfig) -> list[list[str]]:
    if backend_name(cfg.backend) != "systemd":
        return []  # a jail of files has no journal filter, whatever its filter says
    try:
        return [list(group) for group in parse_journalmatch(cfg.journalmatch)]
    except SourceError:
        return [list(cfg.journalmatch)]


def _ignorecache(cfg: JailConfig) -> list[object] | None:
    if not cfg.ignorecache:
        return None
    spec = parse_ignorecache(cfg.ignorecache)
    return [spec.key, spec.max_count, _number(spec.max_time)]


def _bantime_extra(cfg: JailConfig, name: str) -> object:
    """``bantime.NAME`` as fail2ban returns it: None until it is set."""
    if f"bantime.{name}" not in cfg.origins:
        return None
    inc = cfg.bantime_increment
    match name:
        case "increment":
            return inc.enabled
        case "overalljails":
            return inc.overalljails
        case "factor":
            return f"{inc.factor:g}"
        case "formula":
            return inc.formula
        case "multipliers":
            return " ".join(f"{m:g}" for m in inc.multipliers)
        case "maxtime":
            return None if inc.maxtime is None else _number(inc.maxtime)
        case _:
            return None if inc.rndtime is None else _number(inc.rndtime)


def _action(cfg: JailConfig, args: Sequence[str]) -> object:
    if len(args) < 2:
        raise _Bad("get JAIL action ACT PROPERTY: give the action and the property")
    for action in cfg.actions:
        if action.name == args[0]:
            if args[1] == "timeout":
                text = action.options.get("timeout", str(_ACTION_TIMEOUT))
                return int(text) if text.strip().isdigit() else text
            if args[1] in action.options:
                return action.options[args[1]]
            if args[1] in action.params:
                return action.params[args[1]]
            raise _Bad(f"the action {args[0]!r} has no property {args[1]!r}")
    raise _Bad(f"the jail {cfg.name!r} has no action {args[0]!r}")


_Getter = Callable[[JailConfig, Sequence[str]], object]

#: ``get JAIL OPTION``: what fail2ban's server returns for each option
JAIL_GET_OPTIONS: dict[str, _Getter] = {
    "maxretry": lambda c, a: c.maxretry,
    "maxmatches": lambda c, a: 5 if c.maxmatches is None else c.maxmatches,
    "maxlines": lambda c, a: _filter(c).maxlines,
    "findtime": lambda c, a: _number(c.findtime),
    "bantime": lambda c, a: _number(c.bantime),
    "usedns": lambda c, a: c.usedns,
    "ignoreself": lambda c, a: c.ignoreself,
    "ignoreip": lambda c, a: list(c.ignoreip),
    "ignorecommand": lambda c, a: c.ignorecommand or False,
    "ignorecache": lambda c, a: _ignorecache(c),
    "logpath": lambda c, a: _log_files(c),
    "logencoding": lambda c, a: _encoding(c),
    "journalmatch": lambda c, a: _journalmatch(c),
    "datepattern": lambda c, a: _datepattern(_filter(c)),
    "logtimezone": lambda c, a: c.logtimezone or _filter(c).logtimezone,
    "prefregex": lambda c, a: _filter(c).prefregex or "",
    "failregex": lambda c, a: list(_filter(c).failregex),
    "ignoreregex": lambda c, a: list(_filter(c).ignoreregex),
    "actions": lambda c, a: [action.name for action in c.actions],
    "action": _action,
    **{f"bantime.{name}": (lambda c, a, n=name: _bantime_extra(c, n))  # type: ignore[misc]
       for name in _BANTIME_EXTRA},
}


# -- set ---------------------------------------------------------------------------------------
def _one(values: Sequence[str]) -> str:
    if not values:
        raise _Bad("give a value")
    return values[0]


def _int(values: Sequence[str]) -> int:
    text = _one(values)
    try:
        return int(text)
    except ValueError:
        raise _Bad(f"invalid literal for int() with base 10: {text!r}") from None


def _seconds(values: Sequence[str]) -> float:
    text = _one(values)
    try:
        return parse_duration(text)
    except ValueError as exc:
        raise _Bad(f"{text!r} is not a time value: {exc}") from None


def _index(values: Sequence[str], items: tuple[str, ...]) -> int:
    index = _int(values)
    if not 0 <= index < len(items):
        raise _Bad(f"no regular expression at index {index} (there are {len(items)})")
    return index


def _mark(cfg: JailConfig, option: str) -> dict[str, Origin]:
    return {**cfg.origins, option: Origin("<set at run time>")}


def _with_filter(cfg: JailConfig, **changes: Any) -> JailConfig:
    return dataclasses.replace(cfg, filter=dataclasses.replace(_filter(cfg), **changes))


def _increment(cfg: JailConfig, name: str, values: Sequence[str]) -> JailConfig:
    inc = cfg.bantime_increment
    text = " ".join(values).strip()
    if not text:
        raise _Bad("give a value")
    new: BanTimeIncrement
    try:
        match name:
            case "increment":
                new = dataclasses.replace(inc, enabled=as_bool(text))
            case "overalljails":
                new = dataclasses.replace(inc, overalljails=as_bool(text))
            case "factor":
                new = dataclasses.replace(inc, factor=float(text))
            case "formula":
                new = dataclasses.replace(inc, formula=text)
            case "multipliers":
                new = dataclasses.replace(inc, multipliers=tuple(float(x) for x in text.split()))
            case "maxtime":
                new = dataclasses.replace(inc, maxtime=parse_duration(text))
            case _:
                new = dataclasses.replace(inc, rndtime=parse_duration(text))
    except ValueError as exc:
        raise _Bad(f"bantime.{name}: {text!r} is not a valid value ({exc})") from None
    return dataclasses.replace(cfg, bantime_increment=new,
                               origins=_mark(cfg, f"bantime.{name}"))


def _addlogpath(cfg: JailConfig, values: Sequence[str]) -> JailConfig:
    if len(values) > 2:
        raise _Bad("Only one file can be added at a time")
    start = values[1].lower() if len(values) == 2 else "head"
    if start not in ("head", "tail"):
        raise _Bad("File option must be 'head' or 'tail'")
    path = _one(values)
    if any(lp.pattern == path for lp in cfg.logpath):
        return cfg
    return dataclasses.replace(cfg, logpath=(*cfg.logpath, LogPath(path, start)))


def _journalmatch_changed(cfg: JailConfig, option: str, values: Sequence[str]) -> JailConfig:
    """``addjournalmatch`` adds ``values`` as one more alternative group of terms;
    ``deljournalmatch`` removes the group equal to ``values``."""
    if backend_name(cfg.backend) != "systemd":
        raise _Bad(f"the jail {cfg.name!r} reads files (backend = {cfg.backend}); "
                   "journalmatch applies to backend = systemd")
    if not values:
        raise _Bad("give the match (FIELD=value ...)")
    try:
        groups = parse_journalmatch(cfg.journalmatch)
        if option == "addjournalmatch":
            groups += parse_journalmatch([shlex.join(values)])
        elif list(values) in groups:
            groups.remove(list(values))
        else:
            raise _Bad(f"no journal match {' '.join(values)!r} (the groups are "
                       f"{' + '.join(' '.join(g) for g in groups) or 'none'})")
    except SourceError as exc:
        raise _Bad(str(exc)) from None
    return dataclasses.replace(cfg, journalmatch=tuple(shlex.join(g) for g in groups))


def _changed(cfg: JailConfig, option: str, values: Sequence[str]) -> JailConfig:
    """``cfg`` with ``set JAIL option values`` applied (``_Bad`` for a value it does not
    take; every other check is :func:`jail_problems`' afterwards)."""
    replace = dataclasses.replace
    match option:
        case "maxretry":
            return replace(cfg, maxretry=_int(values))
        case "maxmatches":
            return replace(cfg, maxmatches=_int(values))
        case "maxlines":
            return _with_filter(cfg, maxlines=_int(values))
        case "findtime":
            return replace(cfg, findtime=_seconds(values))
        case "bantime":
            return replace(cfg, bantime=_seconds(values))
        case "usedns":
            return replace(cfg, usedns=_one(values).strip().lower())
        case "ignoreself":
            return replace(cfg, ignoreself=as_bool(_one(values)))
        case "addignoreip":
            added = [v for v in values if v not in cfg.ignoreip]
            return replace(cfg, ignoreip=(*cfg.ignoreip, *added))
        case "delignoreip":
            gone = _one(values)
            return replace(cfg, ignoreip=tuple(v for v in cfg.ignoreip if v != gone))
        case "ignorecommand":
            return replace(cfg, ignorecommand=" ".join(values) or None)
        case "ignorecache":
            return replace(cfg, ignorecache=" ".join(values) or None)
        case "addlogpath":
            return _addlogpath(cfg, values)
        case "dellogpath":
            gone = _one(values)
            return replace(cfg, logpath=tuple(lp for lp in cfg.logpath if lp.pattern != gone))
        case "logencoding":
            return replace(cfg, logencoding=_one(values))
        case "addjournalmatch" | "deljournalmatch":
            return _journalmatch_changed(cfg, option, values)
        case "logtimezone":
            return replace(cfg, logtimezone=_one(values))
        case "datepattern":
            return _with_filter(cfg, datepattern=_one(values))
        case "prefregex":
            return _with_filter(cfg, prefregex=_one(values) or None)
        case "addfailregex":
            return _with_filter(cfg, failregex=(*_filter(cfg).failregex, _one(values)))
        case "addignoreregex":
            return _with_filter(cfg, ignoreregex=(*_filter(cfg).ignoreregex, _one(values)))
        case "delfailregex" | "delignoreregex":
            name = option[3:]
            items: tuple[str, ...] = getattr(_filter(cfg), name)
            index = _index(values, items)
            return _with_filter(cfg, **{name: items[:index] + items[index + 1:]})
    assert option.startswith("bantime.")
    return _increment(cfg, option[len("bantime."):], values)


#: ``set JAIL OPTION``: options warden changes at run time, each answered like ``get``
JAIL_SET_OPTIONS = (
    "maxretry", "maxmatches", "maxlines", "findtime", "bantime", "usedns", "ignoreself",
    "addignoreip", "delignoreip", "ignorecommand", "ignorecache", "addlogpath", "dellogpath",
    "logencoding", "addjournalmatch", "deljournalmatch", "logtimezone", "datepattern",
    "prefregex", "addfailregex",
    "delfailregex", "addignoreregex", "delignoreregex",
    *(f"bantime.{name}" for name in _BANTIME_EXTRA))

# what a set answers: the getter of the option it changes
_ANSWER = {"addignoreip": "ignoreip", "delignoreip": "ignoreip", "addlogpath": "logpath",
           "dellogpath": "logpath", "addfailregex": "failregex", "delfailregex": "failregex",
           "addignoreregex": "ignoreregex", "delignoreregex": "ignoreregex",
           "addjournalmatch": "journalmatch", "deljournalmatch": "journalmatch"}


def _failed(message: str) -> FailedReply:
    return FailedReply(message, "usage")


def get_jail_option(slot: JailSlot, option: str, args: Sequence[str]) -> Response:
    """``get JAIL option args``: fail2ban's value for the running jail ``slot``."""
    if option in REFUSED_JAIL_GET:
        return FailedReply(f"get {option}: {REFUSED_JAIL_GET[option]}", "usage")
    getter = JAIL_GET_OPTIONS.get(option)
    if getter is None:
        return _failed("Invalid command (no get action or not yet implemented)")
    try:
        return OptionReply.of(option, getter(slot.config, args), slot.config.name)
    except _Bad as exc:
        return _failed(str(exc))


async def set_jail_option(ctx: RequestContext, slot: JailSlot, option: str,
                          values: Sequence[str]) -> Response:
    """``set JAIL option values`` on the running jail ``slot`` (until the next reload)."""
    if option == "attempt":
        return await _attempt(ctx, slot, values)
    if option == "idle":
        return _idle(slot, values)
    if option in ("addaction", "delaction"):
        return await _action_set(ctx, slot, option, values)
    if option == "action":
        return await _action_property(ctx, slot, values)
    if option in REFUSED_JAIL_SET:
        return FailedReply(f"set {option}: {REFUSED_JAIL_SET[option]}", "usage")
    if option not in JAIL_SET_OPTIONS:
        return _failed(f"Invalid command {option!r} (no set action or not yet implemented)")
    async with _setting_lock():
        cfg = slot.config
        try:
            new = _changed(cfg, option, values)
        except _Bad as exc:
            return _failed(str(exc))
        if new != cfg or option.startswith("bantime."):
            refused = await _apply(ctx, slot, cfg, new)
            if refused is not None:
                return refused
            log.info("[%s] set %s %s (until the next reload)", cfg.name, option,
                     " ".join(values))
    return get_jail_option(slot, _ANSWER.get(option, option), ())


async def _apply(ctx: RequestContext, slot: JailSlot, cfg: JailConfig, new: JailConfig
                 ) -> FailedReply | None:
    """Check ``new`` as ``warden check`` would and run the jail on it (None), or why not."""
    # Off the event loop: a changed filter's regexes are parsed and screened (a big new
    # regex takes a while; the rest come from core's caches), and meanwhile the loop keeps
    # reading logs, banning and answering. The jail is rebuilt on the loop from the now
    # cached regexes.
    problems = await asyncio.to_thread(jail_problems, new)
    if problems:
        return _failed(" ".join(str(problems[0]).splitlines()))
    if ctx.jails.get(cfg.name) is not slot or slot.config is not cfg:
        return _failed(f"the jail {cfg.name!r} was reloaded while the value was checked; "
                       "nothing changed, set it again")
    refused = await ctx.reconfigure_jail(new)
    return None if refused is None else _failed(refused)


def _empty_action(config_dir: Path, reference: str) -> ActionConfig | None:
    """fail2ban's empty command action named ``reference`` when action.d has no such file
    (its commands are then set one by one); None when there is one to load."""
    name = reference.split("[", 1)[0].strip()
    directory = config_dir / "action.d"
    if name.endswith(".py") or any((directory / f"{name}{ext}").exists()
                                   for ext in (".conf", ".local")):
        return None
    return ActionConfig(name, name, {})


async def _action_set(ctx: RequestContext, slot: JailSlot, option: str,
                      values: Sequence[str]) -> Response:
    """``set JAIL addaction ACT`` / ``set JAIL delaction ACT``: the jail runs with one
    action more (started, given the jail's bans) or less (its bans lifted, stopped), until
    the next reload; answered as fail2ban's server answers (the name; None)."""
    if not values:
        return _failed(f"set {option}: give the action")
    if option == "addaction" and len(values) > 1:
        return FailedReply(
            f"set addaction: {values[0]} from {values[1]} is a Python action, which warden "
            "does not run; use an action.d command action (a .conf file) instead", "usage")
    async with _setting_lock():
        cfg = slot.config
        names = [action.name for action in cfg.actions]
        if option == "delaction":
            if values[0] not in names:
                return FailedReply(f"'Invalid Action name: {values[0]}'")
            new = dataclasses.replace(cfg, actions=tuple(
                a for a in cfg.actions if a.name != values[0]))
            answer: object = None
        else:
            action = _empty_action(Path(ctx.config_dir), values[0])
            if action is None:
                try:
                    action = await asyncio.to_thread(load_jail_action, ctx.config_dir,
                                                     cfg.name, values[0])
                except ConfigError as exc:
                    return _failed(" ".join(str(exc).splitlines()))
            if action.python_path is not None:
                return FailedReply(f"set addaction: {action.file} is a Python action, which "
                                   "warden does not run; use an action.d command action (a "
                                   ".conf file) instead", "usage")
            if action.name in names:
                return FailedReply(f"Action {action.name} already exists")
            new = dataclasses.replace(cfg, actions=(*cfg.actions, action))
            answer = action.name
        refused = await _apply(ctx, slot, cfg, new)
        if refused is not None:
            return refused
        log.info("[%s] %s %s (until the next reload)", cfg.name, option, values[0])
    return OptionReply.of(option, answer, cfg.name)


async def _action_property(ctx: RequestContext, slot: JailSlot, values: Sequence[str]
                           ) -> Response:
    """``set JAIL action ACT PROPERTY VALUE``: the action runs with PROPERTY (a command such
    as ``actionban``, ``timeout``, or a value its commands use as ``<PROPERTY>``) set to
    VALUE from its next command on, until the next reload; answered with the value."""
    if len(values) < 2:
        return _failed("set JAIL action ACT PROPERTY VALUE: give the action, the property "
                       "and the value")
    act, prop, text = values[0], values[1], " ".join(values[2:])
    async with _setting_lock():
        cfg = slot.config
        action = next((a for a in cfg.actions if a.name == act), None)
        if action is None:
            return FailedReply(f"'Invalid Action name: {act}'")
        if prop in ACTION_METHODS:
            return FailedReply(f"set action {act} {prop}: fail2ban calls a method of its Python "
                               "action here; warden's actions are not Python objects", "usage")
        if action.python_path is not None:
            return _failed(f"the action {act!r} is a Python action, which warden does not run")
        if len(values) < 3:
            return _failed(f"set JAIL action {act} {prop} VALUE: give the value")
        if prop == "timeout":
            try:
                if float(text) <= 0:
                    raise ValueError
            except ValueError:
                return _failed(f"timeout: {text!r} is not a positive number of seconds")
        # a command action's values are its options; an action read without them runs on
        # its parameters (what the native backends are made from then)
        changed = dataclasses.replace(action, options={**action.options, prop: text}) \
            if action.options else dataclasses.replace(action, params={**action.params,
                                                                        prop: text})
        new = dataclasses.replace(cfg, actions=tuple(
            changed if a.name == act else a for a in cfg.actions))
        if new != cfg:
            refused = await _apply(ctx, slot, cfg, new)
            if refused is not None:
                return refused
            log.info("[%s] set action %s %s %s (until the next reload)", cfg.name, act, prop,
                     text)
    return get_jail_option(slot, "action", (act, prop))


# One runtime set at a time, so two sets of one jail both take effect (each starts from
# the other's result); one lock per event loop (tests run several loops in turn).
_LOCKS: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = \
    weakref.WeakKeyDictionary()


def _setting_lock() -> asyncio.Lock:
    loop = asyncio.get_running_loop()
    lock = _LOCKS.get(loop)
    if lock is None:
        lock = _LOCKS[loop] = asyncio.Lock()
    return lock


def _idle(slot: JailSlot, values: Sequence[str]) -> Response:
    """``set JAIL idle on|off``: stop or resume looking at the jail's log lines (until the
    jail is rebuilt by a reload)."""
    word = values[0] if len(values) == 1 else ""
    if word not in ("on", "off"):
        return _failed("Invalid idle option, must be 'on' or 'off'")
    slot.jail.idle = word == "on"
    log.info("[%s] idle %s", slot.config.name, word)
    return OptionReply.of("idle", slot.jail.idle, slot.config.name)


async def _attempt(ctx: RequestContext, slot: JailSlot, values: Sequence[str]) -> Response:
    """``set JAIL attempt IP [FAILURE...]``: count one failure of IP now, as if a log line
    had shown it (its lines are the matches an action may print)."""
    if not values:
        return _failed("set JAIL attempt IP [FAILURE...]: give the address")
    now = ctx.now()
    failure = Failure(values[0], now, {}, tuple(values[1:]), 0)
    await ctx.carry_out(slot.jail.add_failure(failure, now))
    return OptionReply.of("attempt", 1, slot.config.name)


# -- the server --------------------------------------------------------------------------------
#: ``get OPTION`` of the server
SERVER_GET_OPTIONS = ("loglevel", "logtarget", "syslogsocket", "dbfile", "dbmaxmatches",
                      "dbpurgeage")
#: ``set OPTION`` of the server warden changes at run time
SERVER_SET_OPTIONS = ("loglevel", "logtarget", "syslogsocket", "dbpurgeage", "dbmaxmatches",
                      "dbfile")
#: ``set OPTION`` of the server warden refuses, and why (none left)
REFUSED_SERVER_SET: dict[str, str] = {}
#: fail2ban's answer to ``set dbfile`` with another file while jails run
_DB_IN_USE = "Cannot change database when there are jails present"


def get_server_option(ctx: RequestContext, option: str) -> Response:
    """``get option``: a setting of the running daemon, as fail2ban's server returns it."""
    if option not in SERVER_GET_OPTIONS:
        return _failed("Invalid command (no get action or not yet implemented)")
    return OptionReply.of(option, ctx.server_option(option))


def set_server_option(ctx: RequestContext, option: str, values: Sequence[str]) -> Response:
    """``set option values`` of the daemon."""
    if option in REFUSED_SERVER_SET:
        return FailedReply(f"set {option}: {REFUSED_SERVER_SET[option]}", "usage")
    if option not in SERVER_SET_OPTIONS:
        return _failed(f"Invalid command {option!r} (no set action or not yet implemented)")
    text = " ".join(values).strip()
    if option == "dbfile":
        return _dbfile(ctx, text)
    if option == "loglevel":
        refused = ctx.set_loglevel(text)
        return _failed(refused) if refused is not None else OptionReply.of(option, text)
    if option in ("logtarget", "syslogsocket"):
        if not text:
            return _failed(f"set {option}: give the {option}")
        refused = ctx.set_log(option, text)
        if refused is not None:
            return FailedReply(refused)
        return OptionReply.of(option, ctx.server_option(option))
    number: int
    try:
        if option == "dbpurgeage":
            number = int(parse_duration(text))
        else:
            number = dbmaxmatches(Value(text, Origin("<set at run time>")))
    except (ValueError, ConfigError) as exc:
        return _failed(f"{option}: {' '.join(str(exc).splitlines())}")
    ctx.change_setting(option, number)
    log.info("set %s %s (until the daemon restarts)", option, text)
    return OptionReply.of(option, number)


def _dbfile(ctx: RequestContext, text: str) -> Response:
    """``set dbfile FILE`` as fail2ban's server answers it: the file in use is kept (and
    named), another is refused while jails run; with none running fail2ban would open the new
    file, warden still refuses (its store is opened once, at start)."""
    current = ctx.server_option("dbfile")
    if text == current:
        return OptionReply.of("dbfile", current)
    if ctx.jails:
        return _failed(_DB_IN_USE)
    return FailedReply("set dbfile: the store is opened at start; set dbfile in warden.conf "
                       "and restart", "usage")


# -- one entry for the handler -------------------------------------------------------------
#: the requests :func:`answer_option` answers
OPTION_REQUESTS = (JailGetRequest, JailSetRequest, ServerGetRequest, ServerSetRequest,
                   JailControlRequest, FlushLogsRequest)


def _unknown(ctx: RequestContext, name: str) -> FailedReply:
    known = ", ".join(sorted(ctx.jails)) or "none"
    return FailedReply(f"Sorry but the jail '{name}' does not exist (jails: {known})", "usage")


async def _control(ctx: RequestContext, request: JailControlRequest) -> Response:
    name = request.jail
    match request.action:
        case "stop":
            if name not in ctx.jails:
                return _unknown(ctx, name)
            await ctx.stop_jail(name)
            return OptionReply.of("stop", None, name)
        case "start":
            refused = await ctx.start_jail(name)
            if refused is not None:
                return _failed(refused)
            return OptionReply.of("start", None, name)
        case "add":
            if name in ctx.jails:
                return _failed(f"The jail '{name}' already exists")
            return _failed(f"add {name}: warden builds jails from the configuration; add "
                           f"[{name}] to jail.local and run 'reload'")
    return _failed(f"unknown jail control {request.action!r}")


async def answer_option(ctx: RequestContext, request: Request) -> Response:
    """The answer to one of :data:`OPTION_REQUESTS`."""
    match request:
        case JailGetRequest(jail=name, option=option, args=args):
            slot = ctx.jails.get(name)
            return _unknown(ctx, name) if slot is None else get_jail_option(slot, option, args)
        case JailSetRequest(jail=name, option=option, values=values):
            slot = ctx.jails.get(name)
            if slot is None:
                return _unknown(ctx, name)
            return await set_jail_option(ctx, slot, option, values)
        case ServerGetRequest(option=option):
            return get_server_option(ctx, option)
        case ServerSetRequest(option=option, values=values):
            return set_server_option(ctx, option, values)
        case JailControlRequest():
            return await _control(ctx, request)
        case FlushLogsRequest():
            return OptionReply.of("flushlogs", ctx.flush_logs())
    return _failed(f"request {request.kind!r} is not a get or set")
