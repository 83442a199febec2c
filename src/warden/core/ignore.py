"""``ignoreip``/``ignoreself`` (networks the jail never bans) and the ``ignorecommand`` cache.

Host names in ``ignoreip`` are resolved by the daemon, off the hot path; the core only sees
networks (and raw ids, compared as text). The lookup costs one set test per distinct prefix
length, whatever the number of networks.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from ipaddress import IPv4Address, IPv6Address

from warden.core.addr import Network, parse_network

__all__ = ["IgnoreCache", "IgnoreList", "render_key"]


class IgnoreList:
    """A set of networks and raw ids; ``target in ignore_list`` is the question."""

    __slots__ = ("_raw", "_tables", "entries")

    def __init__(self, entries: Iterable[Network | str] = ()) -> None:
        self.entries: tuple[Network | str, ...] = tuple(entries)
        self._raw: set[str] = set()
        # (version, prefix length) -> network addresses as integers
        tables: dict[tuple[int, int], set[int]] = {}
        for entry in self.entries:
            if isinstance(entry, str):
                network = parse_network(entry)
                if network is None:
                    self._raw.add(entry)
                    continue
                entry = network
            key = (entry.version, entry.prefixlen)
            tables.setdefault(key, set()).add(int(entry.network_address))
        # shortest prefixes first: a match there is the likeliest (whole private ranges)
        self._tables = tuple(
            (version, prefix, _mask(version, prefix), nets)
            for (version, prefix), nets in sorted(tables.items(), key=lambda kv: kv[0][1])
        )

    def __bool__(self) -> bool:
        return bool(self.entries)

    def __contains__(self, target: object) -> bool:
        if isinstance(target, str):
            if target in self._raw:
                return True
            network = parse_network(target)
            if network is None:
                return False
            target = network
        prefix: int
        if isinstance(target, IPv4Address | IPv6Address):
            version, value, prefix = target.version, int(target), target.max_prefixlen
        elif isinstance(target, Network):
            version, value, prefix = target.version, int(target.network_address), target.prefixlen
        else:
            return False
        for table_version, table_prefix, mask, nets in self._tables:
            # a network is ignored only if it lies wholly inside an ignored one
            if table_version == version and table_prefix <= prefix and (value & mask) in nets:
                return True
        return False

    def overlaps(self, network: Network) -> bool:
        """True if ``network`` holds an ignored address (it lies in an ignored network, or
        an ignored network lies in it): banning it would ban someone ignored."""
        if network in self:
            return True
        version, value, prefix = network.version, int(network.network_address), network.prefixlen
        mask = _mask(version, prefix)
        return any(table_version == version and table_prefix > prefix
                   and any((net & mask) == value for net in nets)
                   for table_version, table_prefix, _own_mask, nets in self._tables)


def _mask(version: int, prefix: int) -> int:
    width = 32 if version == 4 else 128
    return ((1 << width) - 1) ^ ((1 << (width - prefix)) - 1)


_TAG = re.compile(r"<([A-Za-z][\w-]*)>")


def render_key(template: str, fid: str, fields: Mapping[str, object]) -> str:
    """The ``ignorecache`` key of a failure: ``<ip>``/``<fid>`` become the failure id,
    ``<F-NAME>`` the capture ``name`` (empty if missing); other tags stay as written."""

    def tag(m: re.Match[str]) -> str:
        name = m.group(1)
        lower = name.lower()
        if lower in ("ip", "fid"):
            return fid
        if lower.startswith("f-"):
            value = fields.get(lower[2:])
            return "" if value is None else str(value)
        return m.group(0)

    return _TAG.sub(tag, template)


class IgnoreCache:
    """``ignorecommand`` answers by key, at most ``max_count`` for ``max_time`` seconds each
    (the oldest answer is dropped first when full)."""

    __slots__ = ("_answers", "max_count", "max_time")

    def __init__(self, max_count: int, max_time: float) -> None:
        self.max_count = max_count
        self.max_time = max_time
        self._answers: dict[str, tuple[bool, float]] = {}

    def __len__(self) -> int:
        return len(self._answers)

    def get(self, key: str, now: float) -> bool | None:
        """The remembered answer for ``key``, or ``None`` if none is valid at ``now``."""
        found = self._answers.get(key)
        if found is None:
            return None
        if found[1] <= now:
            del self._answers[key]
            return None
        return found[0]

    def put(self, key: str, ignored: bool, now: float) -> None:
        """Remember the answer for ``key`` from ``now`` on."""
        answers = self._answers
        answers.pop(key, None)
        if self.max_count <= 0:
            return
        while len(answers) >= self.max_count:
            del answers[next(iter(answers))]
        answers[key] = (ignored, now + self.max_time)
