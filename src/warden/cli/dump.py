"""``warden dump``: the configuration warden read, as fail2ban-client ``-d`` prints it.

fail2ban-client ``-d`` prints the command stream it would send fail2ban-server to build the
jails, one Python list per line. warden builds its jails itself, so this is warden's own
reading of the tree (``warden.config.load_jails``, the one ``check`` and the daemon use)
printed in that form: ``diff`` against ``fail2ban-client -d`` shows where the two readings
differ. Known differences of form: durations are seconds (fail2ban repeats the text, e.g.
``'10m'``), action commands carry warden's substitution of configuration tags, and a jail's
own options come in warden's order.
"""

from __future__ import annotations

import glob
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

from warden.config import JailConfig, JailsConfig, load_jails
from warden.config.jail import as_bool
from warden.errors import ConfigError

__all__ = ["dump_commands", "run_dump"]

# the server settings fail2ban-client always sends, with the default it warns it uses
_SERVER = (("syslogsocket", "auto"), ("loglevel", None), ("logtarget", None),
           ("allowipv6", "auto"), ("dbfile", None), ("dbmaxmatches", None),
           ("dbpurgeage", "1d"))


def _number(value: float) -> int | float:
    return int(value) if float(value).is_integer() else value


def _server(config: JailsConfig) -> Iterator[list[object]]:
    for name, default in _SERVER:
        value = config.settings.get(name)
        text = value.text.strip() if value is not None else default
        if text is None:
            continue
        yield ["set", name, int(text) if name == "dbmaxmatches" and text.isdigit() else text]


def _journalmatch(lines: tuple[str, ...]) -> list[str]:
    return [word for line in lines for word in line.split()]


def _increment(cfg: JailConfig) -> Iterator[tuple[str, object]]:
    """The ``bantime.*`` options the jail sets, as fail2ban sends them."""
    inc = cfg.bantime_increment
    values: dict[str, object] = {
        "increment": inc.enabled, "factor": f"{inc.factor:g}", "formula": inc.formula,
        "multipliers": " ".join(f"{m:g}" for m in inc.multipliers),
        "maxtime": None if inc.maxtime is None else _number(inc.maxtime),
        "rndtime": None if inc.rndtime is None else _number(inc.rndtime),
        "overalljails": inc.overalljails}
    for name, value in values.items():
        if f"bantime.{name}" in cfg.origins:
            yield f"bantime.{name}", value


def _jail(cfg: JailConfig) -> Iterator[list[object]]:
    name = cfg.name
    written = cfg.origins
    yield ["add", name, cfg.backend]
    if "usedns" in written:
        yield ["set", name, "usedns", cfg.usedns]
    flt = cfg.filter
    if flt is not None:
        if flt.prefregex:
            yield ["set", name, "prefregex", flt.prefregex]
        if "maxlines" in flt.origins or "maxlines" in written:
            yield ["set", name, "maxlines", flt.maxlines]
        for option in ("failregex", "ignoreregex"):
            regexes: tuple[str, ...] = getattr(flt, option)
            if len(regexes) == 1:
                yield ["set", name, f"add{option}", regexes[0]]
            elif regexes:
                yield ["multi-set", name, f"add{option}", list(regexes)]
        if flt.datepattern:
            yield ["set", name, "datepattern", flt.datepattern]
    if cfg.journalmatch:
        yield ["set", name, "addjournalmatch", *_journalmatch(cfg.journalmatch)]
    yield ["set", name, "maxretry", cfg.maxretry]
    if "maxmatches" in written and cfg.maxmatches is not None:
        yield ["set", name, "maxmatches", cfg.maxmatches]
    yield ["set", name, "findtime", _number(cfg.findtime)]
    yield ["set", name, "bantime", _number(cfg.bantime)]
    for option, value in _increment(cfg):
        yield ["set", name, option, value]
    if "ignorecommand" in written:
        yield ["set", name, "ignorecommand", cfg.ignorecommand or ""]
    if "ignoreself" in written:
        yield ["set", name, "ignoreself", cfg.ignoreself]
    if cfg.ignoreip:
        yield ["set", name, "addignoreip", *cfg.ignoreip]
    if "logencoding" in written:
        yield ["set", name, "logencoding", cfg.logencoding]
    for path in cfg.logpath:
        for found in sorted(glob.glob(path.pattern)):  # fail2ban leaves out missing files
            yield ["set", name, "addlogpath", found, path.start]
    for action in cfg.actions:
        yield ["set", name, "addaction", action.name]
        yield ["multi-set", name, "action", action.name,
               [[key, as_bool(value) if key == "norestored" else value]
                for key, value in action.options.items()]]


def _start(cfg: JailConfig) -> list[object]:
    return ["start", cfg.name]


def dump_commands(config: JailsConfig) -> list[list[object]]:
    """The command stream fail2ban-client ``-d`` would print for ``config``."""
    return [*_server(config), *(line for cfg in config.jails for line in _jail(cfg)),
            *(_start(cfg) for cfg in config.jails)]


def run_dump(config_dir: Path, stdout: TextIO, stderr: TextIO) -> int:
    """Print the stream; 2 (with the errors, file:line) for a tree that does not load."""
    try:
        config = load_jails(config_dir)
    except ConfigError as exc:
        print(f"warden: {exc}", file=stderr)
        return 2
    for error in config.errors:
        print(f"warden: {error}", file=stderr)
    for line in dump_commands(config):
        print(repr(line), file=stdout)
    return 2 if config.errors else 0
