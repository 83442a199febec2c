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
    "format_target",
    "parse_address",
    "parse_network",
    "parse_target",
]

Network = IPv4Network | IPv6Network
#: what a ban is about: an address or network, or a raw failure id
Target = IPv4Network | IPv6Network | str


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """``text`` as a single address (IPv4-mapped IPv6 as IPv4), or ``None`` if it is none."""
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
    """``text`` (``ADDR`` or ``ADDR/PREFIX``) as a network, or ``None`` if it is neither.

    Host bits below the prefix are cleared (``192.0.2.7/24`` is ``192.0.2.0/24``), as fail2ban
    does for a ``<CIDR>`` capture.
    """
    text = text.strip()
    addr_text, slash, prefix_text = text.partition("/")
    addr = parse_address(addr_text)
    if addr is None:
        return None
    if not slash:
        return ipaddress.ip_network(addr)
    if not prefix_text.isdigit():
        return None
    prefix = int(prefix_text)
    if prefix > addr.max_prefixlen:
        return None
    return ipaddress.ip_network((addr, prefix), strict=False)


def parse_target(text: str) -> Target:
    """A failure id or user-given ban argument as a target: a network if it is an address or
    CIDR, else the text itself (a raw id)."""
    network = parse_network(text)
    return text if network is None else network


def format_target(target: Target) -> str:
    """How a target is shown: a single address without prefix, a network as ``ADDR/PREFIX``."""
    if isinstance(target, str):
        return target
    if target.prefixlen == target.max_prefixlen:
        return str(target.network_address)
    return str(target)


def contains(outer: Target, inner: Target) -> bool:
    """True if ``inner`` lies within ``outer`` (raw ids only contain themselves)."""
    if isinstance(outer, str) or isinstance(inner, str):
        return outer == inner
    if outer.version != inner.version:
        return False
    return inner.subnet_of(outer)  # type: ignore[arg-type]  # same version checked above
