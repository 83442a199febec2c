"""The event stream's messages: what ``warden events`` receives, one JSON line each.

A client asks with :class:`warden.protocol.EventsRequest`; the daemon answers with event lines
(encoded like every control message, with ``"v"`` and ``"kind"``) until the client hangs up
or, without ``follow``, once the recent events have been sent. Every event has ``seq`` (one
counter per daemon: a gap says events were missed) and ``time`` (the daemon's clock).

A reader that does not keep up loses events, never slows the daemon: each reader has a
bounded buffer, and the next line it gets after a loss is :class:`DroppedEvent` with how
many it lost so far.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

__all__ = [
    "BAN_CAUSES",
    "EVENT_KINDS",
    "EVENT_TYPES",
    "BanEvent",
    "DroppedEvent",
    "Event",
    "FailureEvent",
    "SourceEvent",
    "UnbanEvent",
]

#: why a ban or an unban happened: a jail's own counting, a command, another host of the
#: fleet, or (unbans) the end of its time
BAN_CAUSES = ("local", "manual", "fleet", "expired")


@dataclass(frozen=True, slots=True)
class BanEvent:
    """``addr`` was banned in ``jail`` at ``time`` until ``until`` (None: permanently), its
    ``count``-th ban there, after ``failures`` failures; ``cause`` is one of
    :data:`BAN_CAUSES` (never ``expired``). ``members``: the banned addresses that made the
    jail ban this network (``escalate``); ``trusted``: the address had logged in lately
    (``trustsuccess``) and was banned at ``trustmaxretry``."""

    kind: ClassVar[str] = "ban"
    seq: int
    time: float
    jail: str
    addr: str
    until: float | None
    bantime: float
    count: int = 1
    failures: int = 0
    cause: str = "local"
    members: tuple[str, ...] = ()
    trusted: bool = False


@dataclass(frozen=True, slots=True)
class UnbanEvent:
    """The ban of ``addr`` in ``jail`` ended; ``cause`` is one of :data:`BAN_CAUSES`."""

    kind: ClassVar[str] = "unban"
    seq: int
    time: float
    jail: str
    addr: str
    cause: str = "expired"


@dataclass(frozen=True, slots=True)
class FailureEvent:
    """A failure of ``addr`` counted in ``jail`` (``at``: the time the log line gives)."""

    kind: ClassVar[str] = "failure"
    seq: int
    time: float
    jail: str
    addr: str
    at: float


@dataclass(frozen=True, slots=True)
class SourceEvent:
    """The log source ``source`` (a watcher kind, or ``journal:JAIL``) changed state for
    ``path``: ``ok``, ``missing``, ``error``, ``restarting`` or ``stopped``."""

    kind: ClassVar[str] = "source"
    seq: int
    time: float
    source: str
    path: str
    state: str
    error: str = ""


@dataclass(frozen=True, slots=True)
class DroppedEvent:
    """This reader lost ``dropped`` events in all so far (its buffer was full); ``seq`` is
    the newest event's number when this was sent."""

    kind: ClassVar[str] = "dropped"
    seq: int
    time: float
    dropped: int


Event = BanEvent | UnbanEvent | FailureEvent | SourceEvent | DroppedEvent
EVENT_TYPES: tuple[type[Event], ...] = (BanEvent, UnbanEvent, FailureEvent, SourceEvent,
                                        DroppedEvent)
#: the kinds a request may ask for (``dropped`` always comes)
EVENT_KINDS = ("ban", "unban", "failure", "source")
