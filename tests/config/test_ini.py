"""parse_ini: fail2ban's INI dialect (configparser with ';' inline comments), with line numbers."""

from __future__ import annotations

import configparser

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from warden.config.ini import parse_ini
from warden.errors import ConfigError

CASES = [
    # (text, section, option, expected value, expected line)
    ("[s]\na = 1\n", "s", "a", "1", 2),
    ("[s]\nA = 1\n", "s", "a", "1", 2),
    ("[s]\na: 1\n", "s", "a", "1", 2),
    ("[s]\na=1=2\n", "s", "a", "1=2", 2),
    ("[s]\na = v ; comment\n", "s", "a", "v", 2),
    ("[s]\na = v;not a comment\n", "s", "a", "v;not a comment", 2),
    ("[s]\na = v # not a comment\n", "s", "a", "v # not a comment", 2),
    ("[s]\n# c\n; c\na = x\n", "s", "a", "x", 4),
    ("[s]\na = first\n  second\n\tthird\n", "s", "a", "first\nsecond\nthird", 2),
    ("[s]\na =\n  x\n  y\n", "s", "a", "\nx\ny", 2),
    ("[s]\na = x\n\n  y\n", "s", "a", "x\n\ny", 2),
    ("[s]\na = x\n  # comment inside\n  y\n", "s", "a", "x\ny", 2),
    ("[s]\na = x\n\n\n", "s", "a", "x", 2),
    ("[s]\n  a = indented key\n", "s", "a", "indented key", 2),
    ("[s] trailing\na = 1\n", "s", "a", "1", 2),
    ("[s]\na = x ;c\n  y ; c2\n", "s", "a", "x\ny", 2),
    ("[DEFAULT]\nd = 1\n", "DEFAULT", "d", "1", 2),
    ("[s?family=inet6]\na = 1\n", "s?family=inet6", "a", "1", 2),
    ("[s]\na = <tag> %(x)s\n", "s", "a", "<tag> %(x)s", 2),
]


@pytest.mark.parametrize(("text", "section", "option", "value", "line"), CASES)
def test_values_and_lines(text: str, section: str, option: str, value: str, line: int) -> None:
    ini = parse_ini(text.splitlines(keepends=True), "f.conf")
    options = ini.defaults if section == "DEFAULT" else ini.sections[section]
    assert options[option].text == value
    assert options[option].origin.file == "f.conf"
    assert options[option].origin.line == line


ERRORS = [
    ("a = 1\n", 1, "outside of any section"),
    ("[s]\nno delimiter here\n", 2, "cannot parse line"),
    ("[s]\n= value\n", 2, "cannot parse line"),
    ("[s]\na = 1\na = 2\n", 3, "repeated"),
    ("[s]\na = 1\n[s]\n", 3, "section [s] repeated"),
]


@pytest.mark.parametrize(("text", "line", "message"), ERRORS)
def test_errors_name_file_and_line(text: str, line: int, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_ini(text.splitlines(keepends=True), "/etc/x/jail.local")
    assert info.value.file == "/etc/x/jail.local"
    assert info.value.line == line
    assert message in str(info.value)
    assert str(info.value).startswith(f"/etc/x/jail.local:{line}: ")


def test_section_order_and_case() -> None:
    ini = parse_ini(["[b]\n", "x=1\n", "[a]\n", "[B]\n", "y=2\n"], "f")
    assert list(ini.sections) == ["b", "a", "B"]


def _reference(text: str) -> dict[str, dict[str, str]] | None:
    parser = configparser.ConfigParser(inline_comment_prefixes=";", interpolation=None)
    try:
        parser.read_string(text)
    except configparser.Error:
        return None
    out = {name: dict(parser.items(name, raw=True)) for name in parser.sections()}
    out["DEFAULT"] = dict(parser.defaults())
    return out


_LINE = st.one_of(
    st.sampled_from(
        ["[s]", "[t]", "[DEFAULT]", "", "  ", "# c", "; c", "  ; c", "\tx", "  y ; z", "k"]
    ),
    st.builds(
        lambda indent, key, sep, value: f"{indent}{key}{sep}{value}",
        st.sampled_from(["", " ", "  ", "\t"]),
        st.sampled_from(["a", "b", "C", "d e"]),
        st.sampled_from(["=", " = ", ":", " : "]),
        st.sampled_from(["", "v", "v ;c", "v;c", "%(x)s", "a=b", " w # x"]),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_LINE, max_size=12))
def test_agrees_with_configparser(lines: list[str]) -> None:
    """fail2ban reads each file with configparser; our parser must agree on every input."""
    text = "\n".join(lines) + "\n"
    expected = _reference(text)
    try:
        ini = parse_ini(text.splitlines(keepends=True), "f")
    except ConfigError:
        assert expected is None, text
        return
    assert expected is not None, text
    got = {name: {k: v.text for k, v in opts.items()} for name, opts in ini.sections.items()}
    defaults = {k: v.text for k, v in ini.defaults.items()}
    for name, options in got.items():
        assert {**defaults, **options} == expected[name], text
    assert defaults == expected["DEFAULT"], text


def test_line_numbers_of_each_value_line() -> None:
    text = "[s]\nk = first\n  # comment\n\n  third\n\n\n[t]\n"
    raw = parse_ini(text.splitlines(keepends=True), "f").sections["s"]["k"]
    assert raw.text == "first\n\nthird"
    assert raw.lines == (2, 4, 5)
