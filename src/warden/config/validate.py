"""Every check of an enabled jail, in one place.

:func:`warden.config.jail.load_jails` runs :func:`jail_problems` on each jail it resolves and
leaves out the jails that have problems; ``warden check``, ``warden server`` and ``reload`` all
load through it, so what ``check`` accepts the daemon runs, and what the daemon refuses
``check`` refuses with the same message. The daemon's own conversion
(``daemon.jailspec.jail_spec`` and ``daemon.app.make_jail``) calls the same functions again
rather than checking anything itself.

Each problem is a :class:`ConfigError` that names the jail, the option and the file:line where
the option was written. Warnings (:func:`jail_warnings`) are advice: regexes the linter finds
risky but cannot prove exponential.
"""

from __future__ import annotations

import codecs
import locale
import os
import re
import socket

from warden.config.confset import Value
from warden.config.filter import BACKTRACKING_OPTION
from warden.config.fleet import fleet_problems
from warden.config.metrics import metrics_endpoint
from warden.config.model import JailConfig
from warden.config.reference import parse_reference
from warden.config.sourceopts import journal_backend, syslog_backend
from warden.core.addr import parse_network
from warden.core.duration import parse_duration
from warden.core.failregex import FilterRegex, compile_regex
from warden.core.filter import Filter
from warden.core.filterdef import FilterDefinition, Origin
from warden.core.formula import FormulaError, compile_formula
from warden.core.regexlint import certain_problems, lint_regex
from warden.core.spec import USEDNS_MODES, IgnoreCacheSpec
from warden.core.trust import success_definition
from warden.errors import ConfigError, RegexError

__all__ = [
    "BACKEND_NAMES",
    "BACKTRACKING_OPTION",
    "COMPAT_SOCKET_OFF",
    "DEFAULT_DBMAXMATCHES",
    "LOG_LEVELS",
    "compat_socket_problem",
    "dbmaxmatches",
    "jail_problems",
    "jail_warnings",
    "parse_ignorecache",
    "python_action_warnings",
    "settings_problems",
    "value_problems",
    "workers",
]

#: the ``backend`` names a jail may use (``name[options]`` is allowed); the log sources map
#: them to a watcher (``sources.base.BACKENDS``, which a test keeps equal to this list)
BACKEND_NAMES = ("auto", "polling", "inotify", "pyinotify", "gamin", "kqueue", "systemd",
                 "syslog")
#: the ``loglevel`` names of warden.conf (numbers are accepted too)
LOG_LEVELS = ("CRITICAL", "ERROR", "WARNING", "NOTICE", "INFO", "DEBUG")
#: values of ``compat_socket`` that leave fail2ban's socket off (as leaving it unset does)
COMPAT_SOCKET_OFF = ("none", "off", "false", "no")

#: fail2ban's ``dbmaxmatches``: matched lines kept in the store per ban
DEFAULT_DBMAXMATCHES = 10
# more lines per ban than anyone reads (each is at most 1 KiB in the store)
_MAX_DBMAXMATCHES = 1000

_MAX_PORT = 65535
# a DNS host name: dot-separated labels of letters, digits, '-' (not at either end) and '_'
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_NAME = re.compile(rf"{_LABEL}(?:\.{_LABEL})*\.?")
# what an address or network looks like when it is one that does not parse
_ADDRESS_LIKE = re.compile(r"[\d.]+(?:/.*)?|.*[:/].*")
_NETMASK = re.compile(r"[\d.]+/\d+\.\d+\.\d+\.\d+")


def _located(cfg: JailConfig, message: str, *options: str) -> ConfigError:
    """``[jail] message`` at the first of ``options`` the jail wrote."""
    origin = next((o for name in options if (o := cfg.origins.get(name))), None)
    return ConfigError(f"[{cfg.name}] {message}", file=origin.file if origin else None,
                       line=origin.line if origin else None)


def _error(cfg: JailConfig, option: str, message: str) -> ConfigError:
    """``[jail] option: message`` at the option's line."""
    return _located(cfg, f"{option}: {message}", option)


def parse_ignorecache(text: str) -> IgnoreCacheSpec:
    """``key="<ip>", max-count=100, max-time=5m`` (each part optional) -> IgnoreCacheSpec;
    ValueError on bad syntax or values."""
    params = parse_reference(f"ignorecache[{text}]").params
    unknown = set(params) - {"key", "max-count", "max-time"}
    if unknown:
        raise ValueError(f"unknown ignorecache option(s): {', '.join(sorted(unknown))}")
    spec = IgnoreCacheSpec()
    key = params.get("key", spec.key)
    try:
        count = int(params.get("max-count", str(spec.max_count)))
    except ValueError:
        raise ValueError(f"max-count is not an integer: {params['max-count']!r}") from None
    max_time = parse_duration(params["max-time"]) if "max-time" in params else spec.max_time
    if count < 0 or max_time < 0:
        raise ValueError("max-count and max-time must not be negative")
    return IgnoreCacheSpec(key=key, max_count=count, max_time=max_time)


def value_problems(cfg: JailConfig) -> list[ConfigError]:
    """Numbers and words the pure jail cannot use: ``maxretry``, ``maxmatches``,
    ``findtime``, ``usedns``, ``bantime.formula``, ``ignorecache``."""
    problems: list[ConfigError] = []
    if cfg.maxretry < 1:
        problems.append(_error(cfg, "maxretry", f"must be at least 1, not {cfg.maxretry}"))
    if cfg.maxmatches is not None and cfg.maxmatches < 0:
        problems.append(_error(cfg, "maxmatches", f"must not be negative, not {cfg.maxmatches}"))
    if cfg.findtime < 0:
        problems.append(_error(cfg, "findtime", "must not be negative"))
    if cfg.usedns.strip().lower() not in USEDNS_MODES:
        problems.append(_error(cfg, "usedns", f"must be one of {', '.join(USEDNS_MODES)}, "
                                              f"not {cfg.usedns!r}"))
    formula = cfg.bantime_increment.formula
    if formula:
        try:
            compile_formula(formula)
        except FormulaError as exc:
            problems.append(_error(cfg, "bantime.formula", str(exc)))
    if cfg.ignorecache:
        try:
            parse_ignorecache(cfg.ignorecache)
        except ValueError as exc:
            problems.append(_error(cfg, "ignorecache", str(exc)))
    return problems


def _source_problems(cfg: JailConfig) -> list[ConfigError]:
    """``backend``, ``logpath`` and ``logencoding``: can the jail's log be read at all?"""
    problems: list[ConfigError] = []
    base = cfg.backend.split("[", 1)[0].strip().lower()
    if base not in BACKEND_NAMES:
        problems.append(_error(cfg, "backend", f"unknown backend {cfg.backend!r}: use one of "
                                               "auto, polling, inotify, kqueue, systemd, syslog"))
    elif base == "systemd":
        try:
            journal_backend(cfg.backend)
        except ValueError as exc:
            problems.append(_error(cfg, "backend", f"{exc}; the jail is skipped"))
    elif base == "syslog":  # lines come from the socket, logpath is not read
        try:
            syslog_backend(cfg.backend)
        except ValueError as exc:
            problems.append(_error(cfg, "backend", f"{exc}; the jail is skipped"))
    elif not cfg.logpath:
        problems.append(_located(cfg, "has no logpath; the jail is skipped", "logpath",
                                 "enabled"))
    why = _encoding_problem(cfg.logencoding)
    if why:
        problems.append(_located(cfg, f"{why}; the jail is skipped", "logencoding", "enabled"))
    return problems


def _encoding_problem(name: str) -> str | None:
    """Why lines in encoding ``name`` cannot be read (split on the byte ``\\n`` before
    decoding, so only encodings that write ``\\n`` as that byte work), or None."""
    enc = locale.getpreferredencoding(False) if name.strip().lower() == "auto" else name.strip()
    try:
        info = codecs.lookup(enc)
    except LookupError:
        return f"unknown logencoding {name!r}: use a codec name such as utf-8"
    if "\n".encode(info.name, "replace") != b"\n":
        return (f"logencoding {name!r} does not write a newline as one byte; "
                "use an ASCII-compatible encoding such as utf-8 or latin-1")
    return None


def _ignoreip_problems(cfg: JailConfig) -> list[ConfigError]:
    bad = [word for word in cfg.ignoreip
           if parse_network(word) is None
           and (_ADDRESS_LIKE.fullmatch(word) or not _HOST_NAME.fullmatch(word)
                or len(word) > 253)]
    if not bad:
        return []
    words = ", ".join(repr(word) for word in bad)
    hint = (" (a netmask must be contiguous, such as 255.255.0.0)"
            if any(_NETMASK.fullmatch(word) for word in bad) else "")
    return [_error(cfg, "ignoreip", f"{words}: not an address, a network (ADDR/PREFIX or "
                                    f"ADDR/NETMASK) or a host name{hint}")]


def _service_known(name: str) -> bool | None:
    """Is ``name`` a service of the services database (None: there is no database)."""
    for protocol in ("tcp", "udp"):
        try:
            socket.getservbyname(name, protocol)
            return True
        except OSError:
            continue
    try:
        socket.getservbyname("ssh", "tcp")
    except OSError:
        return None  # no /etc/services at all: names cannot be checked here
    return False


def _port_problem(item: str) -> str | None:
    """Why one ``port`` entry (``22``, ``ssh``, ``1000:2000``, ``1000-2000``) is wrong."""
    if not item:
        return "an empty entry"
    if item[0].isdigit():
        parts = re.split(r"[:-]", item, maxsplit=1)
        if not all(part.isdigit() for part in parts):
            return f"{item!r} is not a port number or range"
        numbers = [int(part) for part in parts]
        if any(number > _MAX_PORT for number in numbers):
            return f"{item!r} is beyond {_MAX_PORT}"
        if len(numbers) == 2 and numbers[0] > numbers[1]:
            return f"the range {item!r} ends before it starts"
        return None
    if not re.fullmatch(r"[A-Za-z][A-Za-z0-9_.+-]*", item) or _service_known(item) is False:
        return f"{item!r} is not a port number or a service name of /etc/services"
    return None


def _port_problems(cfg: JailConfig) -> list[ConfigError]:
    text = (cfg.port or "").strip()
    if not text:
        return []
    why = [problem for item in text.split(",") if (problem := _port_problem(item.strip()))]
    return [_error(cfg, "port", f"{text!r}: {'; '.join(why)}")] if why else []


def _regex_groups(flt: FilterDefinition) -> list[tuple[str, tuple[str, ...]]]:
    groups: list[tuple[str, tuple[str, ...]]] = [
        ("failregex", flt.failregex), ("ignoreregex", flt.ignoreregex),
        ("successregex", flt.successregex)]
    if flt.prefregex:
        groups.append(("prefregex", (flt.prefregex,)))
    return groups


def _regex_origin(flt: FilterDefinition, option: str, index: int) -> Origin:
    return (flt.origins.get(f"{option}[{index}]") or flt.origins.get(option)
            or Origin("<filter>"))


def _compiled(cfg: JailConfig) -> tuple[list[tuple[FilterRegex, Origin]], list[ConfigError]]:
    """Every regex of the jail's filter compiled, with its origin, and the ones that fail."""
    flt = cfg.filter
    assert flt is not None
    found: list[tuple[FilterRegex, Origin]] = []
    problems: list[ConfigError] = []
    for option, regexes in _regex_groups(flt):
        for index, regex in enumerate(regexes):
            where = _regex_origin(flt, option, index)
            try:
                found.append((compile_regex(regex, option=option, index=index,
                                            multiline=flt.maxlines > 1), where))
            except RegexError as exc:
                problems.append(RegexError(f"[{cfg.name}] filter {flt.name}: {exc.message}",
                                           option=option, index=index, file=where.file,
                                           line=where.line))
    return found, problems


def _backtracking_problems(cfg: JailConfig,
                           compiled: list[tuple[FilterRegex, Origin]]) -> list[ConfigError]:
    """Regexes certain to backtrack exponentially, refused unless the filter opts in: one
    log line written by an attacker would hold the daemon's only thread for seconds, and
    every jail and the control socket with it."""
    if cfg.allow_backtracking:
        return []
    assert cfg.filter is not None
    problems: list[ConfigError] = []
    for rx, where in compiled:
        for message in certain_problems(rx.expanded):
            problems.append(ConfigError(
                f"[{cfg.name}] filter {cfg.filter.name}: {rx.option} #{rx.index + 1}: "
                f"{message}; refused, as one log line could stall every jail (rewrite it, "
                f"e.g. with an atomic group (?>...), or set {BACKTRACKING_OPTION} = allow "
                "in the filter's [Definition])",
                file=where.file, line=where.line))
    return problems


def _core_problems(cfg: JailConfig) -> list[ConfigError]:
    """What the core's filter refuses when it is built (a failregex without a host group,
    ``maxlines``, ``datepattern``, ``logtimezone``): build it, as the daemon will."""
    flt = cfg.filter
    assert flt is not None
    try:
        Filter(flt)
    except RegexError as exc:
        if exc.option in ("failregex", "ignoreregex", "prefregex"):
            where = _regex_origin(flt, exc.option, exc.index)
            return [ConfigError(f"[{cfg.name}] filter {flt.name}: {exc.message}",
                                file=where.file, line=where.line)]
        return [_date_problem(cfg, exc)]
    except ConfigError as exc:
        return [_date_problem(cfg, exc)]
    if flt.successregex:
        try:  # the success lines are matched by a filter of their own (core.trust)
            Filter(success_definition(flt))
        except RegexError as exc:
            where = _regex_origin(flt, "successregex", exc.index)
            message = exc.message.replace("failregex", "successregex")
            return [ConfigError(f"[{cfg.name}] filter {flt.name}: {message}",
                                file=where.file, line=where.line)]
    return []


def _date_problem(cfg: JailConfig, exc: ConfigError) -> ConfigError:
    flt = cfg.filter
    assert flt is not None
    option = next((name for name in ("logtimezone", "maxlines")
                   if exc.message.startswith(name)), "datepattern")
    where = cfg.origins.get(option) or flt.origins.get(option) or Origin("<jail>")
    return ConfigError(f"[{cfg.name}] {exc.message}", file=where.file, line=where.line)


def jail_problems(cfg: JailConfig) -> list[ConfigError]:
    """Every reason the enabled jail ``cfg`` cannot run, each located at its option."""
    problems = [*value_problems(cfg), *_source_problems(cfg), *_ignoreip_problems(cfg),
                *_port_problems(cfg), *fleet_problems(cfg)]
    if cfg.filter is not None:
        compiled, broken = _compiled(cfg)
        problems += broken or _backtracking_problems(cfg, compiled) or _core_problems(cfg)
    return problems


def python_action_warnings(cfg: JailConfig) -> list[ConfigError]:
    """The jail's Python actions (``action.d/*.py``), which warden skips: one warning each,
    at the line that names the action."""
    return [ConfigError(
        f"[{cfg.name}] action {action.file}: Python actions are not run by warden; this one "
        "is skipped (use mail-whois or sendmail-whois for mail, webhook for HTTP, or an "
        "action.d/*.conf command action)", file=action.origin.file, line=action.origin.line)
        for action in cfg.actions if action.python_path is not None]


def jail_warnings(cfg: JailConfig) -> list[ConfigError]:
    """Regexes of the jail's filter that risk catastrophic backtracking (advice only; the
    certain cases are problems, unless the filter allows them, then they are listed here),
    and the Python actions that will not run."""
    skipped = python_action_warnings(cfg)
    flt = cfg.filter
    if flt is None:
        return skipped
    compiled, _ = _compiled(cfg)
    found: list[ConfigError] = []
    for rx, where in compiled:
        for message in lint_regex(rx.expanded):
            found.append(ConfigError(
                f"[{cfg.name}] filter {flt.name}: {rx.option} #{rx.index + 1}: {message}",
                file=where.file, line=where.line))
    return skipped + found


def settings_problems(settings: dict[str, Value]) -> list[ConfigError]:
    """``dbpurgeage`` and ``loglevel`` of warden.conf (or fail2ban.conf), as the daemon
    reads them."""
    problems: list[ConfigError] = []
    purge = settings.get("dbpurgeage")
    if purge is not None:
        try:
            parse_duration(purge.text)
        except ValueError as exc:
            problems.append(ConfigError(f"dbpurgeage: {exc}", file=purge.origin.file,
                                        line=purge.origin.line))
    level = settings.get("loglevel")
    text = level.text.strip().upper() if level is not None else ""
    if level is not None and text and not text.isdigit() and text not in LOG_LEVELS:
        problems.append(ConfigError(
            f"unknown loglevel {text!r} (use CRITICAL, ERROR, WARNING, NOTICE, INFO or DEBUG)",
            file=level.origin.file, line=level.origin.line))
    compat = compat_socket_problem(settings.get("compat_socket"), settings.get("socket"))
    if compat is not None:
        problems.append(compat)
    try:
        dbmaxmatches(settings.get("dbmaxmatches"))
    except ConfigError as exc:
        problems.append(exc)
    try:
        metrics_endpoint(settings.get("metrics"))
    except ConfigError as exc:
        problems.append(exc)
    try:
        workers(settings.get("workers"))
    except ConfigError as exc:
        problems.append(exc)
    return problems


#: ``workers`` values that leave every line scanned in the daemon's own process
_WORKERS_OFF = ("0", "no", "off", "false", "none")
# more worker processes than any machine has busy log files
_MAX_WORKERS = 256


def workers(value: Value | None, cpus: int | None = None) -> int:
    """``workers`` of warden.conf (warden's own; fail2ban has none): how many jails reading
    files scan their lines in a process of their own. Unset, ``0`` or ``no``: none (every
    line in the daemon's process, as fail2ban); ``auto``: one per CPU (``cpus``, default
    this machine's) when there are at least two; a whole number up to 256. A ConfigError
    with file:line for anything else."""
    text = value.text.strip().lower() if value is not None else ""
    if value is None or not text or text in _WORKERS_OFF:
        return 0
    if text == "auto":
        count = cpus if cpus is not None else (os.cpu_count() or 1)
        return count if count >= 2 else 0
    if not text.isdigit() or int(text) > _MAX_WORKERS:
        raise ConfigError(f"workers = {value.text.strip()}: use auto, no, or a whole number "
                          f"from 0 to {_MAX_WORKERS} (jails whose filters run in a process of "
                          "their own)", file=value.origin.file, line=value.origin.line)
    return int(text)


def dbmaxmatches(value: Value | None) -> int:
    """``dbmaxmatches`` of warden.conf (or fail2ban.conf): how many matched lines of each ban
    the store keeps (0: none), :data:`DEFAULT_DBMAXMATCHES` when unset; a ConfigError with
    file:line for anything but a whole number from 0 to 1000."""
    text = value.text.strip() if value is not None else ""
    if value is None or not text:
        return DEFAULT_DBMAXMATCHES
    if not text.isdigit() or int(text) > _MAX_DBMAXMATCHES:
        raise ConfigError(f"dbmaxmatches = {text}: must be a whole number from 0 to "
                          f"{_MAX_DBMAXMATCHES} (matched lines kept per ban)",
                          file=value.origin.file, line=value.origin.line)
    return int(text)


def compat_socket_problem(value: Value | None, control: Value | None = None
                          ) -> ConfigError | None:
    """What is wrong with ``compat_socket`` (fail2ban's protocol on a socket of its own):
    it must be an absolute path to a file, other than the control ``socket``."""
    text = value.text.strip() if value is not None else ""
    if value is None or not text or text.lower() in COMPAT_SOCKET_OFF:
        return None
    why = None
    if not text.startswith("/"):
        why = "must be an absolute path"
    elif text.endswith("/"):
        why = "names a directory; give the socket's file name"
    elif control is not None and control.text.strip() == text:
        why = "is the control socket's path; fail2ban's protocol needs a socket of its own"
    if why is None:
        return None
    return ConfigError(f"compat_socket = {text}: {why}", file=value.origin.file,
                       line=value.origin.line)
