"""Literal screens must never reject a text their regex matches (property tests)."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from warden.core.failregex import compile_regex
from warden.core.prefilter import first_chars, required_clauses, screen_for

# Realistic filter regexes (written for these tests) plus constructs that stress the walker.
REGEXES = [
    r"^Failed (?:password|publickey) for (?:invalid user )?<F-USER>\S+</F-USER> from <HOST>",
    r"^<F-NOFAIL>pam_[a-z]+\(sshd:auth\):\s+authentication failure;</F-NOFAIL>.* rhost=<HOST>",
    r"^(?:Connection (?:closed|reset)|Disconnected) (?:by|from) <HOST>(?: port \d+)?$",
    r"^[iI](?:llegal|nvalid) user .*? from <HOST>",
    r"^User <F-USER>\S+|.*?</F-USER> from <HOST> not allowed because (?:not )?listed",
    r"client <ADDR>:\d+.*(?:denied|forbidden)",
    r"(?i)login failed for <F-USER>\w+</F-USER> from <HOST>",
    r"(?:(?i)auth) error from <HOST>",
    r"(?P<a>x)?(?(a)yes|no) from <HOST>",
    r"ab(?=cd)cd+e{2,3}f?g*(?:hi)+ <HOST>",
    r"(?<=\[)<HOST>(?=\]) blocked",
    r"(?!bad)\w+ <HOST> ok",
    r"\bword\b.*<HOST>$",
    r"(?:a|b|)c <HOST>",
    r"K\u212a <HOST>",
    r"(?i)stra\u00dfe <HOST>",
    r"(?s)start.*end <HOST>",
    r"^(?:[^:]+: )?rejected <HOST>\n",
    r"[A-C]x<HOST>",
    r"^\[<HOST>\]",
    r"(?x) spaced \  out <HOST>",
]
PATTERNS = [compile_regex(r).pattern for r in REGEXES]
# hypothesis.from_regex cannot satisfy a lookahead; those are covered by the mixed-text test.
GENERATABLE = [(r, p) for r, p in zip(REGEXES, PATTERNS, strict=True) if "(?=" not in r]


def _fragments(pattern: re.Pattern[str]) -> list[str]:
    pieces = [lit for clause in required_clauses(pattern) for lit in clause]
    return [*pieces, "192.0.2.1", "2001:db8::1", " ", "\n", "x", "K", "k", "ß", "SS", "[", "]"]


@pytest.mark.parametrize("pattern", [p for _, p in GENERATABLE], ids=[r for r, _ in GENERATABLE])
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_screen_admits_generated_matches(pattern: re.Pattern[str], data: st.DataObject) -> None:
    text = data.draw(st.from_regex(pattern))
    if pattern.search(text) is not None:  # hypothesis approximates some constructs
        assert screen_for(pattern).admits(text)


@pytest.mark.parametrize("pattern", PATTERNS, ids=REGEXES)
@settings(max_examples=120, deadline=None)
@given(data=st.data())
def test_screen_is_exact_on_mixed_text(pattern: re.Pattern[str], data: st.DataObject) -> None:
    pieces = _fragments(pattern)
    parts = data.draw(st.lists(st.one_of(st.sampled_from(pieces), st.text(max_size=3)),
                               max_size=12))
    text = "".join(parts)
    if pattern.search(text) is not None:
        assert screen_for(pattern).admits(text)


@pytest.mark.parametrize(
    ("regex", "expected"),
    [
        ("^abc", frozenset("a")),
        ("\\Aabc", frozenset("a")),
        ("^[aA]x", frozenset("aA")),
        ("^(?:foo|bar)", frozenset("fb")),
        ("^(?:foo|)bar", None),
        ("^x?y", None),
        ("^(?=a)a", frozenset("a")),
        ("^a|^b", frozenset("ab")),
        ("^a|b", None),
        ("abc", None),
        ("^\\d", None),
        ("(?i)^a", None),
        ("(?i)^1", frozenset("1")),
        ("(?m)^a", None),
        ("^(?:ab)+", frozenset("a")),
    ],
)
def test_first_chars(regex: str, expected: frozenset[str] | None) -> None:
    assert first_chars(re.compile(regex)) == expected


def test_clauses_of_alternations_and_repeats() -> None:
    clauses = required_clauses(re.compile(r"ab(?:cd|ef)g{1,2}(?:hi)?(?:jk)+"))
    assert ("ab",) in clauses
    assert ("cd", "ef") in clauses
    assert ("jk",) in clauses
    assert all("hi" not in c for c in clauses)


def test_case_insensitive_letters_are_not_literals() -> None:
    clauses = required_clauses(re.compile(r"(?i)ab: cd"))
    assert clauses == [(": ",)]


def test_trivial_screen_admits_everything() -> None:
    screen = screen_for(re.compile(r"\w+"))
    assert screen.trivial
    assert screen.admits("")
    assert "Screen(" in repr(screen)
