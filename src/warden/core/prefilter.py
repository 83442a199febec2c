"""Literal screens: substrings that any text a regex matches must contain.

Most log lines match none of a filter's regexes, and ``str.__contains__`` is an order of magnitude
cheaper than a regex search.  At load time we walk the parse tree ``re`` builds for a pattern and
collect *clauses*: tuples of literals of which at least one must occur in every match.  A line
that fails a clause cannot match, so the search is skipped; a line that passes is searched as
usual.  The screen is therefore exact by construction: it never changes a result, only the cost.

Soundness rules, applied while walking the tree:

* consecutive literal characters form one required run (groups are transparent; zero-width
  anchors do not break a run because they consume nothing);
* a repeat contributes its body's clauses only if its minimum count is at least one;
* an alternation (or a ``(?(id)yes|no)`` conditional) contributes one clause: the union of one
  clause taken from each branch, and nothing if any branch has none;
* a positive lookaround contributes its body's clauses; a negative one contributes nothing;
* under ``(?i)`` only ASCII characters without case count as literals, so case folding can never
  make a screened-out line match.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from functools import lru_cache
from re import _constants as sre  # type: ignore[attr-defined]
from re import _parser as sre_parse  # type: ignore[attr-defined]
from typing import Any

__all__ = ["Screen", "first_chars", "required_clauses", "screen_for", "text_screen"]

Clause = tuple[str, ...]

_IGNORECASE = sre.SRE_FLAG_IGNORECASE
_REPEATS = {sre.MAX_REPEAT, sre.MIN_REPEAT, getattr(sre, "POSSESSIVE_REPEAT", sre.MAX_REPEAT)}
_GROUPS = {sre.SUBPATTERN, getattr(sre, "ATOMIC_GROUP", sre.SUBPATTERN)}


def _plain(code: int, icase: bool) -> str | None:
    """The character a LITERAL stands for, or None if case folding could change it."""
    ch = chr(code)
    if icase and (code > 127 or ch.isalpha()):
        return None
    return ch


def _flatten(items: Any, icase: bool) -> Iterator[tuple[Any, Any, bool]]:
    """Yield ``(op, arg, icase)`` with groups opened in place (a group is contiguous text)."""
    for op, arg in items:
        if op is sre.SUBPATTERN:
            _gid, add, delete, sub = arg
            inner = (icase or bool(add & _IGNORECASE)) and not delete & _IGNORECASE
            yield from _flatten(sub, inner)
        elif op is getattr(sre, "ATOMIC_GROUP", None):
            yield from _flatten(arg, icase)
        else:
            yield op, arg, icase


def _rank(clause: Clause) -> tuple[int, int]:
    # Prefer clauses whose shortest literal is long (rare) and that have few alternatives.
    return (min(len(s) for s in clause), -len(clause))


def _any_of(branches: list[list[Clause]]) -> Clause | None:
    chosen: set[str] = set()
    for clauses in branches:
        if not clauses:
            return None
        best: Clause = max(clauses, key=_rank)
        chosen.update(best)
    return tuple(sorted(chosen))


def _walk(items: Any, icase: bool) -> list[Clause]:
    clauses: list[Clause] = []
    run: list[str] = []

    def flush() -> None:
        if run:
            clauses.append(("".join(run),))
            run.clear()

    for op, arg, ic in _flatten(items, icase):
        if op is sre.LITERAL:
            ch = _plain(arg, ic)
            if ch is None:
                flush()
            else:
                run.append(ch)
        elif op is sre.AT:
            continue  # zero-width: the characters around it are still adjacent
        elif op in _REPEATS:
            flush()
            low, _high, body = arg
            if low >= 1:
                clauses.extend(_walk(body, ic))
        elif op is sre.BRANCH:
            flush()
            clause = _any_of([_walk(alt, ic) for alt in arg[1]])
            if clause is not None:
                clauses.append(clause)
        elif op is sre.GROUPREF_EXISTS:
            flush()
            _gid, yes, no = arg
            clause = _any_of([_walk(yes, ic), _walk(no, ic) if no is not None else []])
            if clause is not None:
                clauses.append(clause)
        elif op is sre.ASSERT:
            flush()
            clauses.extend(_walk(arg[1], ic))
        else:
            flush()  # any other node matches variable text
    flush()
    return clauses


def required_clauses(pattern: re.Pattern[str]) -> list[Clause]:
    """All clauses of ``pattern``: tuples of literals, one of which occurs in any match."""
    return list(_clauses(pattern.pattern, pattern.flags))


# Parsing a pattern is most of a filter's load time; a runtime ``set JAIL addfailregex``
# rebuilds the jail's filter, whose other regexes are the ones parsed before: remembered.
@lru_cache(maxsize=4096)
def _clauses(text: str, flags: int) -> tuple[Clause, ...]:
    tree = sre_parse.parse(text, flags & ~re.UNICODE)
    icase = bool(tree.state.flags & _IGNORECASE)
    # Deduplicate, keep order.
    return tuple(dict.fromkeys(_walk(tree, icase)))


_RARE = 5


def _implied(clause: Clause, chosen: list[str]) -> bool:
    """True if every literal of ``clause`` contains one of ``chosen`` (so a text holding none
    of ``chosen`` holds none of the clause either)."""
    return all(any(c in lit for c in chosen) for lit in clause)


def text_screen(patterns: list[re.Pattern[str]], limit: int = 8) -> tuple[str, ...] | None:
    """A few literals, one of which occurs in any text where one of ``patterns`` may match.

    Precisely: if none of the literals occurs in a text ``T``, none of the patterns matches any
    string whose newline-free substrings all occur in ``T`` (``T`` itself, a part of it, a part
    followed by ``"\\n"``...). Each pattern must have a clause whose literals are newline-free
    and each contain a chosen literal; literals are chosen greedily: long ones first, then
    those shared by most patterns. None if some pattern has no such clause, or if more than
    ``limit`` literals would be needed (the test would then cost more than it saves).
    """
    return _text_screen(tuple((p.pattern, p.flags) for p in patterns), limit)


@lru_cache(maxsize=256)
def _text_screen(patterns: tuple[tuple[str, int], ...], limit: int) -> tuple[str, ...] | None:
    clauses: list[list[Clause]] = []
    for text, flags in patterns:
        usable = [c for c in _clauses(text, flags) if all(lit and "\n" not in lit for lit in c)]
        if not usable:
            return None
        clauses.append(usable)
    chosen: list[str] = []
    left = list(range(len(clauses)))
    while left:
        best: tuple[tuple[int, float, int], list[str]] | None = None
        for i in left:
            for clause in clauses[i]:
                new = [lit for lit in clause if not any(c in lit for c in chosen)]
                trial = chosen + new
                gain = sum(1 for j in left if any(_implied(c, trial) for c in clauses[j]))
                shortest = min(len(lit) for lit in clause)
                # Short literals are common in any text: prefer literals of 5 characters or more.
                rank = (min(shortest, _RARE), gain / max(1, len(new)), shortest)
                if best is None or rank > best[0]:
                    best = (rank, new)
        assert best is not None
        chosen += best[1]
        left = [j for j in left if not any(_implied(c, chosen) for c in clauses[j])]
        if len(chosen) > limit:
            return None
    # A literal containing another chosen one is implied by it: drop it.
    return tuple(lit for lit in chosen if not any(c != lit and c in lit for c in chosen))


_BEGIN = {sre.AT_BEGINNING, sre.AT_BEGINNING_STRING}
_ZERO_WIDTH = {sre.ASSERT, sre.ASSERT_NOT}
_MAX_SET = 256


def _char_set(items: Any, icase: bool) -> frozenset[str] | None:
    """The characters an ``IN`` node accepts, if it is a small plain set."""
    chars: set[str] = set()
    for op, arg in items:
        if op is sre.LITERAL:
            chars.add(chr(arg))
        elif op is sre.RANGE and arg[1] - arg[0] < _MAX_SET:
            chars.update(chr(c) for c in range(arg[0], arg[1] + 1))
        else:
            return None  # negation, categories, big ranges: not worth it
    if icase and any(ord(c) > 127 or c.isalpha() for c in chars):
        return None
    return frozenset(chars)


def _first(items: Any, icase: bool, anchor: bool) -> frozenset[str] | None:
    """Characters the first consumed character must be one of, or None if unknown.

    With ``anchor`` the sequence must begin with ``^``/``\\A`` (else None).
    """
    for op, arg, ic in _flatten(items, icase):
        if anchor:
            if op is sre.AT and arg in _BEGIN:
                anchor = False
                continue
            if op is sre.BRANCH:
                return _union([_first(alt, ic, True) for alt in arg[1]])
            return None
        if op in _ZERO_WIDTH or (op is sre.AT and arg in _BEGIN):
            continue  # consumes nothing: the next node decides
        if op is sre.LITERAL:
            ch = _plain(arg, ic)
            return None if ch is None else frozenset(ch)
        if op is sre.IN:
            return _char_set(arg, ic)
        if op is sre.BRANCH:
            return _union([_first(alt, ic, False) for alt in arg[1]])
        if op in _REPEATS and arg[0] >= 1:
            return _first(arg[2], ic, False)
        return None
    return None  # may match without consuming anything


def _union(sets: list[frozenset[str] | None]) -> frozenset[str] | None:
    out: set[str] = set()
    for one in sets:
        if one is None:
            return None
        out |= one
    return frozenset(out)


def first_chars(pattern: re.Pattern[str]) -> frozenset[str] | None:
    """For a pattern anchored at the start of the text (``^`` without MULTILINE, or ``\\A``):
    the characters the text must start with for a match; ``None`` if not determined."""
    return _first_chars(pattern.pattern, pattern.flags)


@lru_cache(maxsize=4096)
def _first_chars(text: str, flags: int) -> frozenset[str] | None:
    tree = sre_parse.parse(text, flags & ~re.UNICODE)
    if tree.state.flags & re.MULTILINE:
        return None  # ``^`` may match after any newline
    return _first(tree, bool(tree.state.flags & _IGNORECASE), True)


class Screen:
    """The best few clauses of one regex, as a cheap ``admits(text)`` test."""

    __slots__ = ("clauses", "first", "key")

    def __init__(self, clauses: list[Clause], limit: int = 2,
                 first: frozenset[str] | None = None) -> None:
        #: Characters the text must start with (anchored patterns), or None.
        self.first = first
        useful = sorted((c for c in clauses if _rank(c)[0] >= 2), key=_rank, reverse=True)
        picked = useful[:limit]
        #: A single required literal, tested first (the common case), or None.
        self.key: str | None = None
        if picked and len(picked[0]) == 1:
            self.key = picked[0][0]
            picked = picked[1:]
        #: Further clauses to test after ``key``.
        self.clauses: tuple[Clause, ...] = tuple(picked)

    @property
    def trivial(self) -> bool:
        """True if the screen admits every text (no useful literal was found)."""
        return self.key is None and not self.clauses

    def admits(self, text: str) -> bool:
        """False only if no match of the regex can exist in ``text``."""
        if self.first is not None and text[:1] not in self.first:
            return False
        if self.key is not None and self.key not in text:
            return False
        for clause in self.clauses:
            for literal in clause:
                if literal in text:
                    break
            else:
                return False
        return True

    def __repr__(self) -> str:
        return f"Screen(key={self.key!r}, clauses={self.clauses!r}, first={self.first!r})"


def screen_for(pattern: re.Pattern[str]) -> Screen:
    """Build the :class:`Screen` of a compiled pattern."""
    return Screen(required_clauses(pattern), first=first_chars(pattern))
