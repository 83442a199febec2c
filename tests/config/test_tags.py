"""<tag> substitution (fail2ban's recursive tag replacement)."""

from __future__ import annotations

import pytest

from warden.config.tags import TagLoopError, substitute_tags

CASES = [
    ({"a": "3", "b": "<a>_3"}, {"a": "3", "b": "3_3"}),
    ({"b": "<a>_3", "a": "3"}, {"a": "3", "b": "3_3"}),
    ({"a": "<HOST> <F-USER>x</F-USER>"}, {"a": "<HOST> <F-USER>x</F-USER>"}),
    (
        {"mode": "normal", "mdre-normal": "N", "f": "<mdre-<mode>>"},
        {"mode": "normal", "mdre-normal": "N", "f": "N"},
    ),
    ({"a": "<b><b>", "b": "<c>", "c": "z"}, {"a": "zz", "b": "z", "c": "z"}),
]


@pytest.mark.parametrize(("options", "expected"), CASES)
def test_substitution(options: dict[str, str], expected: dict[str, str]) -> None:
    assert substitute_tags(options) == expected


def test_fallback_resolves_qualified_tags() -> None:
    table = {"lt_file/__prefix_line": "PREFIX", "known/failregex": "OLD"}
    got = substitute_tags(
        {"logtype": "file", "p": "<lt_<logtype>/__prefix_line>", "f": "<known/failregex> new"},
        fallback=table.get,
    )
    assert got["p"] == "PREFIX"
    assert got["f"] == "OLD new"


def test_ignore_and_condition() -> None:
    got = substitute_tags(
        {
            "x": "<ip> <matches>",
            "ip": "1.2.3.4",
            "fam": "<cmd>",
            "cmd": "v4",
            "cmd?family=inet6": "v6",
        },
        ignore={"matches"},
        condition="family=inet6",
    )
    assert got["x"] == "1.2.3.4 <matches>"
    assert got["fam"] == "v6"


@pytest.mark.parametrize(
    "options", [{"a": "<a>"}, {"a": "<b>", "b": "<a>"}, {"a": "x<b>", "b": "<c>", "c": "<a>"}]
)
def test_loops_are_errors(options: dict[str, str]) -> None:
    with pytest.raises(TagLoopError, match="refers to itself"):
        substitute_tags(options)


def test_exponential_growth_is_an_error() -> None:
    options = {f"t{i}": f"<t{i + 1}><t{i + 1}>" for i in range(30)}
    options["t30"] = "x"
    with pytest.raises(TagLoopError, match="longer than"):
        substitute_tags(options)
