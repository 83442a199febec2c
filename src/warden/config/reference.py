"""References with parameters: ``name[k=v, k2="a,b"][k3='x']``, as in ``filter =`` and ``action =``.

A reference is a name, optionally followed by one or more bracketed groups of ``key=value``
pairs separated by commas. A value is either quoted (``"..."`` or ``'...'``, which may contain
commas, brackets and newlines) or bare (up to the next ``,`` or ``]``); bare values are
stripped. Keys are made of letters, digits, ``_``, ``-`` and ``.``.

A multi-reference value (``action = a[x=1]\\n  b[y="2,3"]``) lists references separated by
white space outside brackets.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

__all__ = ["Reference", "parse_reference", "split_references"]

_KEY = re.compile(r"[\w\-.]+")
_GROUP_BREAK = re.compile(r"\]\s*\[")


@dataclass(frozen=True, slots=True)
class Reference:
    """A parsed reference: the name and its parameters in written order."""

    name: str
    params: dict[str, str] = field(default_factory=dict)


def _fail(text: str, pos: int, why: str) -> ValueError:
    return ValueError(f"invalid reference {text!r}: {why} at position {pos + 1}")


def _parse_params(text: str, start: int, end: int) -> dict[str, str]:
    """Parse ``k=v, ...`` between ``start`` and ``end`` (exclusive) of ``text``."""
    params: dict[str, str] = {}
    pos = start
    while pos < end:
        while pos < end and text[pos].isspace():
            pos += 1
        if pos >= end:
            break
        if text[pos] == "," and not text[pos + 1 : end].strip():
            break  # a trailing comma is allowed
        key = _KEY.match(text, pos, end)
        if key is None or key.end() >= end or text[key.end()] != "=":
            raise _fail(text, pos, "expected 'name=value'")
        pos = key.end() + 1
        quote = text[pos] if pos < end else ""
        close = text.find(quote, pos + 1, end) if quote in ("'", '"') else -1
        if close >= 0:
            value = text[pos + 1 : close]
            pos = close + 1
        else:
            stop = pos
            while stop < end and text[stop] not in ",]":
                stop += 1
            value = text[pos:stop]
            pos = stop
        params[key.group().strip()] = value.strip()
        if pos >= end:
            break
        if text[pos] == ",":
            pos += 1
            continue
        group_break = _GROUP_BREAK.match(text, pos, end)
        if group_break is None:
            raise _fail(text, pos, f"unexpected text after option {key.group()!r}")
        pos = group_break.end()
    return params


def parse_reference(text: str) -> Reference:
    """Parse ``name`` or ``name[k=v, ...][...]`` into a :class:`Reference`.

    Raises ValueError (with the position) on malformed text.
    """
    open_at = text.find("[")
    if open_at < 0:
        name = text.strip()
        if not name:
            raise _fail(text, 0, "empty name")
        return Reference(name)
    name = text[:open_at].strip()
    if not name:
        raise _fail(text, 0, "missing name before '['")
    close_at = text.rstrip().rfind("]")
    if close_at < open_at or close_at != len(text.rstrip()) - 1:
        raise _fail(text, open_at, "'[' without a closing ']' at the end")
    return Reference(name, _parse_params(text, open_at + 1, close_at))


def split_references(text: str) -> list[str]:
    """Split a multi-reference value into the text of each reference (white space outside
    brackets and quotes separates references; empty entries are dropped)."""
    items: list[str] = []
    current: list[str] = []
    depth = 0
    quote = ""
    pos = 0
    while pos < len(text):
        char = text[pos]
        if quote:
            if char == quote:
                quote = ""
        elif depth and char in "\"'":
            quote = char
        elif char == "[":
            depth += 1
        elif char == "]" and depth:
            depth -= 1
        elif char.isspace() and not depth:
            rest = text[pos:].lstrip()
            if current and rest.startswith("["):
                current.append(text[pos : len(text) - len(rest)])
                pos = len(text) - len(rest)
                continue  # 'name [k=v]' keeps its parameters
            if current:
                items.append("".join(current))
                current = []
            pos += 1
            continue
        current.append(char)
        pos += 1
    if current:
        items.append("".join(current))
    return items
