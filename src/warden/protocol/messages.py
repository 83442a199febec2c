"""The control messages: frozen requests the client sends and the responses the daemon returns.

Each message class has a ``kind`` (its name on the wire). Fields are plain JSON values:
``str``, ``int``, ``float``, ``bool``, ``None`` and tuples of those or of nested records.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

from warden.protocol.explain import ExplainReply, ExplainRequest
from warden.protocol.options import (
    FlushLogsRequest,
    JailControlRequest,
    JailGetRequest,
    JailSetRequest,
    OptionReply,
    ServerGetRequest,
    ServerSetRequest,
)

__all__ = [
    "REQUEST_TYPES",
    "RESPONSE_TYPES",
    "BanInfo",
    "BanReply",
    "BanRequest",
    "BannedReply",
    "BannedRequest",
    "DoneReply",
    "EventsRequest",
    "FailedReply",
    "FleetInfo",
    "JailStatusReply",
    "OriginCount",
    "PingRequest",
    "PongReply",
    "ReloadRequest",
    "Request",
    "Response",
    "ServerStatusReply",
    "SourceInfo",
    "StatusRequest",
    "StopRequest",
    "UnbanReply",
    "UnbanRequest",
    "VersionReply",
    "VersionRequest",
]


# ---------------------------------------------------------------------------------- requests
@dataclass(frozen=True, slots=True)
class PingRequest:
    """Is the daemon alive?"""

    kind: ClassVar[str] = "ping"


@dataclass(frozen=True, slots=True)
class VersionRequest:
    """The daemon's version."""

    kind: ClassVar[str] = "version"


@dataclass(frozen=True, slots=True)
class StatusRequest:
    """The list of jails (``jail`` None) or one jail's counters and bans.

    ``counts_only``: leave the banned list out of each :class:`JailStatusReply` (its counts stay);
    a jail with 100,000 bans answers in a few hundred bytes instead of megabytes.
    """

    kind: ClassVar[str] = "status"
    jail: str | None = None
    all: bool = False
    counts_only: bool = False


@dataclass(frozen=True, slots=True)
class BanRequest:
    """Ban ``addrs`` in ``jail`` now, with the jail's ban time.

    Without ``force`` the daemon refuses the whole request (bans none of it) when one address
    would cover a whole family, has a very short prefix, or is loopback or the host's own
    (:func:`warden.core.banguard.refusal`).
    """

    kind: ClassVar[str] = "ban"
    jail: str
    addrs: tuple[str, ...]
    force: bool = False


@dataclass(frozen=True, slots=True)
class UnbanRequest:
    """Lift bans of ``addrs`` (in ``jail``, or in every jail); ``all``: every ban."""

    kind: ClassVar[str] = "unban"
    jail: str | None = None
    addrs: tuple[str, ...] = ()
    all: bool = False


@dataclass(frozen=True, slots=True)
class BannedRequest:
    """Which jails ban ``addrs`` (every ban if empty), with the time left."""

    kind: ClassVar[str] = "banned"
    addrs: tuple[str, ...] = ()
    jail: str | None = None


@dataclass(frozen=True, slots=True)
class ReloadRequest:
    """Re-read the configuration (one ``jail``, or all); ``restart`` rebuilds the jail(s)."""

    kind: ClassVar[str] = "reload"
    jail: str | None = None
    restart: bool = False
    unban: bool = False


@dataclass(frozen=True, slots=True)
class StopRequest:
    """Stop the daemon (bans stay in the firewall)."""

    kind: ClassVar[str] = "stop"


@dataclass(frozen=True, slots=True)
class EventsRequest:
    """Stream events (:mod:`warden.protocol.events`) of ``jail`` (every jail if None) and of
    ``kinds`` (every kind if empty): the recent ones, then, with ``follow``, each as it
    happens until the client hangs up."""

    kind: ClassVar[str] = "events"
    jail: str | None = None
    follow: bool = False
    kinds: tuple[str, ...] = ()


Request = (PingRequest | VersionRequest | StatusRequest | BanRequest | UnbanRequest
           | BannedRequest | ReloadRequest | StopRequest | EventsRequest
           | JailGetRequest | JailSetRequest | ServerGetRequest | ServerSetRequest
           | JailControlRequest | FlushLogsRequest | ExplainRequest)
REQUEST_TYPES: tuple[type[Request], ...] = (
    PingRequest, VersionRequest, StatusRequest, BanRequest, UnbanRequest, BannedRequest,
    ReloadRequest, StopRequest, EventsRequest, JailGetRequest, JailSetRequest,
    ServerGetRequest, ServerSetRequest, JailControlRequest, FlushLogsRequest, ExplainRequest)


# --------------------------------------------------------------------------------- responses
@dataclass(frozen=True, slots=True)
class PongReply:
    """The answer to :class:`PingRequest`."""

    kind: ClassVar[str] = "pong"


@dataclass(frozen=True, slots=True)
class VersionReply:
    """The daemon's version."""

    kind: ClassVar[str] = "version-info"
    version: str


@dataclass(frozen=True, slots=True)
class SourceInfo:
    """One log source of a jail and how it is doing (``ok``, ``restarting``, ``failed``)."""

    path: str
    state: str = "ok"
    error: str = ""


@dataclass(frozen=True, slots=True)
class OriginCount:
    """How many of a jail's active bans came from one other host of the fleet."""

    host: str
    bans: int


@dataclass(frozen=True, slots=True)
class FleetInfo:
    """The fleet as this host sees it: ``name`` (this host), connected to Redis or not (with
    the last ``error``), the other hosts seen lately, how many seconds its reading is behind
    the newest entry, the decisions waiting in the outbox, and entries published, applied
    and refused since the start."""

    name: str
    connected: bool
    peers: tuple[str, ...] = ()
    lag: float = 0.0
    outbox: int = 0
    published: int = 0
    applied: int = 0
    refused: int = 0
    error: str = ""


@dataclass(frozen=True, slots=True)
class JailStatusReply:
    """One jail, as fail2ban-client's ``status JAIL`` shows it; ``banned`` is None when the
    request asked for counts only. ``fleet_bans`` (None on a host without a fleet) counts
    the active bans taken from other hosts, per host. ``journal_matches`` (None for a jail
    of files) is a journal jail's ``journalmatch`` as fail2ban shows it (``A=1 + B=2``).
    ``escalated`` (None without ``escalate``) counts the networks banned by escalation,
    ``trusted`` (None without ``trustsuccess``) the addresses trusted after a login."""

    kind: ClassVar[str] = "jail-status"
    name: str
    currently_failed: int
    total_failed: int
    files: tuple[SourceInfo, ...]
    currently_banned: int
    total_banned: int
    banned: tuple[str, ...] | None = None
    fleet_bans: tuple[OriginCount, ...] | None = None
    journal_matches: str | None = None
    escalated: int | None = None
    trusted: int | None = None


@dataclass(frozen=True, slots=True)
class ServerStatusReply:
    """The jails the daemon runs (with each one's status when ``Status(all=True)``), and the
    fleet's state (None on a host without a fleet)."""

    kind: ClassVar[str] = "server-status"
    jails: tuple[str, ...]
    details: tuple[JailStatusReply, ...] = ()
    fleet: FleetInfo | None = None


@dataclass(frozen=True, slots=True)
class BanReply:
    """Which of the requested addresses were newly banned (the others already were)."""

    kind: ClassVar[str] = "ban-result"
    jail: str
    banned: tuple[str, ...]
    already: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class UnbanReply:
    """How many bans were lifted, and the addresses that were not banned anywhere."""

    kind: ClassVar[str] = "unban-result"
    count: int
    not_banned: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BanInfo:
    """One active ban; ``remaining`` is None for a permanent ban; ``origin`` names the host
    of the fleet that decided it (None: this host); ``matches`` the log lines that led to it
    as the store kept them (``dbmaxmatches``; given only when addresses were asked for)."""

    jail: str
    addr: str
    start: float
    remaining: float | None
    count: int = 1
    origin: str | None = None
    matches: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class BannedReply:
    """The active bans asked for."""

    kind: ClassVar[str] = "banned-list"
    bans: tuple[BanInfo, ...]


@dataclass(frozen=True, slots=True)
class DoneReply:
    """The request was carried out; ``message`` says what happened."""

    kind: ClassVar[str] = "done"
    message: str = ""


@dataclass(frozen=True, slots=True)
class FailedReply:
    """The request was refused or failed: ``usage`` (the request is wrong), ``refused`` (a
    manual ban that needs ``force``, also a usage error) or ``failed``."""

    kind: ClassVar[str] = "failed"
    message: str
    reason: str = "failed"


Response = (PongReply | VersionReply | ServerStatusReply | JailStatusReply | BanReply
            | UnbanReply | BannedReply | DoneReply | FailedReply | OptionReply | ExplainReply)
RESPONSE_TYPES: tuple[type[Response], ...] = (
    PongReply, VersionReply, ServerStatusReply, JailStatusReply, BanReply, UnbanReply,
    BannedReply, DoneReply, FailedReply, OptionReply, ExplainReply)
