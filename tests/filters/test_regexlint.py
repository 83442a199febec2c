"""The backtracking linter (warden.core.regexlint): shapes it must flag and shapes it must pass."""

from __future__ import annotations

import pytest

from warden.core.regexlint import lint_regex

CATASTROPHIC = [
    r"(a+)+$",
    r"^(\w+\s?)*$",
    r"(.*a)*",
    r"(?:x\w+)*",
    r"^(\d+)*$",
    r"(\s*,\s*)*x",
    r"(?:[a-z]+\.?)+@",
    r"(?:a*)*b",
    r"(?:[^\[]+ )*\[",  # fail2ban 1.0.2 domino-smtp
    r'"[^"]+(?:"+[^"]*(?="))*?"',  # fail2ban 1.0.2 exim "SMTP protocol error"
    r"(a)(?(1)b+|c+)*",
    r"x{0,1000}(?:y+)*",
    r"(?:\w+|\d)+!",
    r"(?=(a+)+)b",
    r"(?:\w\w|\d)*x",  # two alternatives for "11"
    r"(?:(?:a|bc)+)*d",
    r"(?:a++|a)*b",  # the possessive part cannot backtrack, its sibling can
    r"(?:(?>a)|a)*b",
    r"(a)?(?:(?(1)a|b)|a)*c",
    r"(?:x?(?:y|z)?[a-c]+)*!",
    r"(?:\s+(?=\w)|\s)*\n",
    r"(a)?(?:(?(1)b)c+)*",  # without group 1 the body is just c+
]

SAFE = [
    r"(?: \w+=\d+)*",
    r"(?:\.\d+)*",
    r"(?:ab|ac)*",
    r"(?:(?! port \d+ ssh\d).)*",
    r"(?:[^=]|=\d)*? \(",
    r'(?:\[[^\]"]*(?:"[^"]*"[^\]"]*)*\])+',
    r'(?:, \w+: "[^"]*")*\s*$',
    r"(?:[0-9a-f]{1,4}:(?::)?|::){1,7}",
    r"(?:, arg\d+=\S*)*",
    r"(?:.*\n)*?x",
    r"(?>(a+)+)",
    r"(?:a++)+",
    r"(?: \w+=\d+(?:/\d+)?)*",
    r"^\s*(?:\S+\s+)??sshd(?:\[\d+\])?:\s+",
    r"(a)(?(1)b|c)+",
    r"(?:\S+\s)*x",
    r"(x)\1*",
    r"(?:\d{1,3}\.){3}\d{1,3}",
    r"[-\w.^]*\w",
    r"(?:(?P<a>b)|c)*d",
    r"(?:a|\d)(?:x\d+)*",
    r"(x)(?:\1a+)*",
    r"(?:(?>a+)b)*",
    r"(?:a++b)*",
    r"(?:(?<=x)y+;)*",
    r"(?:\bab+,)*",
    r"(?:-?\d+(?:\.\d+)?,)*",
    r"(?:[^\W\d]+=\d+;)*",
    r"(?:(?:ab|cd)?e+f)*",
    r"(?:(?:ab|cd)e|f)*",
    r"(a)?(?:(?(1)b|c)d|e)*",
    r"(?:ab|ac|d)*",
    r"(?:(?>b)a+;)*",
    r"(?:(?:\d)?\b)+x",
    r"(q)?(?:(?:(?>a)|b)c|(?:)d|(?(1)e)f)*",
    r"(?:x(?:y*)?)*;",
]


@pytest.mark.parametrize("pattern", CATASTROPHIC)
def test_flags_catastrophic_shapes(pattern: str) -> None:
    problems = lint_regex(pattern)
    assert problems, pattern
    assert all("nested quantifier" in p or "overlapping alternatives" in p for p in problems)


@pytest.mark.parametrize("pattern", SAFE)
def test_passes_linear_shapes(pattern: str) -> None:
    assert lint_regex(pattern) == []


def test_backreferences_are_assumed_to_match_anything() -> None:
    # the linter cannot know what group 1 holds: a reference may start like any alternative
    assert lint_regex(r"(x)(?:\1a|y)*")
    assert not lint_regex(r"(x)(?:\1a)*")


def test_each_problem_is_reported_once() -> None:
    assert len(lint_regex(r"(a+)+x(a+)+")) == 1


def test_a_broken_regex_is_one_problem() -> None:
    problems = lint_regex("(unclosed")
    assert len(problems) == 1 and problems[0].startswith("does not compile")


def test_messages_name_the_loop() -> None:
    [problem] = lint_regex(r"^(\w+\s?)*$")
    assert "loop" in problem and "[..]+" in problem
