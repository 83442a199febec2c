"""The pure description of one jail: what :class:`warden.core.jail.Jail` is built from.

The daemon converts a ``warden.config.JailConfig`` into a :class:`JailSpec` (resolving
``ignoreip`` host names and the host's own addresses first); tests write one directly.
"""

from __future__ import annotations

from dataclasses import dataclass

from warden.core.addr import Network
from warden.core.escalate import Escalation
from warden.core.filterdef import FilterDefinition

__all__ = ["USEDNS_MODES", "IgnoreCacheSpec", "Increment", "JailSpec"]

#: the ``usedns`` values: resolve host names (``warn``: and log it), drop them, or use them raw
USEDNS_MODES = ("yes", "warn", "no", "raw")


@dataclass(frozen=True, slots=True)
class Increment:
    """The ``bantime.*`` options: ban times that grow for repeat offenders.

    With ``multipliers`` the n-th re-ban lasts ``bantime * factor * multipliers[n]`` (the last
    multiplier repeats); else ``formula`` (a :mod:`warden.core.formula` text, by default
    fail2ban's doubling). ``maxtime`` caps the result, then up to ``rndtime`` random seconds
    are added. ``overalljails`` counts earlier bans in every jail, not just this one.
    """

    enabled: bool = False
    factor: float = 1.0
    formula: str | None = None
    multipliers: tuple[float, ...] = ()
    maxtime: float | None = None
    rndtime: float | None = None
    overalljails: bool = False


@dataclass(frozen=True, slots=True)
class IgnoreCacheSpec:
    """``ignorecache``: remember ``ignorecommand`` answers by ``key`` (a template of ``<ip>``,
    ``<fid>`` and ``<F-NAME>`` tags), at most ``max_count`` of them for ``max_time`` seconds."""

    key: str = "<ip>"
    max_count: int = 100
    max_time: float = 300.0


@dataclass(frozen=True, slots=True)
class JailSpec:
    """Everything a jail needs, as plain values. Durations are seconds; a negative ``bantime``
    (``-1``) bans forever.

    ``ignore`` holds the resolved ``ignoreip`` networks plus, with ``ignoreself``, the host's own
    addresses; strings in it are raw ids ignored by equality. ``ignorecommand`` only says that
    one exists (the daemon runs it). ``max_tracked`` caps the addresses with failures but no
    ban yet (the oldest are evicted); ``max_pending`` caps failures waiting for an answer from
    the daemon (DNS or ``ignorecommand``).

    Networks (issue 14; the defaults are fail2ban's behaviour): ``banprefix4``/``banprefix6``
    ban the covering network of an address instead of the address; ``countprefix4``/
    ``countprefix6`` (``None``: the ban prefix) count failures per covering network;
    ``escalate`` bans a network once enough addresses in it are banned. Trust:
    ``trustsuccess`` (seconds, ``None``: off) is how long a successful login (a
    ``successregex`` line) makes its address (its counting network) need ``trustmaxretry``
    (``None``: three times ``maxretry``) failures before a ban, a ban that never grows.
    """

    name: str
    filters: tuple[FilterDefinition, ...] = ()
    maxretry: int = 3
    findtime: float = 600.0
    bantime: float = 600.0
    maxmatches: int = 5
    increment: Increment = Increment()
    ignore: tuple[Network | str, ...] = ()
    ignorecommand: bool = False
    ignorecache: IgnoreCacheSpec | None = None
    usedns: str = "warn"
    journal: bool = False
    max_line_length: int = 8192
    max_tracked: int = 200_000
    max_pending: int = 10_000
    banprefix4: int = 32
    banprefix6: int = 128
    countprefix4: int | None = None
    countprefix6: int | None = None
    escalate: tuple[Escalation, ...] = ()
    trustsuccess: float | None = None
    trustmaxretry: int | None = None

    def __post_init__(self) -> None:
        if self.maxretry < 1:
            raise ValueError(f"[{self.name}] maxretry must be at least 1, not {self.maxretry}")
        if self.findtime < 0:
            raise ValueError(f"[{self.name}] findtime must not be negative")
        if self.maxmatches < 0:
            raise ValueError(f"[{self.name}] maxmatches must not be negative")
        if self.usedns not in USEDNS_MODES:
            raise ValueError(f"[{self.name}] usedns must be one of {', '.join(USEDNS_MODES)}, "
                             f"not {self.usedns!r}")
        if self.max_tracked < 1 or self.max_pending < 1:
            raise ValueError(f"[{self.name}] max_tracked and max_pending must be positive")
        for option, value, width in (("banprefix4", self.banprefix4, 32),
                                     ("banprefix6", self.banprefix6, 128),
                                     ("countprefix4", self.countprefix4, 32),
                                     ("countprefix6", self.countprefix6, 128)):
            if value is not None and not 1 <= value <= width:
                raise ValueError(f"[{self.name}] {option} must be 1 to {width}, not {value}")
        if self.trustmaxretry is not None and self.trustmaxretry < 1:
            raise ValueError(f"[{self.name}] trustmaxretry must be at least 1")

    def prefixes(self, version: int) -> tuple[int, int]:
        """(count prefix, ban prefix) of an IP version."""
        if version == 4:
            ban = self.banprefix4
            return (ban if self.countprefix4 is None else self.countprefix4), ban
        ban = self.banprefix6
        return (ban if self.countprefix6 is None else self.countprefix6), ban

    @property
    def by_network(self) -> bool:
        """True if some failure is counted or banned by a network wider than its address."""
        return (self.prefixes(4) != (32, 32) or self.prefixes(6) != (128, 128))

    @property
    def trusting(self) -> bool:
        """True if successful logins raise the threshold (``trustsuccess`` is set)."""
        return self.trustsuccess is not None and self.trustsuccess > 0

    @property
    def trust_limit(self) -> int:
        """Failures a trusted address may make before a ban."""
        return 3 * self.maxretry if self.trustmaxretry is None else self.trustmaxretry
