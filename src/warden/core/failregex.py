"""One filter regex, expanded, compiled and screened once at load time.

:class:`FilterRegex` holds the compiled pattern, its literal :class:`~warden.core.prefilter.Screen`
and the knowledge needed to turn a match into fail2ban's group dictionary (``alt_``/``tuple_``
merging) and to tell which buffered lines a multi-line match covered (``<SKIPLINES>``).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Sequence
from operator import methodcaller

from warden.core.addr import plain_v6_value
from warden.core.prefilter import Screen, screen_for
from warden.core.tags import compound_groups, expand_tags, localise_flags
from warden.errors import RegexError

__all__ = ["ID_GROUPS", "FilterRegex", "compile_regex", "failure_id", "normalise_address"]

#: Groups that identify a failure (``mlfid`` only through a multi-line session).
ID_GROUPS = ("fid", "ip4", "ip6", "dns", "mlfid")


class FilterRegex:
    """A compiled failregex / ignoreregex / prefregex."""

    __slots__ = (
        "_alts",
        "_tuples",
        "expanded",
        "groups",
        "index",
        "option",
        "pattern",
        "screen",
        "search",
        "skiplines",
        "source",
    )

    def __init__(self, source: str, expanded: str, pattern: re.Pattern[str], option: str,
                 index: int) -> None:
        self.source = source
        self.expanded = expanded
        self.pattern = pattern
        self.option = option
        self.index = index
        #: Bound ``pattern.search``, looked up once (it is called per candidate line).
        self.search = pattern.search
        self.screen: Screen = screen_for(pattern)
        names = pattern.groupindex
        self._alts, self._tuples = compound_groups(names)
        #: fail2ban's group dictionary of a match (``alt_``/``tuple_`` groups merged).
        self.groups: Callable[[re.Match[str]], dict[str, object]] = (
            self._compound_groups if self._alts or self._tuples
            else methodcaller("groupdict")  # the common case, without a Python frame
        )
        self.skiplines = sum(1 for n in names if n.startswith("skiplines") and n[9:].isdigit())

    @property
    def compound(self) -> bool:
        """True if :attr:`groups` merges ``alt_``/``tuple_`` groups (it is no plain
        ``groupdict``)."""
        return bool(self._alts or self._tuples)

    def has_group(self, *names: str) -> bool:
        """True if the pattern defines any of the named groups."""
        return any(n in self.pattern.groupindex for n in names)

    def _compound_groups(self, match: re.Match[str]) -> dict[str, object]:
        found: dict[str, object] = match.groupdict()
        for name, target in self._alts:
            value = found.get(name)
            if value and not found.get(target):
                found[target] = value
        for name, target in self._tuples:
            current = found.get(target)
            if isinstance(current, tuple):
                found[target] = (*current, found.get(name))
            else:
                found[target] = (current, found.get(name))
        return found

    def split_lines(self, match: re.Match[str], lines: Sequence[str]
                    ) -> tuple[list[int], list[int]]:
        """``(matched, unmatched)`` indices of the buffered ``lines`` for a multi-line match.

        ``match.string`` is normally ``"\\n".join(lines) + "\\n"``.  Lines the match spans
        are *matched*, except those swallowed by ``<SKIPLINES>``; all others stay *unmatched*
        (they remain in the multi-line buffer).
        """
        count = len(lines)
        if count <= 1:
            return list(range(count)), []
        text = match.string
        first = text.count("\n", 0, text.rfind("\n", 0, match.start() + 1) + 1)
        # A negative start (empty match at 0) wraps to the end, exactly as fail2ban's index().
        end = text.find("\n", match.end() - 1)
        last = text.count("\n", 0, end + 1 if end >= 0 else len(text))
        first, last = min(first, count), min(last, count)
        matched = list(range(first, last))
        unmatched = list(range(first))
        if self.skiplines:
            skipped = "".join(
                part for i in range(self.skiplines)
                if (part := match.group(f"skiplines{i}")) is not None
            )
            # Remove each skipped line from the matched ones, scanning forward (as fail2ban).
            pos = 0
            for line in skipped.splitlines():
                for k in range(pos, len(matched)):
                    if lines[matched[k]] == line:
                        unmatched.append(matched.pop(k))
                        pos = k
                        break
        unmatched.extend(range(last, count))
        return matched, unmatched

    def __repr__(self) -> str:
        return f"FilterRegex({self.option}[{self.index}]={self.source!r})"


def compile_regex(source: str, *, option: str = "failregex", index: int = 0,
                  multiline: bool = False) -> FilterRegex:
    """Expand fail2ban tags in ``source`` and compile it; raise :class:`RegexError` if invalid."""
    expanded = expand_tags(source)
    if not expanded.strip():
        raise RegexError(f"{option} #{index + 1} is empty", option=option, index=index)
    expanded = localise_flags(expanded)
    try:
        pattern = re.compile(expanded, re.MULTILINE if multiline else 0)
    except re.error as exc:
        raise RegexError(
            f"{option} #{index + 1} does not compile ({exc}): {source!r}",
            option=option, index=index,
        ) from exc
    except (OverflowError, RecursionError) as exc:
        raise RegexError(
            f"{option} #{index + 1} is too complex to compile: {source!r}",
            option=option, index=index,
        ) from exc
    return FilterRegex(source, expanded, pattern, option, index)


def _ntop6(value: int) -> str:
    """IPv6 text exactly as glibc's ``inet_ntop`` writes it (fail2ban's output)."""
    words = [(value >> (112 - 16 * i)) & 0xFFFF for i in range(8)]
    best, best_len, cur, cur_len = -1, 0, -1, 0
    for i, w in enumerate(words):
        if w == 0:
            if cur < 0:
                cur, cur_len = i, 0
            cur_len += 1
            if cur_len > best_len:
                best, best_len = cur, cur_len
        else:
            cur = -1
    if best_len < 2:
        best = -1
    if best == 0 and (best_len == 6 or (best_len == 7 and words[7] != 1)
                      or (best_len == 5 and words[5] == 0xFFFF)):
        # glibc keeps the IPv4 tail of compatible/mapped addresses in dotted form.
        head = "::ffff:" if best_len == 5 else "::"
        return head + str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
    out: list[str] = []
    i = 0
    while i < 8:
        if i == best:
            out.append("::" if i == 0 else ":")
            i += best_len
            continue
        out.append(f"{words[i]:x}" + (":" if i < 7 else ""))
        i += 1
    return "".join(out)


_V4_MAPPED = 0xFFFF << 32


# Attackers repeat themselves: canonical forms are cached (bounded, cleared when full).
_CANONICAL: dict[tuple[str, int, int | None], str] = {}
_CANONICAL_MAX = 8192


def normalise_address(text: str, family: int, prefix: int | None = None) -> str:
    """fail2ban's failure id for a captured address (``family`` 4 or 6, group ``ip4``/``ip6``).

    A valid address is written canonically (IPv6 compressed and lower-case, IPv4-mapped IPv6 as
    IPv4); with a ``<CIDR>`` ``prefix`` the host bits are cleared and ``/prefix`` appended when
    shorter than the address.  Text that is not a valid address (``192.030.0.6``) is kept raw.
    """
    if family == 4 and prefix is None:
        # A dotted quad that parses is already canonical (no leading zeros are accepted), and
        # one that does not parse stays raw: either way the text is the id, no parse needed.
        return text
    key = (text, family, prefix)
    found = _CANONICAL.get(key)
    if found is None:
        if len(_CANONICAL) >= _CANONICAL_MAX:
            _CANONICAL.clear()
        found = _CANONICAL[key] = _canonical(text, family, prefix)
    return found


def _canonical(text: str, family: int, prefix: int | None) -> str:
    families = (4, 6) if prefix is not None else (family,)
    for fam in families:
        value = plain_v6_value(text) if fam == 6 else None
        if value is None:
            try:
                addr = ipaddress.IPv4Address(text) if fam == 4 else ipaddress.IPv6Address(text)
            except ValueError:
                continue
            if addr.version == 6 and "%" in text:
                continue  # inet_pton rejects scope ids
            value = int(addr)
        bits = 32 if fam == 4 else 128
        if prefix is not None:
            # Same arithmetic as fail2ban: a prefix beyond the width keeps every bit.
            value &= ~(((1 << bits) - 1) >> prefix)
            suffix = f"/{prefix}" if prefix and prefix < bits else ""
        elif fam == 6 and (value >> 32) == 0xFFFF:
            return str(ipaddress.IPv4Address(value & 0xFFFFFFFF))
        else:
            suffix = ""
        return (str(ipaddress.IPv4Address(value)) if fam == 4 else _ntop6(value)) + suffix
    return text


def failure_id(fail: dict[str, object]) -> str | None:
    """fail2ban's failure id from a match's groups: the address (canonical if valid), else the
    host name or ``<F-ID>``; ``None`` if none took part.  With both an address and a different
    ``<F-ID>``, the id wins and the address is stored as ``ip``."""
    fid = fail.get("fid")
    ip = fail.get("ip4")
    family = 4
    if ip is None:
        ip = fail.get("ip6")
        family = 6
    if ip is not None:
        cidr = fail.get("cidr")
        host = normalise_address(str(ip), family, int(str(cidr)) if cidr else None)
        if fid is None or fid == ip:
            return host
        fail["ip"] = host
        return str(fid)
    ip = fail.get("dns")
    if ip is not None:
        return str(ip)
    return None if fid is None else str(fid)
