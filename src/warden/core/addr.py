"""Ban targets: single addresses, networks (CIDR) and raw failure ids.

A target is an :mod:`ipaddress` network (a single address is a ``/32`` or ``/128`` network, so
that bans of ``192.0.2.7`` and of ``192.0.2.0/24`` are one type) or, for failure ids that are
no address (``<F-ID>`` user names, ``usedns = raw`` host names), the id text itself.

IPv4-mapped IPv6 addresses (``::ffff:192.0.2.1``) are the IPv4 address, as in fail2ban.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network

__all__ = [
    "Network",
    "Target",
    "contains",
    "covering",
    "format_target",
    "host_network",
    "network_text",
    "parse_address",
    "parse_network",
    "parse_target",
    "plain_v6_value",
]

Network = IPv4Network | IPv6Network
#: what a ban is about: an address or network, or a raw failure id
Target = IPv4Network | IPv6Network | str


_DIGITS = frozenset("0123456789")
_HEX = frozenset("0123456789abcdefABCDEF")
_V6_CHARS = _HEX | {":"}
_V4_MAPPED = 0xFFFF


def _fast_v4(text: str) -> int | None:
    """The value of a dotted quad without leading zeros (what :mod:`ipaddress` accepts);
    None when unsure (the caller then asks :mod:`ipaddress`)."""
    parts = text.split(".")
    if len(parts) != 4:
        return None
    value = 0
    for part in parts:
        if not 0 < len(part) <= 3 or not _DIGITS.issuperset(part) or (
                part[0] == "0" and len(part) > 1):
            return None
        octet = int(part)
        if octet > 255:
            return None
        value = (value << 8) | octet
    return value


def plain_v6_value(text: str) -> int | None:
    """The value of a plain IPv6 text (hex groups, at most one ``::``, no dotted tail, no
    scope); None when unsure."""
    if not _V6_CHARS.issuperset(text):
        return None
    head, sep, tail = text.partition("::")
    left = head.split(":") if head else []
    right = tail.split(":") if tail else []
    if sep:
        if "::" in tail or len(left) + len(right) > 7:
            return None
    elif len(left) != 8:
        return None
    value = 0
    for group in left:
        if not 0 < len(group) <= 4:
            return None
        value = (value << 16) | int(group, 16)
    value <<= 16 * (8 - len(left) - len(right))
    for group in right:
        if not 0 < len(group) <= 4:
            return None
        value = (value << 16) | int(group, 16)
    return value


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """``text`` as a single address (IPv4-mapped IPv6 as IPv4), or ``None`` if it is none."""
    # Plain texts (every canonical failure id) are parsed here; building the object from its
    # integer is a tenth of the cost of ipaddress' own text parser, which runs per failure.
    if ":" in text:
        value = plain_v6_value(text)
        if value is not None and value >> 32 != _V4_MAPPED:
            return IPv6Address(value)
    else:
        value = _fast_v4(text)
        if value is not None:
            return IPv4Address(value)
    try:
        addr = ipaddress.ip_address(text)
    except ValueError:
        return None
    if isinstance(addr, IPv6Address):
        if addr.scope_id is not None:
            return None
        mapped = addr.ipv4_mapped
        if mapped is not None:
            return mapped
    return addr


def parse_network(text: str) -> Network | None:
    """``text`` (``ADDR``, ``ADDR/PREFIX`` or ``ADDR/NETMASK``) as a network, or ``None`` if it
    is none of them.

    Host bits below the prefix are cleared (``192.0.2.7/24`` is ``192.0.2.0/24``), as fail2ban
    does for a ``<CIDR>`` capture. A netmask (``/255.255.255.0``) must be of the address's
    family and contiguous, as fail2ban requires.
    """
    text = text.strip()
    addr_text, slash, prefix_text = text.partition("/")
    addr = parse_address(addr_text)
    if addr is None:
        return None
    if not slash:
        return host_network(addr)
    if prefix_text.isdigit():
        prefix = int(prefix_text)
    else:
        found = _mask_prefix(addr, prefix_text)
        if found is None:
            return None
        prefix = found
    if prefix > addr.max_prefixlen:
        return None
    if isinstance(addr, IPv4Address):
        return IPv4Network((int(addr), prefix), strict=False)
    return IPv6Network((int(addr), prefix), strict=False)


def _mask_prefix(addr: IPv4Address | IPv6Address, text: str) -> int | None:
    """The prefix length of the netmask ``text`` for ``addr``'s family, None if not one."""
    mask = parse_address(text)
    if mask is None or mask.version != addr.version:
        return None
    bits = addr.max_prefixlen
    value = int(mask)
    host = (~value) & ((1 << bits) - 1)
    if host & (host + 1):  # the host part must be all ones: 1...10...0
        return None
    return bits - host.bit_length()


def host_network(addr: IPv4Address | IPv6Address) -> Network:
    """The single-address network of ``addr`` (``/32`` or ``/128``)."""
    # from the integer: ten times cheaper than ip_network(addr), which goes through text
    if isinstance(addr, IPv4Address):
        return IPv4Network(int(addr))
    return IPv6Network(int(addr))


def covering(addr: IPv4Address | IPv6Address | Network, prefix: int) -> Network:
    """The ``/prefix`` network holding ``addr`` (``addr`` itself as a network if it is as
    narrow or wider already)."""
    if isinstance(addr, IPv4Address | IPv6Address):
        if prefix >= addr.max_prefixlen:
            return host_network(addr)
        value = int(addr)
    else:
        if prefix >= addr.prefixlen:
            return addr
        value = int(addr.network_address)
    if addr.version == 4:
        return IPv4Network((value, prefix), strict=False)
    return IPv6Network((value, prefix), strict=False)


def network_text(version: int, value: int, prefix: int) -> str:
    """``format_target`` of the network ``value/prefix`` (host bits clear) of IP ``version``,
    written from the integer: a tenth of the cost of building the network object first."""
    if version == 4:
        text = f"{value >> 24}.{(value >> 16) & 255}.{(value >> 8) & 255}.{value & 255}"
        return text if prefix == 32 else f"{text}/{prefix}"
    digits = f"{value:032x}"
    groups = [digits[i:i + 4].lstrip("0") or "0" for i in range(0, 32, 4)]
    # RFC 5952: the longest run of two or more zero groups (the first of equals) becomes "::"
    best, best_len, start, run = -1, 1, 0, 0
    for i, group in enumerate(groups):
        if group == "0":
            if not run:
                start = i
            run += 1
            if run > best_len:
                best, best_len = start, run
        else:
            run = 0
    if best < 0:
        text = ":".join(groups)
    else:
        text = ":".join(groups[:best]) + "::" + ":".join(groups[best + best_len:])
    return text if prefix == 128 else f"{text}/{prefix}"


def parse_target(text: str) -> Target:
    """A failure id or user-given ban argument as a target: a network if it is an address or
    CIDR, else the text itself (a raw id)."""
    network = parse_network(text)
    return text if network is None else network


def format_target(target: Target) -> str:
    """How a target is shown: a single address without prefix, a network as ``ADDR/PREFIX``."""
    if isinstance(target, str):
        return target
    # ipaddress' own str() of an IPv6 address costs several times network_text (a status of
    # 100,000 bans, or restoring them, formats each of them)
    return network_text(target.version, int(target.network_address), target.prefixlen)


def contains(outer: Target, inner: Target) -> bool:
    """True if ``inner`` lies within ``outer`` (raw ids only contain themselves)."""
    if isinstance(outer, str) or isinstance(inner, str):
        return outer == inner
    if outer.version != inner.version:
        return False
    return inner.subnet_of(outer)  # type: ignore[arg-type]  # same version checked above
