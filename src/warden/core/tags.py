"""fail2ban's regex tags (``<HOST>``, ``<F-USER>…</F-USER>``, ``<SKIPLINES>``, …) as ``re``.

A filter regex is written in fail2ban's dialect; :func:`expand_tags` turns it into a plain Python
regex that accepts exactly the texts fail2ban's expansion accepts and yields the same named groups:

=====================  =========================================================================
tag                    expands to
=====================  =========================================================================
``<HOST>``             ``<ADDR>`` or a DNS name (groups ``ip4`` / ``ip6`` / ``dns``)
``<ADDR>``             an IPv4 (optionally ``::ffff:``-mapped) or IPv6 address, maybe in ``[]``
``<IP4>`` ``<IP6>``    one address family (group ``ip4`` / ``ip6``)
``<DNS>``              a host name (group ``dns``)
``<CIDR>``             a prefix length (group ``cidr``)
``<SUBNET>``           ``<ADDR>`` with an optional ``/<CIDR>``
``<F-ID/>``            a run of non-blanks (group ``fid``); ``<F-PORT/>`` a word (``fport``)
``<F-NAME>…</F-NAME>`` a named group ``name`` (``ID`` → ``fid``, ``PORT`` → ``fport``)
``<SKIPLINES>``        any number of whole lines (multi-line buffers), groups ``skiplinesN``
=====================  =========================================================================

Self-closing ``<F-IP4/>``, ``<F-IP6/>``, ``<F-ADDR/>``, ``<F-CIDR/>``, ``<F-SUBNET/>`` and
``<F-DNS/>`` are synonyms of the plain tags. Anything else that looks like a tag is left alone
(``<F-USER/>`` stays literal text, as does a closing tag that was never opened).

Groups named ``alt_NAME[_N]`` supply ``NAME`` when it is empty; groups named ``tuple_NAME[_N]``
are combined with ``NAME`` into a tuple (see :func:`compound_groups`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

__all__ = [
    "HOST_GROUPS",
    "compound_groups",
    "expand_tags",
    "localise_flags",
    "tag_regex",
]

# Building blocks, written once and combined below.  The IPv6 form deliberately mirrors what
# fail2ban accepts (including its leniency, e.g. ``1::2::3``): we must agree with it, not RFC 4291.
_HEX = "[0-9a-fA-F]{1,4}"
_IP4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_IP6 = "(?:" + _HEX + ":(?::)?|::){1,7}(?:" + _HEX + "|(?<=:):)"
_MAPPED = "(?:::f{4,6}:)?"  # an IPv4-mapped IPv6 prefix, captured as plain IPv4

_G_IP4 = _MAPPED + "(?P<ip4>" + _IP4 + ")"
_G_IP6 = "(?P<ip6>" + _IP6 + ")"
_G_DNS = r"(?P<dns>[-\w.^]*\w)"
_G_CIDR = r"(?P<cidr>\d+)"
_G_ADDR = r"\[?(?:" + _G_IP4 + "|" + _G_IP6 + r")\]?"
_G_HOST = "(?:" + _G_ADDR + "|" + _G_DNS + ")"
_G_SUBNET = r"\[?(?:" + _G_IP4 + "|" + _G_IP6 + ")(?:/" + _G_CIDR + r")?\]?"

_FIXED: dict[str, str] = {
    "HOST": _G_HOST,
    "ADDR": _G_ADDR,
    "IP4": _G_IP4,
    "IP6": _G_IP6,
    "DNS": _G_DNS,
    "CIDR": _G_CIDR,
    "SUBNET": _G_SUBNET,
    "F-ID/": r"(?P<fid>\S+)",
    "F-PORT/": r"(?P<fport>\w+)",
}
for _name in ("ADDR", "IP4", "IP6", "DNS", "CIDR", "SUBNET"):
    _FIXED["F-" + _name + "/"] = _FIXED[_name]

#: Groups that name the host of a failure, in the order fail2ban picks them.
HOST_GROUPS = ("ip4", "ip6", "dns")

# Anything shaped like a tag; only known ones are replaced.
_TAG = re.compile(r"<(/?[-\w]+/?)>")
_CUSTOM = re.compile(r"(/?)F-([-A-Z0-9_]+)\Z")
_RENAMED = {"id": "fid", "port": "fport"}

# ``((?i)x)`` and ``(?:(?i)x)`` become ``(?i:x)``: Python 3.11 rejects global flags that are
# not at the very start, and fail2ban rewrites them the same way.
_GLOBAL_FLAGS = re.compile(r"(?<!\\)\((?:\?:)?\(\?([a-z]+)\)")

_COMPOUND = re.compile(r"(alt|tuple)_(.*?)(?:_\d+)?\Z")


def tag_regex(name: str) -> str | None:
    """Return the regex a fixed tag (``"HOST"``, ``"F-ID/"``, …) stands for, or ``None``."""
    return _FIXED.get(name)


def _group_name(tag: str) -> str:
    low = tag.lower()
    return _RENAMED.get(low, low)


def expand_tags(regex: str) -> str:
    """Replace every fail2ban tag in ``regex`` by its Python regex (see the module table)."""
    opened: set[str] = set()
    skips = 0

    def replace(m: re.Match[str]) -> str:
        nonlocal skips
        name = m.group(1)
        fixed = _FIXED.get(name)
        if fixed is not None:
            return fixed
        if name == "SKIPLINES":
            skips += 1
            return r"\n(?P<skiplines" + str(skips - 1) + r">(?:(?:.*\n)*?))"
        custom = _CUSTOM.match(name)
        if custom is None:
            return m.group(0)
        closing, tag = custom.groups()
        if closing:
            # A closing tag only closes a group we opened; otherwise it is literal text.
            return ")" if tag in opened else m.group(0)
        opened.add(tag)
        return f"(?P<{_group_name(tag)}>"

    return _TAG.sub(replace, regex)


def localise_flags(regex: str) -> str:
    """Turn wrapped global flags like ``((?i)x)`` into scoped flags ``(?i:x)``."""
    return _GLOBAL_FLAGS.sub(r"(?\1:", regex)


def compound_groups(
    names: Iterable[str],
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Split group names into ``(alternates, tuples)``: sorted ``(group, target)`` pairs.

    ``alt_user_2`` → ``("alt_user_2", "user")``; ``tuple_id`` → ``("tuple_id", "fid")``.
    Names of four characters or fewer are never compound (fail2ban's rule).
    """
    alts: list[tuple[str, str]] = []
    tuples: list[tuple[str, str]] = []
    for name in names:
        if len(name) <= 4:
            continue
        m = _COMPOUND.match(name)
        if m is None:
            continue
        pair = (name, _group_name(m.group(2)))
        (alts if m.group(1) == "alt" else tuples).append(pair)
    return tuple(sorted(alts)), tuple(sorted(tuples))
