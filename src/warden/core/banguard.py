"""Which manual bans are refused unless forced: the ones that would lock out the world or us.

A ``ban`` typed by hand can do more harm than any filter: ``0.0.0.0/0`` blocks every client,
``10.0.0.0/7`` a large part of the Internet, ``127.0.0.1`` or the host's own address breaks
local services. :func:`refusal` says why such a ban is refused; the daemon asks for it before
a manual ban and the user may insist with ``--force``.
"""

from __future__ import annotations

from collections.abc import Iterable
from ipaddress import IPv4Network, IPv6Network

from warden.core.addr import Network, format_target

__all__ = ["MIN_PREFIX", "danger", "refusal"]

#: the shortest prefix a manual ban may have without ``--force``, per IP version
MIN_PREFIX = {4: 8, 6: 32}

_LOOPBACK: dict[int, Network] = {4: IPv4Network("127.0.0.0/8"), 6: IPv6Network("::1/128")}
_FAMILY = {4: "IPv4", 6: "IPv6"}


def danger(net: Network, own: Iterable[Network] = ()) -> str | None:
    """What is wrong with banning ``net`` by hand ("it covers every IPv4 address"), or None.

    ``own`` are the host's own addresses. Dangerous: a whole address family, a prefix shorter
    than :data:`MIN_PREFIX`, anything overlapping loopback or one of ``own``.
    """
    version = net.version
    if net.prefixlen == 0:
        return f"it covers every {_FAMILY[version]} address"
    if net.prefixlen < MIN_PREFIX[version]:
        return (f"its prefix /{net.prefixlen} is shorter than /{MIN_PREFIX[version]} "
                f"({net.num_addresses:,} addresses)")
    if net.overlaps(_LOOPBACK[version]):
        return "it is a loopback address" if net.num_addresses == 1 \
            else "it contains loopback addresses"
    for mine in own:
        if mine.version == version and net.overlaps(mine):
            if net.num_addresses == 1:
                return "it is an address of this host"
            return f"it contains {format_target(mine)}, an address of this host"
    return None


def refusal(net: Network, own: Iterable[Network] = ()) -> str | None:
    """Why a manual ban of ``net`` is refused (``None``: it is not), as a whole sentence that
    names the network, says what is wrong (:func:`danger`) and how to ban it anyway."""
    why = danger(net, own)
    if why is None:
        return None
    return f"refusing to ban {format_target(net)}: {why}; use --force to ban it anyway"
