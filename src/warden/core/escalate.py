"""Escalation: when enough addresses of one network are banned, ban the network.

``escalate = 3 in /24, 3 in /48`` (jail option) is a list of rules ``N in /P``: when ``N``
distinct targets banned by one jail lie in one ``/P`` network and their bans started within
``findtime`` of each other, the jail bans that network too (for the longest time any of its
members has left; see :meth:`warden.core.jail.Jail`). A bare ``/P`` is IPv4 for ``P <= 32`` and
IPv6 above; ``v4/P`` and ``v6/P`` say the family outright (``3 in v6/32``).

:class:`Escalator` keeps, per rule and network, the targets banned in it recently, so noting a
ban costs the size of its groups, not the number of bans of the jail.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Network, IPv6Network

from warden.core.addr import Network, Target
from warden.core.banguard import MIN_PREFIX

__all__ = ["Escalation", "Escalator", "parse_escalate"]

_RULE = re.compile(r"^(\d+)\s+in\s+(?:(v4|v6|ipv4|ipv6)\s*)?/\s*(\d+)$", re.IGNORECASE)
_WIDTH = {4: 32, 6: 128}


@dataclass(frozen=True, slots=True)
class Escalation:
    """Ban the ``/prefix`` network (IP ``version``) holding ``count`` recently banned targets."""

    count: int
    prefix: int
    version: int

    def __str__(self) -> str:
        return f"{self.count} in v{self.version}/{self.prefix}"


def parse_escalate(text: str) -> tuple[Escalation, ...]:
    """The rules of an ``escalate`` value (empty or ``no``: none); ValueError says what is
    wrong with which rule."""
    rules: list[Escalation] = []
    if text.strip().lower() in ("", "no", "none", "false", "off", "0"):
        return ()
    for item in text.split(","):
        item = item.strip()
        found = _RULE.match(item)
        if found is None:
            raise ValueError(f"{item!r} is not a rule like '3 in /24' (N addresses in a "
                             "network /P; v4/P or v6/P names the family)")
        count, family, prefix = int(found.group(1)), found.group(2), int(found.group(3))
        implied = 4 if prefix <= 32 else 6
        version = (4 if family.lower().endswith("4") else 6) if family else implied
        width = _WIDTH[version]
        if count < 2:
            raise ValueError(f"{item!r}: at least 2 addresses make a network suspect")
        if not MIN_PREFIX[version] <= prefix < width:
            raise ValueError(f"{item!r}: an IPv{version} network to escalate to must be "
                             f"/{MIN_PREFIX[version]} to /{width - 1}")
        rule = Escalation(count, prefix, version)
        if any(r.prefix == prefix and r.version == version for r in rules):
            raise ValueError(f"{item!r}: a second rule for IPv{version} /{prefix}")
        rules.append(rule)
    return tuple(rules)


def _supernet(target: Network, prefix: int) -> Network:
    if isinstance(target, IPv4Network):
        return IPv4Network((int(target.network_address), prefix), strict=False)
    return IPv6Network((int(target.network_address), prefix), strict=False)


class Escalator:
    """Recent bans grouped by the networks of the rules, for one jail."""

    __slots__ = ("_groups", "findtime", "rules")

    def __init__(self, rules: tuple[Escalation, ...], findtime: float) -> None:
        self.rules = rules
        self.findtime = findtime
        # (rule, network) -> {member target: ban start}
        self._groups: dict[tuple[Escalation, Network], dict[Target, float]] = {}

    def __len__(self) -> int:
        return len(self._groups)

    def note(self, target: Target, time: float) -> list[tuple[Escalation, Network,
                                                               tuple[Target, ...]]]:
        """Note a ban of ``target`` starting at ``time``; return (rule, network, members) for
        each network that now holds its rule's count of members banned within ``findtime``
        (that group is then forgotten, so a network escalates once per wave)."""
        if isinstance(target, str):
            return []
        found: list[tuple[Escalation, Network, tuple[Target, ...]]] = []
        floor = time - self.findtime
        for rule in self.rules:
            if rule.version != target.version or rule.prefix >= target.prefixlen:
                continue
            key = (rule, _supernet(target, rule.prefix))
            group = self._groups.get(key)
            if group is None:
                group = self._groups[key] = {}
            else:
                for old in [t for t, at in group.items() if at < floor]:
                    del group[old]
            group[target] = max(time, group.get(target, time))
            if len(group) >= rule.count:
                found.append((rule, key[1], tuple(group)))
                del self._groups[key]
        return found

    def forget(self, target: Target) -> None:
        """Drop ``target`` from every group (its ban was lifted by hand)."""
        if isinstance(target, str):
            return
        for rule in self.rules:
            if rule.version == target.version and rule.prefix < target.prefixlen:
                group = self._groups.get((rule, _supernet(target, rule.prefix)))
                if group is not None:
                    group.pop(target, None)

    def expire(self, now: float) -> None:
        """Forget groups whose every member was banned before ``now - findtime``."""
        floor = now - self.findtime
        for key in [k for k, g in self._groups.items() if max(g.values(), default=0) < floor]:
            del self._groups[key]

    def clear(self) -> None:
        """Forget every group."""
        self._groups.clear()
