"""The control messages of fail2ban-client's ``get``/``set`` grammar and its jail control.

``get JAIL OPTION``, ``set JAIL OPTION VALUE...``, ``get OPTION`` and ``set OPTION VALUE`` of
the server, ``start JAIL``, ``stop JAIL``, ``add JAIL BACKEND``, ``attempt`` and ``flushlogs``
each become one typed request. The answer to a ``get`` or a ``set`` is an
:class:`OptionReply`: the value fail2ban's server returns for that option after the change,
as JSON text (``value``), so that warden's client prints it as fail2ban-client does and
fail2ban's socket returns it unchanged. JSON has no tuple: the one option whose value is a
pair (``datepattern``) is a two-element list, made a tuple again by the socket.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

if TYPE_CHECKING:
    from warden.protocol.messages import BanInfo

__all__ = [
    "CYMRU_REFUSAL",
    "SERVER_OPTIONS",
    "FlushLogsRequest",
    "JailControlRequest",
    "JailGetRequest",
    "JailSetRequest",
    "OptionReply",
    "ServerGetRequest",
    "ServerSetRequest",
    "by_end",
    "with_time",
]


#: every option of the server fail2ban's grammar names (the first word of ``get``/``set``)
SERVER_OPTIONS = ("loglevel", "logtarget", "syslogsocket", "dbfile", "dbmaxmatches",
                  "dbpurgeage")
#: why ``status JAIL cymru`` is refused (by both sockets)
CYMRU_REFUSAL = ("status JAIL cymru: warden does not look banned addresses up in Team Cymru's "
                 "DNS (no network look-ups from the daemon); use 'status JAIL' and a whois "
                 "client")


@dataclass(frozen=True, slots=True)
class JailGetRequest:
    """``get JAIL OPTION [ARG...]``: one option of a running jail (``args``: e.g. the
    action's name and property of ``get JAIL action ACT PROP``)."""

    kind: ClassVar[str] = "jail-get"
    jail: str
    option: str
    args: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JailSetRequest:
    """``set JAIL OPTION VALUE...``: change a running jail until the next reload. The value
    is checked by the same validators the configuration's is."""

    kind: ClassVar[str] = "jail-set"
    jail: str
    option: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class ServerGetRequest:
    """``get OPTION``: a setting of the daemon (``loglevel``, ``logtarget``, ``dbfile``...)."""

    kind: ClassVar[str] = "server-get"
    option: str


@dataclass(frozen=True, slots=True)
class ServerSetRequest:
    """``set OPTION VALUE``: change a setting of the running daemon."""

    kind: ClassVar[str] = "server-set"
    option: str
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class JailControlRequest:
    """``start JAIL``, ``stop JAIL`` or ``add JAIL BACKEND`` (``action``)."""

    kind: ClassVar[str] = "jail-control"
    action: str
    jail: str
    backend: str = "auto"


@dataclass(frozen=True, slots=True)
class FlushLogsRequest:
    """``flushlogs``: reopen the log file (after a rotation)."""

    kind: ClassVar[str] = "flush-logs"


@dataclass(frozen=True, slots=True)
class OptionReply:
    """The value of ``option`` (of ``jail``, or of the server when None), as JSON text of the
    value fail2ban's server returns for it (a number, text, a list, None...)."""

    kind: ClassVar[str] = "option"
    option: str
    value: str = "null"
    jail: str | None = None

    @classmethod
    def of(cls, option: str, value: object, jail: str | None = None) -> OptionReply:
        """The reply carrying ``value`` (plain JSON values only)."""
        return cls(option, json.dumps(value), jail)

    def decoded(self) -> object:
        """The value as plain Python values (lists for fail2ban's lists and pairs)."""
        return json.loads(self.value)


# fail2ban prints a ban that never ends as ending at the last second it can print
_NEVER = "9999-12-31 23:59:59"


def _stamp(when: float) -> str:
    # fail2ban shows ban times in the local time of the host, to the second
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(when))


def with_time(ban: BanInfo, now: float) -> str:
    """One line of ``get JAIL banip --with-time``: address, start, ban time and end."""
    if ban.remaining is None:
        return f"{ban.addr} \t{_stamp(ban.start)} + -1 = {_NEVER}"
    end = now + ban.remaining
    return f"{ban.addr} \t{_stamp(ban.start)} + {round(end - ban.start)} = {_stamp(end)}"


def by_end(bans: Iterable[BanInfo]) -> list[BanInfo]:
    """Bans in fail2ban's order for ``get JAIL banip``: by their end, endless ones last."""
    return sorted(bans, key=lambda b: (b.remaining is None, b.remaining or 0.0, b.start))
