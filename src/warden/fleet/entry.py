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
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from dataclasses import dataclass

from warden.core.addr import Network, format_target, parse_network
from warden.core.banguard import danger

__all__ = ["OPS", "BadEntry", "FailureMark", "FleetEntry", "decode", "from_text",
           "outbox_fields"]

#: what an entry may say
OPS = ("ban", "unban")
_MAX_FIELD = 255  # no field of a real entry is longer; a longer one is not ours


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

    @property
    def addr(self) -> str:
        """The target as text."""
        return format_target(self.target)

    def fields(self) -> dict[str, str]:
        """The entry as stream fields."""
        end = "-1" if self.end is None else repr(float(self.end))
        return {"op": self.op, "jail": self.jail, "addr": self.addr,
                "time": repr(float(self.time)), "end": "0" if self.op == "unban" else end,
                "count": str(self.count), "origin": self.origin}

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
    return FleetEntry(op, jail, target, time, end, int(count_text), origin)


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
