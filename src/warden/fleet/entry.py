"""One fleet stream entry: a ban or unban one host decided, as plain fields.

An entry is data from the network: :func:`decode` checks it as the control socket checks a
manual ban (the address parses as an address or network, :func:`warden.core.banguard.danger`
finds nothing wrong with banning it, the numbers are numbers) and raises :class:`BadEntry`
naming the first problem. Fields (all text, so the stream can be read with ``redis-cli``):

=========  ===================================================================
``op``     ``ban`` or ``unban``
``jail``   the jail name
``addr``   an address or network (``192.0.2.7``, ``2001:db8::/64``)
``time``   when the host decided (epoch seconds)
``end``    when the ban ends (epoch seconds), ``-1`` for never; unbans: ``0``
``count``  how often the origin host banned the address in this jail
``origin`` the deciding host's ``[Fleet] name``
=========  ===================================================================

An escalated network ban (``escalate``) adds ``members``: the banned addresses inside the
network that made the origin ban it, comma-separated (as many as fit in 2,048 characters;
``escalated`` then says how many there were). Hosts that do not know these fields ignore them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from warden.core.addr import Network, contains, format_target, parse_network
from warden.core.banguard import danger

__all__ = ["OPS", "BadEntry", "FailureMark", "FleetEntry", "decode", "from_text",
           "outbox_fields"]

#: what an entry may say
OPS = ("ban", "unban")
_MAX_FIELD = 255  # no field of a real entry is longer; a longer one is not ours
_MAX_MEMBERS = 2048  # the members of an escalated ban (about 50 IPv6 networks)


class BadEntry(ValueError):
    """An entry that is refused: its text says which field and why."""


@dataclass(frozen=True, slots=True)
class FleetEntry:
    """A decision shared with the fleet (``end`` None: a ban that never ends)."""

    op: str
    jail: str
    target: Network
    time: float
    end: float | None
    count: int
    origin: str
    #: an escalated ban's members (as many as the stream carries) and how many there were
    members: tuple[str, ...] = ()
    escalated: int = 0

    @property
    def addr(self) -> str:
        """The target as text."""
        return format_target(self.target)

    def fields(self) -> dict[str, str]:
        """The entry as stream fields."""
        end = "-1" if self.end is None else repr(float(self.end))
        out = {"op": self.op, "jail": self.jail, "addr": self.addr,
               "time": repr(float(self.time)), "end": "0" if self.op == "unban" else end,
               "count": str(self.count), "origin": self.origin}
        if self.members and self.op == "ban":
            kept: list[str] = []
            size = -1
            for member in self.members:
                size += len(member) + 1
                if size > _MAX_MEMBERS:
                    break
                kept.append(member)
            out["members"] = ",".join(kept)
            out["escalated"] = str(max(self.escalated, len(self.members)))
        return out

    def text(self) -> str:
        """The entry as one line of JSON (the outbox keeps it so)."""
        return json.dumps(self.fields(), separators=(",", ":"))

    def expired(self, now: float) -> bool:
        """True for a ban that has ended by ``now`` (nothing left to apply)."""
        return self.op == "ban" and self.end is not None and self.end <= now


@dataclass(frozen=True, slots=True)
class FailureMark:
    """One failure to add to the fleet-wide count of ``addr`` in ``jail`` (the window is
    ``findtime``, at most ``keep`` failures are kept); ``member`` is unique per failure
    (the origin host and its own sequence number)."""

    jail: str
    addr: str
    time: float
    member: str
    findtime: float
    keep: int


def _text(fields: Mapping[str, str], name: str) -> str:
    value = fields.get(name)
    if value is None or value == "":
        raise BadEntry(f"no {name}")
    if len(value) > _MAX_FIELD or not value.isprintable():
        raise BadEntry(f"{name} is not a short printable text")
    return value


def _number(fields: Mapping[str, str], name: str) -> float:
    text = _text(fields, name)
    try:
        value = float(text)
    except ValueError:
        raise BadEntry(f"{name} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise BadEntry(f"{name} {text!r} is not a finite number")
    return value


def decode(raw: Mapping[bytes | str, bytes | str] | Mapping[str, str]) -> FleetEntry:
    """The entry in the stream fields ``raw``; :class:`BadEntry` if any field is wrong or
    the target is one no host may ban (``0.0.0.0/0``, loopback, a prefix shorter than /8)."""
    fields: dict[str, str] = {}
    for key, value in raw.items():
        try:
            name = key.decode() if isinstance(key, bytes) else key
            fields[name] = value.decode() if isinstance(value, bytes) else value
        except UnicodeDecodeError:
            raise BadEntry("a field is not UTF-8 text") from None
    op = _text(fields, "op")
    if op not in OPS:
        raise BadEntry(f"op {op!r} is not ban or unban")
    jail = _text(fields, "jail")
    addr = _text(fields, "addr")
    target = parse_network(addr)
    if target is None:
        raise BadEntry(f"addr {addr!r} is not an IP address or network")
    why = danger(target)
    if why is not None and op == "ban":
        raise BadEntry(f"addr {addr}: {why}")
    time = _number(fields, "time")
    end_value = _number(fields, "end")
    end = None if end_value < 0 else end_value
    count_text = _text(fields, "count")
    if not count_text.isdigit() or int(count_text) > 1_000_000:
        raise BadEntry(f"count {count_text!r} is not a whole number")
    origin = _text(fields, "origin")
    members, escalated = _members(fields, target) if op == "ban" else ((), 0)
    return FleetEntry(op, jail, target, time, end, int(count_text), origin, members,
                      escalated)


def _members(fields: Mapping[str, str], target: Network) -> tuple[tuple[str, ...], int]:
    """The ``members`` and ``escalated`` fields of a ban (none: not escalated)."""
    text = fields.get("members", "")
    if not text:
        return (), 0
    if len(text) > _MAX_MEMBERS or not text.isprintable():
        raise BadEntry("members is not a short printable text")
    members: list[str] = []
    for item in text.split(","):
        net = parse_network(item)
        if net is None or net == target or not contains(target, net):
            raise BadEntry(f"member {item!r} is not an address inside {format_target(target)}")
        members.append(format_target(net))
    count = fields.get("escalated", "")
    if not count.isdigit() or not len(members) <= int(count) <= 1_000_000:
        raise BadEntry(f"escalated {count!r} is not the number of members (at least "
                       f"{len(members)})")
    return tuple(members), int(count)


def outbox_fields(text: str) -> tuple[str, dict[str, str]]:
    """The jail and stream fields of :meth:`FleetEntry.text` (an outbox row this host
    wrote; the receivers validate it); BadEntry if it is not one."""
    try:
        data = json.loads(text)
    except ValueError:
        raise BadEntry("not JSON") from None
    if not isinstance(data, dict) or not all(isinstance(v, str) for v in data.values()):
        raise BadEntry("not an object of texts")
    return _text(data, "jail"), data


def from_text(text: str) -> FleetEntry:
    """An entry from :meth:`FleetEntry.text` (the outbox), validated; BadEntry if it is
    not one."""
    return decode(outbox_fields(text)[1])
