"""``warden.config.JailConfig`` -> ``warden.core.spec.JailSpec``: what the pure jail is built from.

The configuration keeps fail2ban's text for a few options; here they become values of the
core. Nothing is checked here: every check lives in ``warden.config.validate`` (which
``load_jails`` already ran), and :func:`jail_spec` calls it again only so that a value it cannot
convert is refused with the same message ``warden check`` gives.

- ``ignoreip``: addresses and CIDR become networks; other words are host names, returned to
  the daemon to resolve (off the hot path) and then passed back in ``ignore``;
- ``ignoreself``: the daemon supplies the host's own addresses;
- ``ignorecache``: ``key="<ip>", max-count=100, max-time=5m``.
"""

from __future__ import annotations

from collections.abc import Iterable

from warden.config import JailConfig
from warden.config.validate import parse_ignorecache, value_problems
from warden.core.addr import Network, parse_network
from warden.core.spec import Increment, JailSpec

__all__ = ["ignore_names", "jail_spec", "parse_ignorecache"]

# fail2ban's default maxmatches when a jail does not set it (its jail.conf sets maxretry)
_MAXMATCHES = 5


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


def jail_spec(cfg: JailConfig, *, ignore: Iterable[Network | str] = (),
              self_addresses: Iterable[Network] = (), journal: bool | None = None,
              max_tracked: int = 200_000) -> JailSpec:
    """The pure spec of ``cfg``. ``ignore`` adds resolved ``ignoreip`` host names;
    ``self_addresses`` are the host's own addresses (used if ``ignoreself``); ``journal``
    (lines without dates, time is ``now``) defaults to a ``systemd`` backend. Raises the
    first ConfigError of :func:`warden.config.validate.value_problems` (file:line of the
    option) for a value the core cannot use."""
    problems = value_problems(cfg)
    if problems:
        raise problems[0]
    if journal is None:
        journal = cfg.backend.strip().lower().startswith("systemd")
    maxmatches = _MAXMATCHES if cfg.maxmatches is None else cfg.maxmatches
    inc = cfg.bantime_increment
    cache = parse_ignorecache(cfg.ignorecache) if cfg.ignorecache else None
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
        usedns=cfg.usedns.strip().lower(),
        journal=journal,
        max_tracked=max_tracked,
        banprefix4=cfg.banprefix4,
        banprefix6=cfg.banprefix6,
        countprefix4=cfg.countprefix4,
        countprefix6=cfg.countprefix6,
        escalate=cfg.escalate,
        trustsuccess=cfg.trustsuccess,
        trustmaxretry=cfg.trustmaxretry,
    )
