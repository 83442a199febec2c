"""What a jail decides: frozen values for the store, the backends and the control protocol.

A jail never acts; it returns decisions and the daemon carries them out:

- :class:`Ban`: record (store first), then enforce (backends). ``prolonged`` marks a ban that
  was already active and now ends later (update the store and any kernel timeout).
- :class:`Unban`: the ban ended (``expired``), was lifted by a user (``manual``) or all bans
  of the jail were lifted (``flush``).
- :class:`ResolveHost`: a failure names a host (``usedns = yes|warn``); resolve it off the
  hot path and answer with ``Jail.resolved(host, addresses, now)``.
- :class:`CheckIgnore`: run the jail's ``ignorecommand`` for this failure (argument list, data
  in environment variables) and answer with ``Jail.ignore_answer(key, ignored, now)``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Protocol

from warden.core.addr import Target, format_target

_NO_FIELDS: Mapping[str, object] = MappingProxyType({})

__all__ = [
    "Ban",
    "BanRecord",
    "BannedEntry",
    "CheckIgnore",
    "Decision",
    "JailStatus",
    "ResolveHost",
    "Unban",
]


@dataclass(frozen=True, slots=True)
class Ban:
    """Ban ``ip`` in ``jail`` from ``time`` for ``bantime`` seconds (``until`` is ``None`` and
    ``bantime`` is ``-1`` for a permanent ban).

    ``count`` is how many times the address has been banned in this jail, this ban included;
    ``failures`` how many failures (within ``findtime``) led to it and ``matches`` their log
    lines (at most ``maxmatches``); ``fields`` the named captures of the failure that
    triggered it (for the ``<F-*>`` tags of actions). ``restored`` bans come from the store
    after a restart.

    ``members`` (escalation, ``escalate``): the banned addresses or networks inside ``ip``
    that made the jail ban the whole network (empty for any other ban). ``trusted``: the
    address had logged in successfully lately (``trustsuccess``), so it was banned only
    after ``trustmaxretry`` failures and for the plain ``bantime``.
    """

    jail: str
    ip: Target
    time: float
    until: float | None
    bantime: float
    count: int = 1
    failures: int = 0
    matches: tuple[str, ...] = ()
    restored: bool = False
    prolonged: bool = False
    # hash=False: a mapping has no hash, and a ban is identified by the other fields
    fields: Mapping[str, object] = field(default_factory=lambda: _NO_FIELDS, hash=False)
    members: tuple[str, ...] = ()
    trusted: bool = False

    @property
    def address(self) -> str:
        """The target as text (``192.0.2.7``, ``192.0.2.0/24``, or a raw id)."""
        return format_target(self.ip)

    @property
    def escalated(self) -> bool:
        """True if this is a network banned because of the bans of its ``members``."""
        return bool(self.members)


@dataclass(frozen=True, slots=True)
class Unban:
    """Lift the ban of ``ip`` in ``jail`` at ``time``; ``reason`` is ``expired``, ``manual``
    or ``flush``."""

    jail: str
    ip: Target
    time: float
    reason: str

    @property
    def address(self) -> str:
        """The target as text."""
        return format_target(self.ip)


@dataclass(frozen=True, slots=True)
class ResolveHost:
    """Resolve ``host`` to addresses for ``jail``; ``warn`` asks to log that DNS was used."""

    jail: str
    host: str
    warn: bool = False


@dataclass(frozen=True, slots=True)
class CheckIgnore:
    """Ask the jail's ``ignorecommand`` whether the failure of ``ip`` is to be ignored.

    ``key`` identifies the answer (the rendered ``ignorecache`` key, else the id); ``fields``
    are the failure's named captures and ``matches`` its log lines, for the command's
    environment (never spliced into shell text).
    """

    jail: str
    key: str
    ip: str
    time: float
    fields: Mapping[str, object]
    matches: tuple[str, ...]


Decision = Ban | Unban | ResolveHost | CheckIgnore


class BanRecord(Protocol):
    """An active ban as the store keeps it (``warden.store.StoredBan`` fits)."""

    @property
    def addr(self) -> str: ...
    @property
    def start(self) -> float: ...
    @property
    def bantime(self) -> float: ...
    @property
    def count(self) -> int: ...


@dataclass(frozen=True, slots=True)
class BannedEntry:
    """One active ban in a status: since when, until when (``None``: forever), time left."""

    ip: str
    time: float
    until: float | None
    left: float | None
    count: int


@dataclass(frozen=True, slots=True)
class JailStatus:
    """What ``fail2ban-client status JAIL`` shows, plus time left per ban, the addresses evicted
    from (or never admitted to) tracking for lack of room, the failures waiting for an
    answer from the daemon, and the live failures whose log time was off (clock or time
    zone problem)."""

    name: str
    currently_failed: int
    total_failed: int
    currently_banned: int
    total_banned: int
    banned: tuple[BannedEntry, ...]
    evicted: int = 0
    pending: int = 0
    skewed: int = 0
    #: networks banned by escalation since the jail started
    escalated: int = 0
    #: addresses (counting networks) trusted after a successful login (``trustsuccess``)
    trusted: int = 0
