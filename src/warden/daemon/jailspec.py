"""``warden.config.JailConfig`` -> ``warden.core.spec.JailSpec``: what the pure jail is built from.

The configuration keeps fail2ban's text for a few options; here they become checked values, and
every problem is a :class:`ConfigError` naming the file and line of the option:

- ``ignoreip``: addresses and CIDR become networks; other words are host names, returned to
  the daemon to resolve (off the hot path) and then passed back in ``ignore``;
- ``ignoreself``: the daemon supplies the host's own addresses;
- ``ignorecache``: ``key="<ip>", max-count=100, max-time=5m``;
- ``bantime.formula``: compiled by the safe evaluator (never ``eval``);
- ``usedns``, ``maxretry``, ``maxmatches`` checked.
"""

from __future__ import annotations

from collections.abc import Iterable

from warden.config import JailConfig, parse_reference
from warden.core.addr import Network, parse_network
from warden.core.duration import parse_duration
from warden.core.formula import FormulaError, compile_formula
from warden.core.spec import USEDNS_MODES, IgnoreCacheSpec, Increment, JailSpec
from warden.errors import ConfigError

__all__ = ["ignore_names", "jail_spec", "parse_ignorecache"]

# fail2ban's default maxmatches when a jail does not set it (its jail.conf sets maxretry)
_MAXMATCHES = 5


def _error(cfg: JailConfig, option: str, message: str) -> ConfigError:
    origin = cfg.origins.get(option)
    return ConfigError(f"[{cfg.name}] {option}: {message}",
                       file=origin.file if origin else None,
                       line=origin.line if origin else None)


def ignore_names(cfg: JailConfig) -> tuple[tuple[Network, ...], tuple[str, ...]]:
    """The ``ignoreip`` entries of ``cfg``: (networks, host names the daemon must resolve)."""
    networks: list[Network] = []
    names: list[str] = []
    for word in cfg.ignoreip:
        network = parse_network(word)
        if network is not None:
            networks.append(network)
        else:
            names.append(word)
    return tuple(networks), tuple(names)


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


def jail_spec(cfg: JailConfig, *, ignore: Iterable[Network | str] = (),
              self_addresses: Iterable[Network] = (), journal: bool | None = None,
              max_tracked: int = 200_000) -> JailSpec:
    """The pure spec of ``cfg``. ``ignore`` adds resolved ``ignoreip`` host names;
    ``self_addresses`` are the host's own addresses (used if ``ignoreself``); ``journal``
    (lines without dates, time is ``now``) defaults to a ``systemd`` backend. Raises
    ConfigError (file:line of the option) for a value the core cannot use."""
    if journal is None:
        journal = cfg.backend.strip().lower().startswith("systemd")
    if cfg.maxretry < 1:
        raise _error(cfg, "maxretry", f"must be at least 1, not {cfg.maxretry}")
    maxmatches = _MAXMATCHES if cfg.maxmatches is None else cfg.maxmatches
    if maxmatches < 0:
        raise _error(cfg, "maxmatches", f"must not be negative, not {maxmatches}")
    if cfg.findtime < 0:
        raise _error(cfg, "findtime", "must not be negative")
    usedns = cfg.usedns.strip().lower()
    if usedns not in USEDNS_MODES:
        raise _error(cfg, "usedns", f"must be one of {', '.join(USEDNS_MODES)}, "
                                    f"not {cfg.usedns!r}")
    inc = cfg.bantime_increment
    if inc.formula:
        try:
            compile_formula(inc.formula)
        except FormulaError as exc:
            raise _error(cfg, "bantime.formula", str(exc)) from None
    cache = None
    if cfg.ignorecache:
        try:
            cache = parse_ignorecache(cfg.ignorecache)
        except ValueError as exc:
            raise _error(cfg, "ignorecache", str(exc)) from None
    networks, _names = ignore_names(cfg)
    entries: list[Network | str] = [*networks, *ignore]
    if cfg.ignoreself:
        entries.extend(self_addresses)
    return JailSpec(
        name=cfg.name,
        filters=(cfg.filter,) if cfg.filter is not None else (),
        maxretry=cfg.maxretry,
        findtime=cfg.findtime,
        bantime=cfg.bantime,
        maxmatches=maxmatches,
        increment=Increment(enabled=inc.enabled, factor=inc.factor, formula=inc.formula,
                            multipliers=inc.multipliers, maxtime=inc.maxtime,
                            rndtime=inc.rndtime, overalljails=inc.overalljails),
        ignore=tuple(entries),
        ignorecommand=bool(cfg.ignorecommand),
        ignorecache=cache,
        usedns=usedns,
        journal=journal,
        max_tracked=max_tracked,
    )
