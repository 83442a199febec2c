"""A linter for catastrophic backtracking in filter regexes.

Python's ``re`` backtracks: a pattern in which one piece of text can be matched in many ways
inside a loop takes exponential time on a line that almost matches - and log lines are written
by the people a filter watches.  :func:`lint_regex` parses a regex with the standard library's
own parser and reports the two shapes that cause it:

* **nested quantifiers** - an unbounded loop whose body holds another unbounded loop ``Q`` and
  can match using only characters ``Q`` accepts (``(\\w+\\s?)*``, ``(a+)+``, ``(.*x)*``): the
  text of two iterations can then be re-split between them in exponentially many ways.  A body
  that must consume a character ``Q`` cannot (``(?: \\w+=\\d+)*``: the blank) is safe.
* **overlapping alternatives under a loop** - ``(\\d|\\w)+``, ``(a|ab)*``: two branches that can
  start with the same character let every iteration choose twice.  Alternatives that are plain
  strings none of which is a prefix of another are deterministic and allowed.

Loops bounded below :data:`BOUND` count as unbounded only from that size on; atomic groups and
possessive quantifiers never backtrack and are skipped.  Character classes are compared on a
sample alphabet (ASCII plus a few non-ASCII characters), which is exact for the classes filters
use.  The analysis is a heuristic: it has no false negatives on the classic shapes above and
accepts every filter of warden's library.

:func:`certain_problems` keeps only the findings that are sure, whatever the alphabet: a loop
whose body is nothing but another unbounded loop (``(a+)+``, ``(?:\\w+)*``).  Such a loop
splits a run of ``n`` characters in ``2**(n-1)`` ways, and any failure after it tries them
all; no filter of fail2ban's or warden's library has one, so loading refuses it (the other
findings stay warnings, as some stock filters have them).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Iterator
from functools import cache, lru_cache
from typing import Any

# The standard library's own regex parser and its opcodes (private modules without type stubs:
# the parse tree is what re.compile itself uses, so the analysis sees exactly what runs).
P: Any = importlib.import_module("re._parser")
C: Any = importlib.import_module("re._constants")

__all__ = ["BOUND", "certain_problems", "lint_regex"]

#: a loop allowing at least this many repetitions is treated as unbounded
BOUND = 64

_ALPHABET = (*(chr(c) for c in range(128)), "é", "ß", "\u00a0", "\u2028", "中", "\U0001f600")
_CATEGORY_TESTS = {
    C.CATEGORY_DIGIT: re.compile(r"\d"),
    C.CATEGORY_NOT_DIGIT: re.compile(r"\D"),
    C.CATEGORY_SPACE: re.compile(r"\s"),
    C.CATEGORY_NOT_SPACE: re.compile(r"\S"),
    C.CATEGORY_WORD: re.compile(r"\w"),
    C.CATEGORY_NOT_WORD: re.compile(r"\W"),
    C.CATEGORY_LINEBREAK: re.compile(r"\n"),
    C.CATEGORY_NOT_LINEBREAK: re.compile(r"[^\n]"),
}
_ANY = frozenset(_ALPHABET)
_DOT = _ANY - {"\n"}  # "." without DOTALL; filters never set it, and the engine cuts lines
_REPEATS = (C.MAX_REPEAT, C.MIN_REPEAT)
_ZERO_WIDTH = (C.AT, C.ASSERT, C.ASSERT_NOT)

Item = tuple[Any, Any]


@cache
def _category(category: Any) -> frozenset[str]:
    test = _CATEGORY_TESTS.get(category)
    if test is None:  # pragma: no cover - locale categories exist only in bytes patterns
        return _ANY
    return frozenset(ch for ch in _ALPHABET if test.match(ch))


def _char(code: int) -> frozenset[str]:
    return frozenset({chr(code)})


def _in_set(items: list[Item]) -> frozenset[str]:
    """The characters a ``[...]`` class accepts."""
    negate = False
    found: set[str] = set()
    for op, av in items:
        if op is C.NEGATE:
            negate = True
        elif op is C.LITERAL:
            found |= _char(av)
        elif op is C.RANGE:
            low, high = av
            found |= {ch for ch in _ALPHABET if low <= ord(ch) <= high}
            found |= {chr(low), chr(high)}
        elif op is C.CATEGORY:
            found |= _category(av)
        else:  # pragma: no cover - charset internals (BIGCHARSET...) appear only when compiled
            found |= _ANY
    return (_ANY - found) if negate else frozenset(found)


def _atom(op: Any, av: Any) -> frozenset[str] | None:
    """The characters of a one-character item, or None if ``op`` is not one."""
    if op is C.LITERAL:
        return _char(av)
    if op is C.NOT_LITERAL:
        return _ANY - _char(av)
    if op is C.ANY:
        return _DOT
    if op is C.IN:
        return _in_set(av)
    return None


def _unbounded(high: int) -> bool:
    return high is C.MAXREPEAT or high >= BOUND


def _loop_chars(body: Any) -> frozenset[str] | None:
    """The characters a loop over one character class takes (None for a longer body)."""
    if len(body) != 1:
        return None
    return _atom(*body[0])


def _pure(seq: Any, allowed: frozenset[str], loop: Any) -> tuple[bool, bool]:
    """Can ``seq`` match using only characters in ``allowed``: (without using the loop
    ``loop``, using it at least once)?"""
    without, with_loop = True, False
    for op, av in seq:
        atom = _atom(op, av)
        if atom is not None:
            item = (bool(atom & allowed), False)
        elif op in _REPEATS or op is C.POSSESSIVE_REPEAT:
            if av[2] is loop:
                item = (True, True)
            else:
                inner = _pure(av[2], allowed, loop)
                item = (av[0] == 0 or inner[0], inner[1])
        elif op is C.SUBPATTERN:
            item = _pure(av[3], allowed, loop)
        elif op is C.ATOMIC_GROUP:
            item = _pure(av, allowed, loop)
        elif op is C.BRANCH:
            parts = [_pure(b, allowed, loop) for b in av[1]]
            item = (any(p[0] for p in parts), any(p[1] for p in parts))
        elif op is C.GROUPREF_EXISTS:
            parts = [_pure(b, allowed, loop) for b in (av[1], av[2] or [])]
            item = (any(p[0] for p in parts), any(p[1] for p in parts))
        elif op is C.GROUPREF:
            item = (False, False)  # unknown text: assume it breaks the run
        else:  # zero-width: anchors and lookarounds
            item = (True, False)
        with_loop = (with_loop and item[0]) or (without and item[1])
        without = without and item[0]
    return without, with_loop


def _tail(seq: Any, *, head: bool = False) -> frozenset[str]:
    """Characters an unbounded one-character loop at the very end of ``seq`` (with
    ``head=True``: at its very start) may take."""
    found: set[str] = set()
    for op, av in (seq if head else reversed(seq)):
        if op in _REPEATS:
            chars = _loop_chars(av[2])
            if _unbounded(av[1]) and chars is not None:
                found |= chars
            else:
                found |= _tail(av[2], head=head)
            if av[0] >= 1:
                break
        elif op is C.SUBPATTERN:
            found |= _tail(av[3], head=head)
            if not _first(av[3])[1]:
                break
        elif op not in _ZERO_WIDTH:
            break
    return frozenset(found)


def _first(seq: Any) -> tuple[frozenset[str], bool]:
    """The characters a match of ``seq`` can start with, and whether it can be empty."""
    found: set[str] = set()
    for op, av in seq:
        atom = _atom(op, av)
        if atom is not None:
            return frozenset(found | atom), False
        if op in _REPEATS or op is C.POSSESSIVE_REPEAT:
            inner, empty = _first(av[2])
            found |= inner
            if av[0] >= 1 and not empty:
                return frozenset(found), False
        elif op is C.SUBPATTERN or op is C.ATOMIC_GROUP:
            inner, empty = _first(av[3] if op is C.SUBPATTERN else av)
            found |= inner
            if not empty:
                return frozenset(found), False
        elif op is C.BRANCH:
            empty_any = False
            for branch in av[1]:
                inner, empty = _first(branch)
                found |= inner
                empty_any = empty_any or empty
            if not empty_any:
                return frozenset(found), False
        elif op is C.GROUPREF:
            return frozenset(found) | _ANY, False
        elif op is C.GROUPREF_EXISTS:
            for part in (av[1], av[2]):
                if part is not None:
                    found |= _first(part)[0]
        # AT, ASSERT, ASSERT_NOT are zero-width: look further
    return frozenset(found), True


def _literal_string(seq: Any) -> str | None:
    """The text ``seq`` matches if it is a plain string of literals, else None."""
    out = []
    for op, av in seq:
        if op is not C.LITERAL:
            return None
        out.append(chr(av))
    return "".join(out)


def _loops(seq: Any, *, lookarounds: bool = True) -> Iterator[tuple[Any, bool]]:
    """Every backtracking loop body in ``seq`` (and whether it is unbounded), depth first;
    with ``lookarounds=False`` not those inside lookahead/lookbehind assertions."""
    for op, av in seq:
        if op in _REPEATS:
            yield av[2], _unbounded(av[1])
            yield from _loops(av[2], lookarounds=lookarounds)
        elif op is C.SUBPATTERN:
            yield from _loops(av[3], lookarounds=lookarounds)
        elif op is C.BRANCH:
            for branch in av[1]:
                yield from _loops(branch, lookarounds=lookarounds)
        elif op in (C.ASSERT, C.ASSERT_NOT):
            if lookarounds:
                yield from _loops(av[1])
        elif op is C.GROUPREF_EXISTS:
            yield from _loops(av[1], lookarounds=lookarounds)
            if av[2] is not None:
                yield from _loops(av[2], lookarounds=lookarounds)
        # atomic groups and possessive loops never backtrack into themselves: skipped


def _branches(seq: Any) -> Iterator[list[Any]]:
    """The alternations of ``seq`` that are not inside a nested loop or lookaround."""
    for op, av in seq:
        if op is C.BRANCH:
            yield av[1]
            for branch in av[1]:
                yield from _branches(branch)
        elif op is C.SUBPATTERN:
            yield from _branches(av[3])


def _describe(seq: Any) -> str:
    return "".join(_render(op, av) for op, av in seq)[:60]


def _render(op: Any, av: Any) -> str:
    if op is C.LITERAL:
        return re.escape(chr(av))
    if op is C.NOT_LITERAL:
        return "[^" + re.escape(chr(av)) + "]"
    if op is C.ANY:
        return "."
    if op is C.IN or op is C.CATEGORY:
        return "[..]"
    if op in _REPEATS:
        low, high = av[0], av[1]
        body = "".join(_render(o, a) for o, a in av[2])
        suffix = {(0, C.MAXREPEAT): "*", (1, C.MAXREPEAT): "+", (0, 1): "?"}.get(
            (low, high), f"{{{low},{'' if high is C.MAXREPEAT else high}}}"
        )
        return f"({body}){suffix}" if len(av[2]) > 1 else body + suffix
    if op is C.SUBPATTERN:
        return "(" + "".join(_render(o, a) for o, a in av[3]) + ")"
    if op is C.BRANCH:
        return "(" + "|".join("".join(_render(o, a) for o, a in b) for b in av[1]) + ")"
    return ""


def _only_loop(seq: Any) -> bool:
    """``seq`` is nothing but an unbounded loop that must run (``(x+)``, ``((?:a|bc)+)``)."""
    items = [(op, av) for op, av in seq if op not in _ZERO_WIDTH]
    if len(items) != 1:
        return False
    op, av = items[0]
    if op is C.SUBPATTERN:
        return _only_loop(av[3])
    return op in _REPEATS and av[0] >= 1 and _unbounded(av[1])


def _only_loop_problem(body: Any) -> list[str]:
    if _only_loop(body):
        return [
            f"nested quantifier: the loop {_describe(body)!r} repeats nothing but another "
            "unbounded loop, so the same text splits between them in exponentially many ways"
        ]
    return []


def _nested_problems(body: Any) -> list[str]:
    if only := _only_loop_problem(body):
        return only
    for inner, unbounded in _loops(body, lookarounds=False):
        # loops over one character class; a loop over a longer body is checked on its own
        chars = _loop_chars(inner)
        if not unbounded or chars is None:
            continue
        if _pure(body, chars, inner)[1]:
            return [
                f"nested quantifier: the loop {_describe(body)!r} repeats an unbounded "
                f"{_describe(inner)!r} and can split the same text between iterations "
                "in exponentially many ways"
            ]
    if _tail(body) & _tail(body, head=True):
        return [
            f"nested quantifier: in the loop {_describe(body)!r} the end of one iteration and "
            "the start of the next can take the same characters"
        ]
    return []


def _branch_problems(body: Any) -> list[str]:
    problems = []
    for branches in _branches(body):
        firsts = [_first(b)[0] for b in branches]
        literals = [_literal_string(b) for b in branches]
        for i in range(len(branches)):
            for j in range(i + 1, len(branches)):
                if not firsts[i] & firsts[j]:
                    continue
                a, b = literals[i], literals[j]
                if a is not None and b is not None and not a.startswith(b) and not b.startswith(a):
                    continue  # distinct plain strings: at most one can match at a position
                problems.append(
                    f"overlapping alternatives under a loop: {_describe(branches[i])!r} "
                    f"and {_describe(branches[j])!r} can both match at the same place"
                )
                return problems
    return problems


def lint_regex(pattern: str) -> list[str]:
    """Problems that can make ``pattern`` (a plain Python regex, tags already expanded)
    backtrack catastrophically; an empty list if none.  A pattern that does not parse is
    reported as one problem."""
    try:
        tree = P.parse(pattern)
    except re.error as exc:
        return [f"does not compile: {exc}"]
    problems: list[str] = []
    for body, unbounded in _loops(tree):
        if not unbounded:
            continue
        for problem in _nested_problems(body) + _branch_problems(body):
            if problem not in problems:
                problems.append(problem)
    return problems


def certain_problems(pattern: str) -> list[str]:
    """The problems of :func:`lint_regex` that are certain to be exponential (a loop that
    repeats nothing but another unbounded loop); an empty list if none or if ``pattern``
    does not parse (compiling reports that)."""
    return list(_certain(pattern))


# Checked at every load and at each runtime ``set`` of a regex, for every regex of the jail's
# filter: remembered, so a set parses only the regex it adds.
@lru_cache(maxsize=4096)
def _certain(pattern: str) -> tuple[str, ...]:
    try:
        tree = P.parse(pattern)
    except re.error:
        return ()
    problems: list[str] = []
    for body, unbounded in _loops(tree):
        if unbounded:
            for problem in _only_loop_problem(body):
                if problem not in problems:
                    problems.append(problem)
    return tuple(problems)
